//! The berth binary starts at `berth_entry` (src/entry.rs), which may
//! re-execute it from a read-only copy before glibc's `_start` runs.
/// The entry is x86-64 assembly: other targets start at `_start` and leave
/// the re-execution to `exeseal::ensure`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,--entry=berth_entry");
    }
}
