#!/usr/bin/env bash
# make profile: instruction counts (callgrind) of berth's hot paths, the
# numbers that stay put on a noisy machine where times do not.
#   run /bin/true  — the parent, and init up to its execve (dumped there)
#   exec /bin/true — the parent, and the child up to its execve
#   list           — with 100 created containers
#   --version      — what every exec of berth costs before main's work
# berth skips its CVE-2019-5736 step here (scripts/valgrind-setup.sh).
set -euo pipefail
N=${N:-100}
. "$(dirname "$0")/valgrind-setup.sh"
# init writes its profile inside the container: a writable rootfs with
# the same path as the host's output directory.
out=$work/out
mkdir -p "$out" "$work/bundle/rootfs$out"
jq '.root.readonly = false' "$work/bundle/config.json" >"$work/c" && mv "$work/c" "$work/bundle/config.json"
cg() {  # cg NAME ARGS...: callgrind of berth ARGS, every process dumped before its execve
  rm -f "$out"/* "$work"/*/rootfs"$out"/*
  "$VALGRIND" --tool=callgrind --trace-children=no --dump-before=execve --callgrind-out-file="$out/$1.%p" \
    "$B" --root "$root" "${@:2}" >/dev/null 2>"$work/vg.log" </dev/null ||
    { echo "profile: berth ${*:2} failed under valgrind:" >&2; grep -v '^==' "$work/vg.log" >&2 || tail "$work/vg.log" >&2; exit 1; }
}
total() { grep -h '^summary:' "$@" | awk '{ s += $2 } END { print s + 0 }'; }
# The child's profile starts with the parent's counts up to the clone:
# its own part is what ran under the function that child starts in.
own() { callgrind_annotate --inclusive=yes "$1" 2>/dev/null | awk -v f="$2" '!n && $0 ~ f" \\[" { gsub(",", "", $1); print $1; n = 1 }'; }
row() { printf '| %-34s | %12s |\n' "$1" "$2"; }
echo "| berth (callgrind, instructions)    |        count |"
echo "|---|---|"
child() {  # child NAME: the container-side process's own count (its profile is inside the rootfs)
  local f
  f=$(compgen -G "$work/*/rootfs$out/$1.*.1" | head -1) || true
  [ -n "$f" ] || { echo "profile: no profile of $1's child" >&2; exit 1; }
  own "$f" 'berth::spawn::sync::child_main'
}
cg run run --bundle "$work/bundle" p-run
parent=$(total "$out"/run.[0-9]*); init=$(child run)
row "run: berth (parent)" "$parent"
row "run: init up to its execve" "$init"
row "run: total" "$((parent + init))"
jq '.process.args = ["sleep", "100000"]' "$work/bundle/config.json" >"$work/c"
cp -r "$work/bundle" "$work/sleeper" && mv "$work/c" "$work/sleeper/config.json"  # rootfs$out too
"$B" --root "$root" run -d --bundle "$work/sleeper" p-x </dev/null >/dev/null 2>&1
cg exec exec p-x /bin/true
parent=$(total "$out"/exec.[0-9]*); proc=$(child exec)
row "exec: berth (parent)" "$parent"
row "exec: the process up to its execve" "$proc"
row "exec: total" "$((parent + proc))"
for i in $(seq 1 "$N"); do "$B" --root "$root" create --bundle "$work/sleeper" "p-s$i" </dev/null >/dev/null 2>&1; done
cg list list
row "list ($((N + 1)) containers)" "$(total "$out"/list.[0-9]*)"
cg version --version
row "--version (one exec's start)" "$(total "$out"/version.[0-9]*)"
