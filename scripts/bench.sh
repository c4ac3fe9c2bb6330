#!/usr/bin/env bash
# Benchmark: teardown against the floor (a bare decode of every record) and its
# peers (tcptrace, tshark), on the same capture, in the same run.
#
# usage: scripts/bench.sh [CAPTURE] [RUNS]
#   CAPTURE  default /tmp/teardown-bench/http.pcap, recorded by scripts/mkcapture.sh
#            when missing (root: network namespaces, nginx, wrk, tcpdump)
#   RUNS     rounds of all the commands in turn, default 5 (medians are reported)
# CAPTURE.gz (gzip -1) is made when missing, for the compressed-input row, and
# CAPTURE.pcapng (editcap -F pcapng) when editcap is there, for the pcapng row.
# Set PEERS=0 to skip tcptrace and tshark.
# Set PGO=0 to skip the rows of the binary built with profile-guided
# optimisation by scripts/build-pgo.sh (trained on fixtures/, not on CAPTURE;
# it takes about four minutes to build).
# Set INSTR=1 to also count the instructions of the floor and of teardown -j 1
# (valgrind's callgrind, user space only) on the capture's first 200,000
# records (the benchmark cut of docs/performance.md, cut with tcpdump): a
# ratio that does not drift with the machine's load or page-fault cost the way
# wall times do.
# Set RAW=1 to also print every run's seconds, in the order of the rounds.
# Set LONG=PATH to also measure teardown's memory on a longer recording of the
# same traffic (recorded with LONG_SECONDS, default 60, when missing): peak RSS
# should stay flat however long the capture is.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-/tmp/teardown-bench/http.pcap}
runs=${2:-5}
peers=${PEERS:-1}
instr=${INSTR:-0}
pgo=${PGO:-1}

[ -s "$capture" ] || scripts/mkcapture.sh "$capture" 6
need=()
command -v /usr/bin/time >/dev/null || need+=(time)
if [ "$instr" = 1 ]; then
  command -v valgrind >/dev/null || need+=(valgrind)
  command -v tcpdump >/dev/null || need+=(tcpdump)
