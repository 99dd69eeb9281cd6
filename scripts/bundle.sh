#!/usr/bin/env bash
# bundle.sh DIR [ARGS...] — makes an OCI bundle in DIR: a busybox rootfs and
# a config.json from `berth spec` that runs ARGS (default: sh) without a terminal.
set -euo pipefail
dir=$1; shift
: "${BERTH:?set BERTH to the berth binary}"
bb=$(command -v busybox || echo /bin/busybox)
[ -x "$bb" ] || { echo "bundle.sh: busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/tmp"
cp "$bb" "$dir/rootfs/bin/busybox"
for c in $("$bb" --list); do [ "$c" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$c"; done
rm -f "$dir/config.json"
"$BERTH" spec --bundle "$dir"
args=$(printf '%s\n' "${@:-sh}" | jq -R . | jq -s .)
jq --argjson a "$args" '.process.terminal = false | .process.args = $a' "$dir/config.json" > "$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
