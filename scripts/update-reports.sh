#!/usr/bin/env bash
# Regenerates reports/ — the HTML and JSON reports of the demo fixture, which
# tests/cli/html.rs compares with a fresh rendering — and docs/report.png, the
# README's screenshot of the HTML report (needs Chromium; skipped with
# --no-screenshot).
#
# usage: scripts/update-reports.sh [--no-screenshot]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin teardown
bin=${CARGO_TARGET_DIR:-target}/release/teardown
demo=fixtures/kernel/client.pcap   # relative: the reports show paths as given

"$bin" analyze "$demo" -f html -o reports/client.html
"$bin" analyze "$demo" -f json -o reports/client.json
chmod 644 reports/client.html reports/client.json
echo "reports/client.html reports/client.json: updated"

[ "${1:-}" = --no-screenshot ] && exit 0
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "no chromium: docs/report.png not updated (apt-get install chromium)" >&2
  exit 0
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --no-first-run --disable-sync --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1280,1400 \
  --screenshot=docs/report.png "file://$PWD/reports/client.html" 2>/dev/null
echo "docs/report.png: updated"
