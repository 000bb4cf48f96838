#!/usr/bin/env bash
# Renders an HTML report with headless Chromium (Debian `chromium`) into a PNG, to check by eye that it
# looks right in a real browser, offline.
#   scripts/screenshot_report.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
# OUT defaults to REPORT.png next to the report, the window to 1200x3000 (the whole page, usually).
# Exit 0 with the PNG written; 1 when chromium is missing or writes nothing.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]" >&2
  exit 2
fi
report=$(realpath "$1")
out=${2:-${report%.html}.png}
size=${3:-1200x3000}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "screenshot_report: chromium not found (Debian: apt-get install chromium)" >&2
  exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
# Flags from docs/NOTES.md: root, no network, no first-run or background traffic.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --screenshot="$(realpath -m "$out")" --window-size="${size/x/,}" "file://$report" >/dev/null 2>&1 || true
if [ ! -s "$out" ]; then
  echo "screenshot_report: chromium wrote no screenshot for $report" >&2
  exit 1
fi
echo "$out"
