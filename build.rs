//! The berth binary starts at `berth_entry` (src/entry.rs), which may
//! re-execute it from a read-only copy before glibc's `_start` runs.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bin=berth=-Wl,--entry=berth_entry");
}
