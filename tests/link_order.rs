//! scripts/link-order.sh: the linker's symbol order made from the
//! hash-free hot list and the last link's map.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn order(hot: &str, map: &str) -> Vec<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("berth-link-order-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (h, m) = (dir.join("hot.txt"), dir.join("berth.map"));
    std::fs::File::create(&h).unwrap().write_all(hot.as_bytes()).unwrap();
    std::fs::File::create(&m).unwrap().write_all(map.as_bytes()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/link-order.sh");
    let out = Command::new("bash").arg(script).arg(&m).arg(&h).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect()
}

/// A map line for one symbol (lld's layout: VMA LMA Size Align Symbol).
fn sym(name: &str) -> String {
    format!("           81440            81440       10     1                 {name}\n")
}

#[test]
fn hot_names_get_their_hashes_back_in_the_hot_lists_order() {
    let map = [
        "             VMA              LMA     Size Align Out     In      Symbol\n".to_string(),
        "           81440            81440     1000    64 .text\n".into(),
        "           81440            81440       10     1         x.o:(.text._ZN5berth4cold17h00000000000000aaE)\n"
            .into(),
        sym("_ZN5berth4cold17h00000000000000aaE"),
        sym("_ZN5berth4main17h0123456789abcdefE"),
        // Two instantiations of one generic: both hot.
        sym("_ZN4core3ptr13drop_in_place17h1111111111111111E"),
        sym("_ZN4core3ptr13drop_in_place17h2222222222222222E"),
        sym("_start"),
        sym("__memmove_avx_unaligned_erms"),
        sym("__memmove_evex_unaligned_erms"),
        sym("__memmove_sse2_unaligned"),
        sym("__memset_evex_unaligned"),
    ]
    .concat();
    let hot = "# comment\n_start\n_ZN5berth4main\n_ZN4core3ptr13drop_in_place\n__memmove_avx_unaligned_erms\n_ZN5berth4gone\n";
    assert_eq!(
        order(hot, &map),
        [
            "_start",
            "_ZN5berth4main17h0123456789abcdefE",
            "_ZN4core3ptr13drop_in_place17h1111111111111111E",
            "_ZN4core3ptr13drop_in_place17h2222222222222222E",
            // glibc's variants of a hot string function come along: the
            // host's CPU may pick another one than valgrind's.
            "__memmove_avx_unaligned_erms",
            "__memmove_evex_unaligned_erms",
            "__memmove_sse2_unaligned",
        ]
    );
}

#[test]
fn a_local_copy_matches_whatever_lto_numbered_it() {
    let map =
        [sym("_RNvXs1Y_NtCs1_3std4path2eq.1156"), sym("_ZN5berth3run17h0123456789abcdefE.77"), sym("_start")].concat();
    let hot = "_RNvXs1Y_NtCs1_3std4path2eq.1125\n_ZN5berth3run\n";
    assert_eq!(order(hot, &map), ["_RNvXs1Y_NtCs1_3std4path2eq.1156", "_ZN5berth3run17h0123456789abcdefE.77"]);
}

#[test]
fn an_empty_list_orders_nothing() {
    assert!(order("", &sym("_start")).is_empty());
}
