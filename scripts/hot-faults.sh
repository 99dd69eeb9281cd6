#!/usr/bin/env bash
# hot-faults.sh: the native half of scripts/hot-symbols.sh. valgrind's
# trace misses code the host runs (glibc's string functions for this CPU,
# system calls valgrind lacks), so: build with the list, run the everyday
# commands under `perf record -e page-faults`, and add every symbol that
# takes a fault in the binary's text outside the listed ones. Each fault
# maps the 64 KiB around it, so one round finds one symbol per stray
# window: repeat until a round finds none (at most ROUNDS).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
list=$here/scripts/hot-symbols.txt
map=$here/target/berth.map
B=$here/target/x86_64-unknown-linux-gnu/release/berth
command -v perf >/dev/null || { echo "hot-faults: perf is missing: the list is valgrind's alone" >&2; exit 0; }
work=$(mktemp -d /tmp/berth-faults.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$here/scripts/build.sh" >/dev/null 2>&1
BERTH=$B "$here/scripts/bundle.sh" "$work/bundle" /bin/true >/dev/null
cp -r "$work/bundle" "$work/sleeper"
jq '.process.args = ["sleep", "100000"]' "$work/bundle/config.json" >"$work/sleeper/config.json"
cat >"$work/commands" <<EOS
set -e
b() { "$B" --root "$work/state" "\$@" </dev/null >/dev/null; }
b run --bundle "$work/bundle" f-run
b create --bundle "$work/sleeper" f-c
b exec f-c /bin/true
b state f-c; b start f-c; b list; b pause f-c; b resume f-c; b kill f-c KILL; b delete -f f-c
EOS
# Faults to symbols: a fault in a mapping of berth's text (the binary, or
# "/" for the read-only mount it maps itself from), not yet in the order.
cat >"$work/faults.py" <<'EOF'
import bisect, re, sys
mapf, orderf, binary = sys.argv[1:4]
delta = int(sys.argv[4], 16) - int(sys.argv[5], 16)
syms = []
for line in open(mapf):
    p = line.split()
    if len(p) == 5 and ":(" not in p[4]:  # output sections too: .iplt is not its last symbol's
        syms.append((int(p[0], 16), p[4]))
syms.sort()
starts = [a for a, _ in syms]
listed = {re.sub(r"17h[0-9a-f]{16}E$", "", l.strip()) for l in open(orderf)}
texts, found = [], []
for line in sys.stdin:
    if "PERF_RECORD_MMAP" in line:
        m = re.search(r"\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+|0) .*r-xp (\S+)", line)
        if m and m.group(4) in (binary, "/"):
            texts.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)))
        continue
    p = line.split()
    try:
        addr = int(p[2], 16)
    except (IndexError, ValueError):
        continue
    for start, length, off in reversed(texts):
        if start <= addr < start + length:
            i = bisect.bisect_right(starts, addr - start + off + delta) - 1
            key = re.sub(r"17h[0-9a-f]{16}E$", "", syms[i][1]) if i >= 0 else ""
            if key and not key.startswith(".") and key not in listed and key not in found:
                found.append(key)
            break
print("\n".join(found))
EOF
for round in $(seq "${ROUNDS:-8}"); do
  perf record -q -e page-faults -c 1 -d -o "$work/pf.data" -- bash "$work/commands" >/dev/null 2>&1
  # The text segment's distance between address and file offset.
  delta=$(readelf -lW "$B" | awk '$1 == "LOAD" && / R E / { print $3, $2; exit }')
  # shellcheck disable=SC2086 # two words
  new=$(perf script -i "$work/pf.data" --show-mmap-events -F comm,pid,ip,addr 2>/dev/null |
    python3 "$work/faults.py" "$map" "$here/target/berth.order" "$B" $delta)
  [ -n "$new" ] || { echo "hot-faults: round $round: no stray faults"; exit 0; }
  echo "hot-faults: round $round adds: $(echo "$new" | tr '\n' ' ' | cut -c1-300)"
  echo "$new" >>"$list"
  "$here/scripts/build.sh" >/dev/null 2>&1
done
