#!/usr/bin/env bash
# Runs the integration test binaries (built on this host) inside throw-away
# cgroup-v2-only VMs: every binary with a shell as pid 1 (so every test also
# passes on cgroup v2), then the ones about real hosts (SYSTEMD_TESTS) with
# systemd as pid 1 and AppArmor on. One boot per mode.
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
# so that the binaries after it still run and the hang can be read.
bin_timeout=${BIN_TIMEOUT:-600}
hung='{ echo "test-v2: stopped after '"$bin_timeout"' s; the guest then:"; ps -eo pid,ppid,stat,wchan:32,args | grep -v "\\[" | tail -n 40 | cut -c1-200; systemctl list-jobs --no-pager 2>/dev/null | head -n 20; }'
run_bin() { echo " echo \"== $1: \$(basename $2)\"; timeout -k 10 $bin_timeout $2 --test-threads=$3 || { [ \$? = 124 ] && $hung; rc=1; };"; }
script="set -e; export BERTH_BIN=$BERTH_BIN BERTH_IN_VM=1; grep -q cgroup2 /proc/self/mounts; rc=0;"
for b in $bins; do
  script+=$(run_bin v2 "$b" 2)
done
script+=' exit $rc'
rc=0
VM_MEM=${VM_MEM:-2048} "$vm" "$script" || rc=1
# The tests that need systemd as init, AppArmor, a system bus.
sd_tests=${SYSTEMD_TESTS:-systemd lsm rootless containerd docker podman}
script="set -e; export BERTH_BIN=$BERTH_BIN BERTH_IN_VM=1; [ \"\$(cat /proc/1/comm)\" = systemd ]; rc=0;"
for b in $bins; do
  for t in $sd_tests; do
    case "$(basename "$b")" in "$t"-*)
      script+=$(run_bin systemd "$b" 1) ;;
    esac
  done
done
script+=' exit $rc'
VM_MODE=systemd VM_DBUS=${VM_DBUS:-1} VM_MEM=${VM_MEM:-2048} "$vm" "$script" || rc=1
exit $rc
