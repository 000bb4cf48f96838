#!/bin/sh
# compare.sh FIRMWARE_OUTPUT HOST_OUTPUT [TOLERANCE]: each cell's p_parasitized printed by the firmware under
# QEMU against the host's (plasmo-infer / plasmo predict lines: path<TAB>label<TAB>p), matched by the cell's
# last two path components; fails when a cell is missing on either side, when |p_firmware - p_host| exceeds
# TOLERANCE (default 1e-4), or when the firmware did not finish.
set -eu
firmware=$1 host=$2 tolerance=${3:-1e-4}
grep -q '^firmware: done$' "$firmware" || { echo "compare: the firmware did not finish:" >&2; cat "$firmware" >&2; exit 1; }
awk -F '\t' -v tolerance="$tolerance" -v host_file="$host" '
  function key(path,   parts, n) { n = split(path, parts, "/"); return n >= 2 ? parts[n - 1] "/" parts[n] : path }
  FNR == NR { host[key($1)] = $3; next }
  NF == 3 && $2 ~ /^[0-9]+x[0-9]+$/ {
    cells++
    if (!(key($1) in host)) { printf "%-44s %s  firmware %s, host: missing\n", $1, $2, $3; bad++; next }
    diff = $3 - host[key($1)]; if (diff < 0) diff = -diff
    if (diff > worst) worst = diff
    ok = diff <= tolerance
    printf "%-44s %-8s firmware %s  host %s  |diff| %.2e %s\n", $1, $2, $3, host[key($1)], diff, ok ? "ok" : "FAIL"
    if (!ok) bad++
  }
  END {
    if (cells == 0) { print "compare: no cell lines in the firmware output"; exit 1 }
    printf "compare: %d cells, largest |p_firmware - p_host| = %.2e (tolerance %s, host: %s): %s\n", cells, worst, tolerance, host_file, bad ? "FAILED" : "ok"
    exit bad ? 1 : 0
  }' "$host" "$firmware"
