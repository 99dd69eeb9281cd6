#!/usr/bin/env bash
# hot-symbols.sh: writes scripts/hot-symbols.txt, the functions (and
# read-only data) that berth's everyday commands execute, in the order
# they are first touched. `make build` hands that list to the linker
# (scripts/link-order.sh) so the hot code sits together at the front of
# the text: the kernel maps a binary's pages around each fault (64 KiB
# at a time), so hot code scattered over the whole text makes every page
# of it resident; gathered, only the hot part is.
#
# Each command runs under valgrind's lackey, which logs every instruction
# and load address; those are mapped to the unstripped binary's symbols.
# The list holds mangled names with their hash removed, so it survives
# rebuilds; link-order.sh puts the hashes back from the linker's map.
# Needs valgrind as scripts/valgrind-setup.sh says, and perf for the
# native half. Run it again when the hot paths change.
set -euo pipefail
. "$(dirname "$0")/valgrind-setup.sh"
cp -r "$work/bundle" "$work/sleeper"
jq '.process.args = ["sleep", "100000"]' "$work/bundle/config.json" >"$work/sleeper/config.json"
mkdir -p "$work/trace"
n=0
trace() {  # trace LABEL BINARY ARGS...: berth ARGS under lackey; a process it forks logs beside it
  n=$((n + 1))
  "$VALGRIND" --tool=lackey --trace-mem=yes --log-file="$work/trace/$(printf %02d $n)-$1.%p" \
    "$2" --root "$root" "${@:3}" </dev/null >/dev/null 2>&1
}
must() { trace "$@" || { echo "hot-symbols: berth ${*:3} failed under valgrind" >&2; exit 1; }; }
# Outside valgrind, create, run and exec move berth's image onto a
# read-only mount (CVE-2019-5736). Under valgrind that falls back to a
# re-execution, which valgrind cannot follow: the mark that a re-executed
# berth finds stands for it here. The way there is traced once from a
# writable copy, up to the execveat (what runs after is cut); what the
# native path touches besides, hot-faults.sh adds.
must version "$B" --version  # one process: its first instruction is the entry point
cp "$B" "$work/unsealed"
trace unsealed "$work/unsealed" create --bundle "$work/sleeper" h-u || true
export _BERTH_SEALED_EXE=1
must run "$B" run --bundle "$work/bundle" h-run
must create "$B" create --bundle "$work/sleeper" h-c
must exec "$B" exec h-c /bin/true
unset _BERTH_SEALED_EXE
for c in "state h-c" "start h-c" list "pause h-c" "resume h-c" "kill h-c KILL" "delete -f h-c"; do
  # shellcheck disable=SC2086 # the command's words
  must ${c%% *} "$B" $c
done
# Addresses to symbols: the static-pie's load address is where
# `--version` (one process, trace 01) began, less the entry point.
# (A symbol without a size — crt's frame_dummy… — has no size column.)
nm --defined-only -S "$B" | awk 'NF == 4 && $3 ~ /^[tTwWrR]$/ { print $1, $2, $4 }
  NF == 3 && $2 ~ /^[tTwWrR]$/ { print $1, 0, $3 }' | sort >"$work/syms"
entry=$(readelf -h "$B" | awk '/Entry point/ { print $4 }')
first=$(awk '/^ ?I / { split($2, a, ","); print a[1]; exit }' "$work"/trace/01-version.*)
python3 - "$work/syms" "$entry" "$first" "$work"/trace/* >"$here/scripts/hot-symbols.txt" <<'EOF'
import bisect, re, sys
syms = []
for line in open(sys.argv[1]):
    a, s, n = line.split()
    syms.append((int(a, 16), int(s, 16), n))
syms.sort()
# crt's symbols (frame_dummy…) have no size: they reach the next symbol.
syms = [(a, s or ((syms[k + 1][0] - a) if k + 1 < len(syms) else 1), n) for k, (a, s, n) in enumerate(syms)]
starts = [s[0] for s in syms]
base = int(sys.argv[3], 16) - int(sys.argv[2], 16)  # the first instruction is the entry point
seen, order = set(), []
for path in sys.argv[4:]:
    # The writable copy's trace ends at the re-exec: the first syscall()
    # after setenv() set the mark.
    cut = "unsealed" in path and "armed"
    for line in open(path):
        kind = line[:2].strip()
        if kind not in ("I", "L", "M"):
            continue
        addr = int(line[3:].split(",")[0], 16) - base
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0 or not syms[i][0] <= addr < syms[i][0] + syms[i][1]:
            continue
        name = syms[i][2]
        if cut == "armed" and name == "setenv":
            cut = "marked"
        elif cut == "marked" and name == "syscall":
            cut = "in execveat"
        elif cut == "in execveat" and name != "syscall":
            break
        if i in seen:
            continue
        seen.add(i)
        order.append(re.sub(r"17h[0-9a-f]{16}E$", "", syms[i][2]))
done = set()
print("# written by scripts/hot-symbols.sh: hash-free symbols, first touched first")
for name in order:
    if name not in done:
        done.add(name)
        print(name)
EOF
echo "hot-symbols: $(grep -vc '^#' "$here/scripts/hot-symbols.txt") symbols under valgrind"
# What valgrind's CPU and system calls steered around, the host's own
# run shows: its page faults outside the hot part.
"$here/scripts/hot-faults.sh"
