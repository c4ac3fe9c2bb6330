#!/usr/bin/env bash
# Regenerates reports/ — the HTML and JSON reports of the demo fixture, which
# tests/cli/html.rs compares with a fresh rendering, and the diff of the
# fixtures/diff leak pair as Markdown and HTML (tests/cli/diff.rs) — and docs/report.png, the
# README's screenshot of the HTML report, and docs/host-states.png, its host
# timeline charts for fixtures/timeline (needs Chromium; both skipped with
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
for f in md html; do
  "$bin" diff fixtures/diff/leak-before.pcap fixtures/diff/leak-after.pcap \
    --fin-timeout 5s --syn-retries 2 --orphan-retries 2 -o "reports/diff-leak.$f"
  chmod 644 "reports/diff-leak.$f"
done
echo "reports/diff-leak.md reports/diff-leak.html: updated"

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
# The timeline fixture's host charts, with its client namespace's timers,
# framed at their anchor (a screenshot of the page itself ignores it).
"$bin" analyze fixtures/timeline/client.pcap -f html -o "$profile/timeline.html" \
  --fin-timeout 5 --syn-retries 2 --retries2 3 --orphan-retries 2
cat > "$profile/frame.html" <<'HTML'
<!DOCTYPE html><html><body style="margin:0"><iframe src="timeline.html#host-states" style="border:0;width:1280px;height:590px"></iframe></body></html>
HTML
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --no-first-run --disable-sync --hide-scrollbars \
  --user-data-dir="$profile/chromium" --window-size=1280,590 --virtual-time-budget=3000 \
  --screenshot=docs/host-states.png "file://$profile/frame.html" 2>/dev/null
echo "docs/host-states.png: updated"
