#!/usr/bin/env bash
# link-order.sh MAP HOT: the linker's symbol ordering file for this build.
# HOT (scripts/hot-symbols.txt) names symbols without their Rust hash;
# MAP is the linker's map of the last link (mangled names), which gives
# each one's full name, every instantiation of a generic included. A
# name the map lacks is left out: the list only orders, it never adds.
# (The list is told apart by name, not by NR == FNR: it may be empty.)
# A local copy LTO numbered (`name.1156`) matches by its name alone: the
# number changes from build to build.
# glibc picks one variant of memcpy, strlen… for the CPU it runs on
# (valgrind's differs from the host's), so a hot variant brings its
# whole family along.
set -euo pipefail
awk 'function family(s) { return match(s, /^__[a-z0-9]+_(sse|ssse|avx|evex|erms)/) ? substr(s, 1, index(substr(s, 3), "_") + 2) : "" }
     FILENAME == ARGV[1] { if ($0 !~ /^#/ && NF) { n++; k = $1; sub(/\.[0-9]+$/, "", k); if (!(k in rank)) rank[k] = n; f = family(k); if (f != "" && !(f in fam)) fam[f] = n } next }
     NF == 5 && $5 !~ /:\(/ { key = $5; sub(/\.[0-9]+$/, "", key); sub(/17h[0-9a-f]+E$/, "", key)
       if (key in rank) print rank[key], $5; else { f = family(key); if (f in fam) print fam[f], $5 } }' "$2" "$1" |
  sort -n -s -k1,1 | awk '!seen[$2]++ { print $2 }'
