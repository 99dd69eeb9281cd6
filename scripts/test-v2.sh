#!/usr/bin/env bash
# Runs the integration test binaries (built on this host) inside throw-away
# cgroup-v2-only VMs: every binary with a shell as pid 1 (so every test also
# passes on cgroup v2), then the ones about real hosts (SYSTEMD_TESTS) with
# systemd as pid 1 and AppArmor on. One boot per mode (V2_MODES: "plain
# systemd"). Ends with a summary of what failed or hung, so that the last
# lines of a long log say it.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${V2VM:-scripts/vm.sh}
[ -x "$vm" ] || { echo "test-v2: $vm is missing; cgroup v2 tests cannot run" >&2; exit 1; }
: "${BERTH_BIN:?set BERTH_BIN to the berth binary}"
bins=$(cargo test -p berth-integration --no-run --message-format=json 2>/dev/null \
  | jq -r 'select(.profile.test == true and .executable != null and .target.kind == ["test"]) | .executable')
[ -n "$bins" ] || { echo "test-v2: no integration test binaries" >&2; exit 1; }
# A test binary that hangs is stopped after BIN_TIMEOUT seconds (the longest
# takes about 2 minutes under emulation), with what the guest was doing then,
# and run once more: an emulated guest now and then stalls for minutes (a
# soft lockup), and one stall should not fail the round. A second hang, or
# any failed test, fails it; the first hang stays in the summary.
bin_timeout=${BIN_TIMEOUT:-600}
# The guest's helper: t MODE BINARY THREADS.
helper='t() { echo "== $1: ${2##*/}"; timeout -k 10 '"$bin_timeout"' "$2" --test-threads=$3 && return 0; [ $? = 124 ] || { rc=1; return 0; };'
helper+=' echo "test-v2: stopped after '"$bin_timeout"' s; the guest then:"; ps -eo pid,ppid,stat,wchan:32,args | grep -v "\\[" | tail -n 40 | cut -c1-200;'
helper+=' systemctl list-jobs --no-pager 2>/dev/null | head -n 20;'
helper+=' echo "== $1: ${2##*/} (again: it hung)"; timeout -k 10 '"$bin_timeout"' "$2" --test-threads=$3 || rc=1; };'
run_bin() { echo " t $1 $2 $3;"; }
log=$(mktemp /tmp/test-v2.XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
# boot MODE SCRIPT [VAR=VALUE...]: one VM, its output also kept for the summary.
boot() {
  local mode=$1 script=$2; shift 2
  echo "== test-v2: $mode VM" | tee -a "$log"
  env "$@" VM_MODE="$mode" VM_MEM="${VM_MEM:-2048}" "$vm" "$script" 2>&1 | tee -a "$log" || rc=1
}
modes=${V2_MODES:-plain systemd}
if [[ " $modes " == *" plain "* ]]; then
  script="set -e; export BERTH_BIN=$BERTH_BIN BERTH_IN_VM=1; $helper grep -q cgroup2 /proc/self/mounts; rc=0;"
  for b in $bins; do
    script+=$(run_bin v2 "$b" 2)
  done
  boot plain "$script exit \$rc"
fi
if [[ " $modes " == *" systemd "* ]]; then
  # The tests that need systemd as init, AppArmor, a system bus.
  sd_tests=${SYSTEMD_TESTS:-systemd lsm rootless containerd docker podman}
  script="set -e; export BERTH_BIN=$BERTH_BIN BERTH_IN_VM=1; $helper [ \"\$(cat /proc/1/comm)\" = systemd ]; rc=0;"
  for b in $bins; do
    for t in $sd_tests; do
      case "$(basename "$b")" in "$t"-*)
        script+=$(run_bin systemd "$b" 1) ;;
      esac
    done
  done
  boot systemd "$script exit \$rc" VM_DBUS="${VM_DBUS:-1}"
fi
# The summary: every binary's result line, then what failed, hung or broke.
echo "== test-v2 summary"
awk '/^== (v2|systemd|test-v2): / { what = $0 } /^test result:/ { print what ": " $3 " " $4 " passed, " $6 " failed" }' "$log"
grep -E -A 45 '^test-v2: stopped' "$log" || true
# A failed test with its panic (the line after "panicked at"), and what the
# VM runner or the guest's kernel said.
awk '/^---- .* stdout ----$/ { n = 4 } n > 0 && NF { print; n-- } /^vm\.sh: / { print }' "$log" | head -n 80
echo "test-v2: $([ $rc = 0 ] && echo passed || echo FAILED)"
exit $rc
