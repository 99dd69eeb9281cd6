#!/usr/bin/env bash
# make bench: hyperfine over `run /bin/true` and create+start+wait+delete,
# berth beside runc and crun (when installed) on the same bundle, with ratios to crun.
set -euo pipefail
: "${BERTH:?set BERTH to the berth binary}"
command -v hyperfine >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null; }
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$(dirname "$0")/bundle.sh" "$work/bundle" /bin/true
# Peers refuse what they cannot do here (crun: cgroup v1 hybrid + cgroup ns); keep
# the container plain and identical for all three.
# (crun 1.8 also refuses ociVersion 1.2, so the bundle says 1.0.2).
jq '.ociVersion = "1.0.2" | .linux.namespaces |= map(select(.type != "cgroup")) | .mounts |= map(select(.type != "cgroup")) | del(.linux.resources)' \
  "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
runtimes=("berth=$BERTH")
for r in runc crun; do command -v $r >/dev/null && runtimes+=("$r=$(command -v $r)"); done
cmds_run=(); cmds_life=(); names=()
for entry in "${runtimes[@]}"; do
  name=${entry%%=*}; bin=${entry#*=}; names+=("$name")
  st="$work/state-$name"
  b="$work/bundle"
  if ! err=$("$bin" --root "$st" run --bundle "$b" "check-$name" 2>&1 >/dev/null); then
    echo "bench: $name cannot run this bundle here ($err); skipped" >&2; continue
  fi
  cmds_run+=(-n "$name run" "$bin --root $st run --bundle $b b-$name")
  cmds_life+=(-n "$name create+start+wait+delete" "$bin --root $st create --bundle $b l-$name && $bin --root $st start l-$name && while [ \"\$($bin --root $st state l-$name | jq -r .status)\" != stopped ]; do :; done; $bin --root $st delete l-$name")
done
# exec /bin/true in a running container of each runtime.
cmds_exec=()
mkdir -p "$work/sleeper"; cp -r "$work/bundle/rootfs" "$work/sleeper/"
jq '.process.args = ["sleep", "1000"]' "$work/bundle/config.json" > "$work/sleeper/config.json"
for name in "${names[@]}"; do
  for entry in "${runtimes[@]}"; do [ "${entry%%=*}" = "$name" ] && bin=${entry#*=}; done
  st="$work/state-$name"
  "$bin" --root "$st" run -d --bundle "$work/sleeper" "x-$name" >/dev/null 2>&1 </dev/null &&
    cmds_exec+=(-n "$name exec" "$bin --root $st exec x-$name /bin/true")
done
trap 'for n in "${names[@]}"; do for e in "${runtimes[@]}"; do [ "${e%%=*}" = "$n" ] && "${e#*=}" --root "$work/state-$n" delete -f "x-$n" >/dev/null 2>&1; done; done; rm -rf "$work"' EXIT
hyperfine -N --warmup 5 --runs ${RUNS:-100} "${cmds_run[@]}" --export-markdown "$work/run.md" >/dev/null
hyperfine -N --warmup 5 --runs ${RUNS:-100} "${cmds_exec[@]}" --export-markdown "$work/exec.md" >/dev/null
hyperfine --warmup 3 --runs ${RUNS_LIFE:-30} "${cmds_life[@]}" --export-markdown "$work/life.md" >/dev/null
echo "## run /bin/true"; cat "$work/run.md"; echo
echo "## exec /bin/true"; cat "$work/exec.md"; echo
echo "## create + start + wait + delete"; cat "$work/life.md"
ratio() {  # prints each mean as a ratio to crun's
  python3 - "$1" <<'PY'
import re, sys
rows = [l for l in open(sys.argv[1]) if l.startswith('| `')]
means = {}
for l in rows:
    cells = [c.strip() for c in l.strip().strip('|').split('|')]
    means[cells[0].strip('`').split()[0]] = float(cells[1].split()[0])
base = means.get('crun')
for k, v in means.items():
    print(f"{k:6} {v:8.2f} ms" + (f"   {v/base:5.2f} x crun" if base else ""))
PY
}
echo; echo "## ratios (mean)"; echo "run:"; ratio "$work/run.md"; echo "exec:"; ratio "$work/exec.md"; echo "lifecycle:"; ratio "$work/life.md"
