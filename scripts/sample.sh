#!/usr/bin/env bash
# Command one: from a fresh Debian 12 machine, install dependencies, build a release
# binary, generate the bundled sample capture and run the sensor on it with the shipped
# rules. Logs land in out/sample/ (eve.json, stats.json, sensor.log).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --parallel "$(nproc)"

out=out/sample
rm -rf "$out"
mkdir -p "$out"
build/release/bench/trafficgen -o "$out/sample.pcap" --scenario all --seed 1
build/release/sensor/app/sensor -c deploy/sensor.yaml -S rules/sets -r "$out/sample.pcap" -l "$out"
