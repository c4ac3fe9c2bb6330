#!/usr/bin/env bash
# Builds `teardown` with profile-guided optimisation (PGO): an instrumented
# build is run over the repository's own fixtures (every capture under
# fixtures/, in each report format, on one and two threads), and the release
# build is then compiled again with the branch and call counts it recorded, so
# the compiler lays out and inlines the hot paths for how they are taken.
# Nothing of the benchmark capture goes into the profile. The binary computes
# the same as `cargo build --release`; the script checks that its JSON is
# byte-identical to that build's on every fixture before printing its path.
# The floor (examples/floor.rs) is built the same way, trained on the same
# fixtures, so that scripts/bench.sh compares like with like.
#
# usage: scripts/build-pgo.sh          (needs rustup's llvm-tools; installed
#                                       with `rustup component add llvm-tools`
#                                       when missing)
# prints: the path of the optimised binary (target/pgo/<host>/release/teardown;
#         the floor is target/pgo/<host>/release/examples/floor)
#
# docs/performance.md ("Current figures") has what it gains and how it is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  command -v rustup >/dev/null || {
    echo "build-pgo: needs $profdata, from rustup's llvm-tools component" >&2; exit 1; }
  rustup component add llvm-tools >&2
fi
# Fixed paths, so that an unchanged tree reuses the instrumented build; the
# optimised build's flags name the profile by its digest, so it is rebuilt
# whenever the profile changes.
data=$PWD/target/pgo-data
rm -rf "$data/raw"
mkdir -p "$data/raw"

# `--target` keeps RUSTFLAGS off build scripts and procedural macros: only the
# program itself (and the crates it links) is instrumented, then optimised.
build() {
  RUSTFLAGS="$1" cargo build --release --locked --quiet --bin teardown \
    --example floor --target "$host" --target-dir "$2"
}

echo "build-pgo: instrumented build" >&2
build "-Cprofile-generate=$data/raw" target/pgo-gen
gen=target/pgo-gen/$host/release/teardown
captures=$(find fixtures -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.gz' \) | sort)
echo "build-pgo: training on $(echo "$captures" | wc -l) fixtures" >&2
for f in $captures; do
  # The floor reads legacy pcap only, and stops at a malformed record.
  "target/pgo-gen/$host/release/examples/floor" "$f" > /dev/null 2>&1 || true
  for j in 1 2; do
    # Malformed fixtures exit 2 by design; their profile counts all the same.
    "$gen" analyze "$f" -q -j "$j" -f json -o /dev/null 2>/dev/null || true
    "$gen" analyze "$f" -q -j "$j" -f text > /dev/null 2>&1 || true
  done
  for fmt in ndjson zeek html; do
    "$gen" analyze "$f" -q -f "$fmt" -o /dev/null 2>/dev/null || true
  done
done
"$profdata" merge -o "$data/merged.profdata" "$data/raw"
profile=$data/$(sha256sum "$data/merged.profdata" | cut -c1-16).profdata
find "$data" -maxdepth 1 -name '*.profdata' ! -name merged.profdata -delete
mv "$data/merged.profdata" "$profile"

echo "build-pgo: optimised build" >&2
build "-Cprofile-use=$profile" target/pgo
bin=target/pgo/$host/release/teardown

# The same bytes as the plain release build, on every fixture.
cargo build --release --locked --quiet --bin teardown
for f in $captures; do
  for j in 1 2; do
    a=$(./target/release/teardown analyze "$f" -q -j "$j" 2>&1 || true)
    b=$("$bin" analyze "$f" -q -j "$j" 2>&1 || true)
    if [ "$a" != "$b" ]; then
      echo "build-pgo: $bin differs from target/release/teardown on $f (-j $j)" >&2
      exit 1
    fi
  done
done
echo "$bin"