fi
if [ "$peers" = 1 ]; then
  command -v tcptrace >/dev/null || need+=(tcptrace)
  command -v tshark >/dev/null || need+=(tshark)
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --bin teardown --example floor
if [ "$pgo" = 1 ]; then
  pgo_bin=$(scripts/build-pgo.sh)
  pgo_floor=$(dirname "$pgo_bin")/examples/floor
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# measure NAME CMD...: adds CMD to the commands timed by run_all, under NAME.
# With FRESH=PATH set, PATH is removed (untimed) before each of its runs.
names=(); commands=(); fresh=()
measure() {
  local name=$1; shift
  names+=("$name"); fresh+=("${FRESH:-}"); commands+=("$(printf '%q ' "$@")")
}
# run_all: runs every command once untimed (a warm-up: the first run on a
# fresh VM pays for guest memory the host has not mapped yet), then $runs
# rounds of all of them in turn, so that the machine's load drifting during the
# script (it does, on a shared VM) falls on every row alike instead of on the
# rows measured during a slow spell. Each run records "seconds maxrss_kb":
# seconds from the shell's microsecond clock ($EPOCHREALTIME) around the run,
# since /usr/bin/time's %e has 10 ms steps, a tenth of the floor; the peak RSS
# from /usr/bin/time. Each run starts after `sync`, untimed: a run writes a
# report of hundreds of MB, and the kernel writing it back would otherwise land
# in the next run. Before that the inputs ($warm) are read through, untimed,
# so every run finds them in the page cache: this VM pages out file pages it
# has not seen used for a while (DAMON's proactive reclaim, `kdamond`), so
# without it a run would read part of its input from disk, more or less by
# chance (docs/performance.md, "Results").
warm=()
run_all() {
  local i
  for i in "${!names[@]}"; do
    : > "$out/${names[$i]}"
    eval "${commands[$i]}" > /dev/null 2> "$out/stderr" || {
      echo "${names[$i]} failed:"; cat "$out/stderr"; exit 1; }
  done
  for _ in $(seq "$runs"); do
    for i in "${!names[@]}"; do
      if [ -n "${fresh[$i]}" ]; then rm -f "${fresh[$i]}"; fi
      [ ${#warm[@]} -eq 0 ] || cat "${warm[@]}" > /dev/null
      sync
      local t0=$EPOCHREALTIME
      eval "/usr/bin/time -f %M -o $(printf %q "$out/time") ${commands[$i]}" \
        > /dev/null 2> "$out/stderr" || {
        echo "${names[$i]} failed:"; cat "$out/stderr"; exit 1; }
      local t1=$EPOCHREALTIME
      awk -v a="$t0" -v b="$t1" -v kb="$(tail -n 1 "$out/time")" \
        'BEGIN {printf "%.4f %d\n", b - a, kb}' >> "$out/${names[$i]}"
    done
  done
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

cores=$(nproc)
[ -s "$capture.gz" ] || gzip -1 -c "$capture" > "$capture.gz"
if [ ! -s "$capture.pcapng" ] && command -v editcap >/dev/null; then
  editcap -F pcapng "$capture" "$capture.pcapng"
fi
warm=("$capture" "$capture.gz")
[ -s "$capture.pcapng" ] && warm+=("$capture.pcapng")
measure floor ./target/release/examples/floor "$capture"
if [ "$pgo" = 1 ]; then
  measure floor-pgo "$pgo_floor" "$capture"
fi
measure teardown ./target/release/teardown analyze "$capture" --format json -o "$out/report.json"
# The same report written to a new path each run: every run above after the
# first replaces the previous run's report, which this VM's file system makes
# cost about twice the floor by itself (docs/performance.md, "Results").
FRESH="$out/fresh.json" measure teardown-new ./target/release/teardown analyze "$capture" --format json -o "$out/fresh.json"
measure teardown-j1 ./target/release/teardown analyze "$capture" --format json -o "$out/report.json" -j 1
if [ "$pgo" = 1 ]; then
  # The same commands, the binary built with profile-guided optimisation.
  measure teardown-pgo "$pgo_bin" analyze "$capture" --format json -o "$out/report.json"
  FRESH="$out/fresh.json" measure teardown-pgo-new "$pgo_bin" analyze "$capture" --format json -o "$out/fresh.json"
  measure teardown-pgo-j1 "$pgo_bin" analyze "$capture" --format json -o "$out/report.json" -j 1
  measure teardown-pgo-text "$pgo_bin" analyze "$capture" --format text
fi
# The same JSON written to /dev/null: teardown's own work, without the file
# system's cost of a report of hundreds of MB (page cache, old report removed).
measure teardown-null ./target/release/teardown analyze "$capture" --format json -o /dev/null
measure teardown-text ./target/release/teardown analyze "$capture" --format text
# The other report formats, each to a file.
measure teardown-zeek ./target/release/teardown analyze "$capture" --format zeek -o "$out/conn.log"
measure teardown-html ./target/release/teardown analyze "$capture" --format html -o "$out/report.html"
# The same capture gzip-compressed (decompressed on a thread of its own).
measure teardown-gz ./target/release/teardown analyze "$capture.gz" --format json -o "$out/report.json"
# The same packets in pcapng (what Wireshark and dumpcap write), when editcap
# (Wireshark's, installed with tshark) could convert them (above).
if [ -s "$capture.pcapng" ]; then
  measure teardown-pcapng ./target/release/teardown analyze "$capture.pcapng" --format json -o "$out/report.json"
fi
if [ "$peers" = 1 ]; then
  measure tcptrace tcptrace -n "$capture"
  measure tshark tshark -q -n -r "$capture" -z conv,tcp
fi
run_all

floor_s=$(cut -d' ' -f1 "$out/floor" | median)
td_s=$(cut -d' ' -f1 "$out/teardown" | median)
packets=$(./target/release/examples/floor "$capture" | awk '{print $1}')
conns=$(grep -o '"summary":{"connections":[0-9]*' "$out/report.json" | grep -o '[0-9]*$')
echo "capture: $capture ($(du -h "$capture" | cut -f1), $packets records, $conns connections)"
echo "machine: $cores cores, $(uname -r); $runs rounds of every command in turn, medians"
printf '%-22s %9s %10s %12s %12s %9s\n' command seconds "x floor" "x teardown" "peak RSS MiB" "fastest"
for name in floor floor-pgo teardown teardown-new teardown-j1 teardown-pgo teardown-pgo-new teardown-pgo-j1 teardown-pgo-text teardown-null teardown-text teardown-zeek teardown-html teardown-gz teardown-pcapng tcptrace tshark; do
  [ -s "$out/$name" ] || continue
  s=$(cut -d' ' -f1 "$out/$name" | median)
  kb=$(cut -d' ' -f2 "$out/$name" | median)
  fastest=$(cut -d' ' -f1 "$out/$name" | sort -n | head -n 1)
  awk -v n="$name" -v s="$s" -v f="$floor_s" -v t="$td_s" -v kb="$kb" -v m="$fastest" \
    'BEGIN {printf "%-22s %9.3f %10.2f %12.2f %12.1f %9.3f\n", n, s, s / f, s / t, kb / 1024, m}'
done
echo "teardown = analyze --format json -o FILE with all cores (replacing the previous run's FILE);"
echo "new = the same to a FILE removed before each run; -j1 = one thread; null = -o /dev/null;"
echo "text = --format text (no JSON); zeek, html = --format zeek/html -o FILE;"
echo "gz = the same as teardown on CAPTURE.gz (gzip -1); pcapng = on CAPTURE.pcapng (editcap -F pcapng)"
echo "pgo = the binary of scripts/build-pgo.sh (profile-guided optimisation, trained on fixtures/);"
echo "seconds and peak RSS are medians; fastest = the fastest of the runs, in seconds"
if [ "${RAW:-0}" = 1 ]; then
  for name in "${names[@]}"; do
    echo "runs, in order: $name $(cut -d' ' -f1 "$out/$name" | tr '\n' ' ')"
  done
fi
j1=$(cut -d' ' -f1 "$out/teardown-j1" | median)
awk -v a="$j1" -v b="$td_s" -v n="$cores" 'BEGIN {printf "speed-up -j 1 -> -j %d: %.2fx\n", n, a / b}'
if [ "$pgo" = 1 ]; then
  j1=$(cut -d' ' -f1 "$out/teardown-pgo-j1" | median)
  s=$(cut -d' ' -f1 "$out/teardown-pgo" | median)
  f=$(cut -d' ' -f1 "$out/floor-pgo" | median)
  awk -v a="$j1" -v b="$s" -v n="$cores" 'BEGIN {printf "speed-up -j 1 -> -j %d (pgo): %.2fx\n", n, a / b}'
  awk -v s="$s" -v f="$f" 'BEGIN {printf "pgo against the pgo floor: teardown %.3f s = %.2fx floor-pgo (%.3f s)\n", s, s / f, f}'
fi

if [ -n "${LONG:-}" ]; then
  [ -s "$LONG" ] || scripts/mkcapture.sh "$LONG" "${LONG_SECONDS:-60}"
  names=(); commands=(); fresh=(); warm=()
  measure long ./target/release/teardown analyze "$LONG" --format json -o "$out/long.json"
  run_all
  rm -f "$out/long.json"
  for name in teardown long; do
    f=$([ $name = teardown ] && echo "$capture" || echo "$LONG")
    kb=$(cut -d' ' -f2 "$out/$name" | median)
    s=$(cut -d' ' -f1 "$out/$name" | median)
    awk -v f="$f" -v mb="$(du -m "$f" | cut -f1)" -v s="$s" -v kb="$kb" \
      'BEGIN {printf "memory: %-40s %7d MB  %8.3f s  peak RSS %7.1f MiB\n", f, mb, s, kb / 1024}'
  done
fi

# instructions CMD...: user-space instructions of one run of CMD.
instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
    | awk '/Collected :/ {print $NF}'
}
if [ "$instr" = 1 ]; then
  # Written through stdout: tcpdump run as root writes files as its own user.
  tcpdump -r "$capture" -c 200000 -w - 2>/dev/null > "$out/cut.pcap"
  floor_i=$(instructions ./target/release/examples/floor "$out/cut.pcap")
  td_i=$(instructions ./target/release/teardown analyze "$out/cut.pcap" --format json -o "$out/report.json" -j 1)
  awk -v f="$floor_i" -v t="$td_i" \
    'BEGIN {printf "instructions, first 200000 records: floor %d, teardown -j 1 %d (%.2fx the floor)\n", f, t, t / f}'
  if [ "$pgo" = 1 ]; then
    floor_pgo_i=$(instructions "$pgo_floor" "$out/cut.pcap")
    pgo_i=$(instructions "$pgo_bin" analyze "$out/cut.pcap" --format json -o "$out/report.json" -j 1)
    awk -v f="$floor_pgo_i" -v t="$pgo_i" \
      'BEGIN {printf "instructions, first 200000 records (pgo builds): floor %d, teardown -j 1 %d (%.2fx the floor)\n", f, t, t / f}'
  fi
fi
