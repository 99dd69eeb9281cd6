#!/usr/bin/env bash
# make bench: berth beside runc and crun on the same busybox bundle, one
# hyperfine run per measure (six short rounds for run and exec, back to
# back and after quiet, and list of 100),
# ratios to crun. The whole bench runs in a private mount namespace: the
# runtimes' state roots are on a tmpfs there, as /run is on a production
# host (on this host's ext4, mounted with discard, every runtime's state
# directory costs synchronous discards), and on a hybrid cgroup host a
# tmpfs covers the cgroup2 mount (crun refuses the hybrid layout; every
# runtime then sees pure cgroup v1). Prints: run and exec (back to back,
# and after 50 ms of quiet), exec under podman's default seccomp profile
# (where containers-common is installed), lifecycle, state, list at 0/25/50/100
# containers, each beside its floor where it has one (the kernel's work
# that any runtime does for it, in C: scripts/run-floor.c, exec-floor.c,
# list-floor.c), the `unshare --fork` floor, an empty process's start with
# glibc and with no C library, the CPUID instructions glibc's start runs
# and what one costs (start-floor.c, cpuid-count.c: glibc's CPU probe, a
# trip to the hypervisor each on a virtual machine), peak RSS, anonymous
# memory, binary sizes.
set -euo pipefail
: "${BERTH:?set BERTH to the berth binary}"
RUNS=${RUNS:-40}
need=(); command -v hyperfine >/dev/null || need+=(hyperfine); [ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
if [ -z "${BERTH_BENCH_NS:-}" ]; then
  # Private mount namespace: the host's mounts stay as they are.
  exec env BERTH_BENCH_NS=1 unshare -m --propagation private "$0" "$@"
fi
if [ -d /sys/fs/cgroup/unified ] && grep -q " /sys/fs/cgroup/unified .* - cgroup2 " /proc/self/mountinfo; then
  mount -t tmpfs none /sys/fs/cgroup/unified
fi
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
states=$work/run
mkdir "$states" && mount -t tmpfs -o mode=0711 berth-bench "$states"
cleanup() {
  for e in "${runtimes[@]:-}"; do
    n=${e%%=*}; b=${e#*=}
    for id in $("$b" --root "$states/state-$n" list -q 2>/dev/null); do "$b" --root "$states/state-$n" delete -f "$id" >/dev/null 2>&1 || true; done
  done
  umount "$states" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$(dirname "$0")/bundle.sh" "$work/bundle" /bin/true >/dev/null
# The same plain container for all three (crun 1.8 refuses ociVersion 1.2).
jq '.ociVersion = "1.0.2" | .linux.namespaces |= map(select(.type != "cgroup")) | .mounts |= map(select(.type != "cgroup")) | del(.linux.resources)' \
  "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
mkdir -p "$work/sleeper"; cp -r "$work/bundle/rootfs" "$work/sleeper/"
jq '.process.args = ["sleep", "100000"]' "$work/bundle/config.json" > "$work/sleeper/config.json"
# A sleeper under a profile like the callers' defaults, for what seccomp
# costs exec: every name podman's default profile (containers-common)
# allows, allowed, anything else EPERM.
profile=/usr/share/containers/seccomp.json
if [ -r "$profile" ]; then
  mkdir -p "$work/filtered"; cp -r "$work/bundle/rootfs" "$work/filtered/"
  jq --slurpfile p "$profile" '.process.args = ["sleep", "100000"] | .linux.seccomp = {
      defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      syscalls: [{names: ([$p[0].syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique),
                  action: "SCMP_ACT_ALLOW"}]}' "$work/bundle/config.json" > "$work/filtered/config.json"
fi
# Every binary timed runs from a copy made here, as `make install` or cp
# would put it: how a file got into the page cache changes its exec time.
# The linker writes through a mapping and leaves the file in 4 KiB folios,
# a copy lands in large ones, and the kernel maps those in fewer, larger
# steps (berth's exec 0.16 ms slower from the file lld wrote than from a cp
# of it, interleaved runs); packages and gcc leave 4 KiB folios too. So all
# start alike.
mkdir "$work/bin"
fresh() {  # fresh FILE NAME: a copy of FILE in $work/bin, its path
  cp "$1" "$work/bin/$2" && echo "$work/bin/$2"
}
runtimes=()
for entry in "berth=$BERTH" "crun=$(command -v crun || true)" "runc=$(command -v runc || true)"; do
  n=${entry%%=*}; b=${entry#*=}
  [ -n "$b" ] || continue
  b=$(fresh "$b" "$n") && entry="$n=$b"
  if ! err=$("$b" --root "$states/state-$n" run --bundle "$work/bundle" "check-$n" 2>&1 >/dev/null); then
    echo "bench: $n cannot run this bundle here ($err); skipped" >&2; continue
  fi
  "$b" --root "$states/state-$n" run -d --bundle "$work/sleeper" "x-$n" </dev/null >/dev/null 2>&1
  if [ -d "$work/filtered" ]; then
    "$b" --root "$states/state-$n" run -d --bundle "$work/filtered" "f-$n" </dev/null >/dev/null 2>&1 || true
  fi
  runtimes+=("$entry")
done
# The floors, in C, where gcc is here and they run: FLOOR_run, FLOOR_exec
# and FLOOR_list hold their commands (the list floor reads berth's state).
FLOOR_run="" FLOOR_exec="" FLOOR_list=""
if command -v gcc >/dev/null; then
  for f in run exec list start; do
    gcc -O2 -static -o "$work/$f-floor.gcc" "$(dirname "$0")/$f-floor.c" 2>/dev/null &&
      fresh "$work/$f-floor.gcc" "$f-floor" >/dev/null || true
  done
  # The start with no C library at all, beside glibc's, and the CPUID counter.
  gcc -O2 -static -nostdlib -DNO_LIBC -o "$work/bare.gcc" "$(dirname "$0")/start-floor.c" 2>/dev/null &&
    fresh "$work/bare.gcc" start-bare >/dev/null || true
  gcc -O2 -o "$work/cpuid-count" "$(dirname "$0")/cpuid-count.c" 2>/dev/null || true
  xpid=$("$BERTH" --root "$states/state-berth" state x-berth | jq -r .pid)
  # The sleeper's namespaces create made (listed without a path), by their
  # /proc/PID/ns names: the exec floor joins those without comparing, as exec does.
  made=$(jq -r '[.linux.namespaces[] | select((.path // "") == "") | .type
    | ({"mount": "mnt", "network": "net"}[.] // .)] | join(",")' "$work/sleeper/config.json")
  declare -A try=([run]="$work/bin/run-floor $work/bundle/rootfs berth-bench-floor-$$"
    [exec]="$work/bin/exec-floor $xpid $made" [list]="$work/bin/list-floor $states/state-berth")
  for f in run exec list; do
    if [ -x "$work/bin/$f-floor" ] && err=$(${try[$f]} 2>&1 >/dev/null); then declare "FLOOR_$f=${try[$f]}"
    else echo "bench: the $f floor does not run here (${err:-no gcc build}); left out" >&2; fi
  done
fi
hf() {  # hf NAME CMD-TEMPLATE [HYPERFINE-ARGS] (with @B@ for the binary, @S@ for its state dir, @N@ for its name)
  # Every runtime, and $FLOOR as "floor" when set; the order turned by $TURN;
  # run by $HF_SHELL when set, else with no shell.
  local label=$1 tmpl=$2 names=() cmds=() args=() i j shell=(-N)
  [ -z "${HF_SHELL:-}" ] || shell=(--shell "$HF_SHELL")
  for e in "${runtimes[@]}"; do
    n=${e%%=*}; b=${e#*=}; c=${tmpl//@B@/$b}; c=${c//@S@/$states/state-$n}; c=${c//@N@/$n}
    names+=("$n"); cmds+=("$c")
  done
  if [ -n "${FLOOR:-}" ]; then names+=(floor); cmds+=("$FLOOR"); fi
  for i in "${!names[@]}"; do j=$(((i + ${TURN:-0}) % ${#names[@]})); args+=(-n "${names[j]}" "${cmds[j]}"); done
  hyperfine "${shell[@]}" --warmup 3 --runs "$RUNS" "${@:3}" "${args[@]}" --export-json "$work/$label.json" >/dev/null 2>&1
}
# Within one hyperfine run each runtime's runs follow one another, so a
# slow phase of the host lands on one of them: run, exec and list of 100
# take six rounds of half the runs each, the order of the runtimes (and
# the floor) turned by one each round, and the rounds' means averaged.
rounds() {  # rounds NAME CMD-TEMPLATE [HYPERFINE-ARGS]
  local r
  for r in 0 1 2 3 4 5; do RUNS=$((RUNS / 2)) TURN=$r hf "$1.$r" "${@:2}"; done
}
FLOOR=$FLOOR_run rounds run "@B@ --root @S@ run --bundle $work/bundle r-@N@"
FLOOR=$FLOOR_exec rounds exec "@B@ --root @S@ exec x-@N@ /bin/true"
# The same after 50 ms of quiet, as on a host that does not start
# containers back to back: on cgroup v1 a pid written into cgroup.procs
# then waits out an RCU grace period (berth's child moves itself instead).
# In rounds too: one slow phase of the host would otherwise land on one
# runtime's whole row.
FLOOR=$FLOOR_run rounds runq "@B@ --root @S@ run --bundle $work/bundle q-@N@" --prepare "sleep 0.05"
FLOOR=$FLOOR_exec rounds execq "@B@ --root @S@ exec x-@N@ /bin/true" --prepare "sleep 0.05"
[ -d "$work/filtered" ] && hf execsc "@B@ --root @S@ exec f-@N@ /bin/true"
hf state "@B@ --root @S@ state x-@N@"
hf list1 "@B@ --root @S@ list"
# Polled with bash's own match: a jq per poll would weigh more than the runtimes.
HF_SHELL=bash rounds life "@B@ --root @S@ create --bundle $work/bundle l-@N@ && @B@ --root @S@ start l-@N@ &&
  while [[ ! \"\$(@B@ --root @S@ state l-@N@)\" =~ \\\"status\\\":\\ ?\\\"stopped\\\" ]]; do :; done; @B@ --root @S@ delete l-@N@" || true
hyperfine -N --warmup 3 --runs "$RUNS" -n floor "unshare --fork -p -m -i -u -n /bin/true" --export-json "$work/floor.json" >/dev/null 2>&1
# An empty process, with glibc and with no C library: what every process
# start costs here before any runtime's own work (scripts/start-floor.c).
if [ -x "$work/bin/start-floor" ] && [ -x "$work/bin/start-bare" ]; then
  hyperfine -N --warmup 3 --runs "$((RUNS * 2))" -n glibc "$work/bin/start-floor" -n bare "$work/bin/start-bare" \
    --export-json "$work/start.json" >/dev/null 2>&1 || true
fi
# The mean of NAME's runs, over its rounds when it has them.
mean() {
  local files=("$work/$1".json) f
  [ -e "${files[0]}" ] || files=("$work/$1".[0-9].json)
  for f in "${files[@]}"; do jq -r --arg n "$2" '.results[] | select(.command == $n) | .mean * 1000' "$f" 2>/dev/null; done |
    awk 'NF { s += $1; n++ } END { if (n) print s / n }'
}
row() {  # row LABEL FILE
  local crun; crun=$(mean "$2" crun)
  printf '| %-26s |' "$1"
  for n in crun runc berth floor; do
    v=$(mean "$2" $n); if [ -z "$v" ]; then printf ' %-14s |' "-"; continue; fi
    if [ -n "$crun" ]; then printf ' %6.2f (%sx) |' "$v" "$(awk -v a="$v" -v b="$crun" 'BEGIN { printf "%.2f", a / b }')"; else printf ' %6.2f ms      |' "$v"; fi
  done; echo
}
echo "| measure (ms, x crun)       | crun           | runc           | berth          | floor in C     |"
echo "|---|---|---|---|---|"
row "run /bin/true" run; row "exec /bin/true" exec
row "run, host quiet 50 ms" runq; row "exec, host quiet 50 ms" execq
[ -d "$work/filtered" ] && row "exec, podman's seccomp" execsc
row "create+start+wait+delete" life
row "state" state; row "list (1)" list1
# list at scale: berth only keeps its own state of N sleepers.
for count in 25 50 100; do
  for e in "${runtimes[@]}"; do n=${e%%=*}; b=${e#*=}
    have=$("$b" --root "$states/state-$n" list -q | grep -c '^s-' || true)
    for i in $(seq "$have" $((count - 1))); do "$b" --root "$states/state-$n" create --bundle "$work/sleeper" "s-$i" </dev/null >/dev/null 2>&1; done
  done
  # At 100, beside its floor: in rounds, as run and exec.
  if [ "$count" = 100 ]; then FLOOR=$FLOOR_list rounds "list$count" "@B@ --root @S@ list"
  else hf "list$count" "@B@ --root @S@ list"; fi
  row "list ($count created)" "list$count"
done
printf '| %-26s | %.2f ms |\n' "unshare --fork floor" "$(mean floor floor)"
if [ -e "$work/start.json" ]; then
  # How many CPUID glibc's start runs (single-stepped), and their price here.
  cpuids=$("$work/cpuid-count" "$work/bin/start-floor" 2>/dev/null || echo "?")
  printf '| %-26s | %.2f / %.2f ms | %s CPUID in glibc'"'"'s, %s µs each |\n' "process start, glibc/none" \
    "$(mean start glibc)" "$(mean start bare)" "$cpuids" "$("$work/bin/start-floor" cpuid)"
fi
# (a created container keeps the creator's stdio: time writes to a file)
rss() { /usr/bin/time -o "$work/rss" -f %M "$@" </dev/null >/dev/null 2>&1; cat "$work/rss"; }
# Peak RSS counts the mapped pages of the runtime's own binary and
# libraries; its anonymous memory (heap, stack, data) is what it costs
# beside them: read from smaps_rollup while a foreground `run` waits.
mkdir -p "$work/napper"; cp -r "$work/bundle/rootfs" "$work/napper/"
jq '.process.args = ["sleep", "1"]' "$work/bundle/config.json" > "$work/napper/config.json"
anon() {  # anon BINARY STATE NAME
  local pid kib=""
  "$1" --root "$2" run --bundle "$work/napper" "a-$3" </dev/null >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    [[ "$("$1" --root "$2" state "a-$3" 2>/dev/null)" =~ \"status\":\ ?\"running\" ]] && break
    sleep 0.01
  done
  kib=$(awk '/^Anonymous:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
  wait "$pid" || true
  echo "${kib:--}"
}
stale_hot=""
for e in "${runtimes[@]}"; do n=${e%%=*}; b=${e#*=}
  create_rss=$(rss "$b" --root "$states/state-$n" create --bundle "$work/bundle" m-$n)
  printf '| %-6s peak RSS create / exec | %s / %s KiB | anon while run waits %s KiB | binary %s bytes |\n' "$n" \
    "$create_rss" "$(rss "$b" --root "$states/state-$n" exec x-$n /bin/true)" \
    "$(anon "$b" "$states/state-$n" "$n")" "$(stat -Lc %s "$b")"
  "$b" --root "$states/state-$n" delete -f "m-$n" >/dev/null 2>&1 || true
  # Most of berth's peak RSS is its own text: hot functions outside the
  # list in scripts/hot-symbols.txt (new or renamed ones) spread it.
  if [ "$n" = berth ] && [[ "$create_rss" =~ ^[0-9]+$ ]] && [ "$create_rss" -gt 1300 ]; then
    stale_hot=$create_rss
  fi
done
if [ -n "$stale_hot" ]; then
  echo "bench: berth's create peaked at $stale_hot KiB (1104 when the hot list is current):" \
    "scripts/hot-symbols.sh may need running again" >&2
fi
