#!/usr/bin/env bash
# Packs what the replay benchmark needs on a machine without our Debian packages into one
# archive: the stripped release `sensor`, `sensor-limit` and `pair_cost`, every library `ldd` lists plus the
# dynamic loader, rules/data, replay_bench.py, the capture and a rule set. Unpack it there
# with bench/portable_run.sh (or portable_waits.sh, portable_ceiling.sh) beside it (see
# docs/performance.md, "Scaling").
#   bench/portable_bundle.sh BUILD_DIR OUT_DIR [PCAP] [RULES_DIR]
# BUILD_DIR: a release build with its three programs built
# (cmake --build BUILD_DIR --target sensor sensor-limit pair_cost).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: bench/portable_bundle.sh BUILD_DIR OUT_DIR [PCAP] [RULES_DIR]}
out=${2:?usage: bench/portable_bundle.sh BUILD_DIR OUT_DIR [PCAP] [RULES_DIR]}
pcap=${3:-../shared/corpora/bench/bench-mixed-dev.pcap}
rules=${4:-../shared/corpora/rulesets/et-open-2024-04-21_suricata-5.0-enhanced}
for program in sensor/app/sensor bench/sensor-limit bench/pair_cost; do
  [[ -x "$build/$program" ]] || { echo "portable_bundle: no $build/$program; build it first" >&2; exit 2; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{build/sensor/app,build/bench,lib,bench,rules,corpora} "$out"
cp "$build/sensor/app/sensor" "$stage/build/sensor/app/"
cp "$build/bench/sensor-limit" "$build/bench/pair_cost" "$stage/build/bench/"
strip "$stage/build/sensor/app/sensor" "$stage/build/bench/sensor-limit" \
    "$stage/build/bench/pair_cost"
for bin in "$build/sensor/app/sensor" "$build/bench/sensor-limit" "$build/bench/pair_cost"; do
  ldd "$bin" | awk '/=>/ {print $3} /ld-linux/ {print $1}'
done | sort -u | grep '^/' | xargs -I{} cp -L {} "$stage/lib/"
cp bench/replay_bench.py "$stage/bench/"
cp -r rules/data "$stage/rules/"
cp "$pcap" "$stage/corpora/bench-mixed-dev.pcap"
cp -r "$rules" "$stage/corpora/et"
tar czf "$out/bundle.tar.gz" -C "$stage" .
cp bench/portable_run.sh "$out/run.sh"
cp bench/portable_waits.sh "$out/waits.sh"
cp bench/portable_ceiling.sh "$out/ceiling.sh"
cp bench/portable_all.sh "$out/all.sh"
echo "bundle: $out/bundle.tar.gz ($(du -h "$out/bundle.tar.gz" | cut -f1)), run there: OUT=DIR bash all.sh (or run.sh, waits.sh, ceiling.sh)"
