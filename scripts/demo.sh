#!/usr/bin/env bash
# make demo: run one container that shows its hostname, that it is pid 1,
# and its namespaces beside the host's; then check nothing is left.
set -euo pipefail
: "${BERTH:?set BERTH to the berth binary}"
command -v busybox >/dev/null || [ -x /bin/busybox ] || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static jq >/dev/null; }
command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root=$work/state
id=demo-$$
trap 'rm -rf "$work"' EXIT
script='echo "hostname: $(hostname)"; echo "my pid:   $$"; for n in pid net ipc uts mnt cgroup; do echo "ns $n: $(readlink /proc/self/ns/$n)"; done'
"$(dirname "$0")/bundle.sh" "$work/bundle" sh -c "$script"
echo "== host"
for n in pid net ipc uts mnt cgroup; do echo "ns $n: $(readlink /proc/self/ns/$n)"; done
echo "== container (berth run)"
(cd "$work/bundle" && "$BERTH" --root "$root" run "$id")
left=$(find /sys/fs/cgroup -maxdepth 4 -path "*/berth/$id" 2>/dev/null || true)
if [ -n "$left" ] || [ -e "$root/$id" ] || pgrep -f "$id" >/dev/null; then
  echo "demo: something was left behind: $left" >&2; exit 1
fi
echo "== nothing left behind"
