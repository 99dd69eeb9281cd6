# shellcheck shell=bash
# Sourced by profile.sh and hot-symbols.sh, which run berth under valgrind:
# builds an unstripped berth (target/profile), re-runs the calling script
# in a private mount namespace, and there gives it
#   $work   a scratch directory, removed on exit with every container in it
#   $root   the state directory (--root)
#   $B      berth, bound read-only onto itself: berth then skips its
#           CVE-2019-5736 step (mapping itself from a read-only mount,
#           which does not succeed under valgrind: berth would re-execute,
#           and valgrind cannot follow that)
#   $work/bundle  a busybox bundle running /bin/true, without rlimits
#           (valgrind keeps RLIMIT_NOFILE for itself)
# Needs a valgrind that knows openat2 (Debian 13's 3.24 does; Debian 12's
# 3.19 stops there): VALGRIND names it, and VALGRIND_LIB its tools when
# it is unpacked from its package rather than installed.
VALGRIND=${VALGRIND:-valgrind}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${BERTH_VALGRIND_NS:-}" ]; then
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR="$here/target/profile" \
    RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release --target x86_64-unknown-linux-gnu --bin berth
  exec env BERTH_VALGRIND_NS=1 unshare -m --propagation private "$0" "$@"
fi
work=$(mktemp -d "/tmp/berth-$(basename "$0" .sh).XXXXXX")
root=$work/state
B=$work/berth
cleanup() {
  for id in $("$B" --root "$root" list -q 2>/dev/null); do "$B" --root "$root" delete -f "$id" >/dev/null 2>&1 || true; done
  umount "$B" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cp "$here/target/profile/x86_64-unknown-linux-gnu/release/berth" "$B"
mount --bind "$B" "$B" && mount -o remount,bind,ro "$B"
BERTH=$B "$here/scripts/bundle.sh" "$work/bundle" /bin/true >/dev/null
jq 'del(.process.rlimits)' "$work/bundle/config.json" >"$work/c" && mv "$work/c" "$work/bundle/config.json"
