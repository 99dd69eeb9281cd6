#!/usr/bin/env bash
# build.sh: berth's release binary (`make build`), one static glibc
# static-pie, its hot code gathered at the front of the text. The linker
# orders sections by target/berth.order (from scripts/hot-symbols.txt
# and the previous link's map, scripts/link-order.sh); when the order
# that this link's map gives differs from the one it used, the binary is
# linked once more. Same code either way: only the layout changes, and
# with it how much of the binary a run keeps resident.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target=x86_64-unknown-linux-gnu
order=$here/target/berth.order
map=$here/target/berth.map
mkdir -p "$here/target"
[ -f "$order" ] || : >"$order"
# The order is lld's (--symbol-ordering-file): rustc links with it here
# by default; with another linker the text keeps the default order.
export RUSTFLAGS="-C target-feature=+crt-static"
probe=$(mktemp -d)
echo 'fn main() {}' >"$probe/p.rs"
# shellcheck disable=SC2086 # the flags' words
link=$(rustc --target "$target" $RUSTFLAGS --print link-args -o "$probe/p" "$probe/p.rs" 2>/dev/null || true)
# The static-pie relocates itself at every start: ~3,700 relative
# relocations, 88 KB of .rela.dyn read at each. Packed (DT_RELR) they are
# 1 KB, and glibc's start walks a bitmap (exec ~25 µs faster). glibc reads
# DT_RELR from 2.36 on; an older one would leave the image unrelocated, so
# a probe linked so must run first, and find its pointers relocated.
relr="-C link-arg=-Wl,-z,pack-relative-relocs"
cat >"$probe/relr.rs" <<'RS'
static WORDS: [&str; 2] = ["packed", "relocations"];
fn main() {
    let w = std::hint::black_box(&WORDS);
    std::process::exit(if w[1].len() == 11 && w[1].starts_with("reloc") { 0 } else { 1 });
}
RS
# shellcheck disable=SC2086 # the flags' words
if rustc --target "$target" $RUSTFLAGS $relr -O -o "$probe/relr" "$probe/relr.rs" 2>/dev/null && "$probe/relr"; then
  RUSTFLAGS+=" $relr"
else
  echo "build.sh: packed relocations do not link or run here: left out" >&2
fi
if [[ $link == *-fuse-ld=lld* ]]; then
  RUSTFLAGS+=" -C link-arg=-Wl,--symbol-ordering-file=$order -C link-arg=-Wl,--no-warn-symbol-ordering"
  RUSTFLAGS+=" -C link-arg=-Wl,-Map=$map -C link-arg=-Wl,--no-demangle"
else
  echo "build.sh: the linker is not lld: the hot code is not gathered" >&2
  : >"$map"
fi
rm -rf "$probe"
cd "$here"
cargo build --release --target "$target" --bin berth
[ -s "$map" ] || exit 0
"$here/scripts/link-order.sh" "$map" "$here/scripts/hot-symbols.txt" >"$order.new"
if cmp -s "$order.new" "$order"; then
  rm "$order.new"
else
  mv "$order.new" "$order"
  touch "$here/src/main.rs"  # cargo does not watch the order file: relink
  cargo build --release --target "$target" --bin berth
fi
