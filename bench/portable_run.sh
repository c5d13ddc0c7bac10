#!/bin/bash
# Multi-worker scaling benchmark on a machine without the Debian packages: everything the
# sensor needs travels in bundle.tar.gz (binaries, their libraries and loader, rules, capture).
# WORKERS, REPS, X10 (empty: no 10x file) and COMPARE (KEY=VALUE for replay_bench's
# --compare-set, e.g. capture.map-files=false) adjust the run; ONEX_REPS (default REPS)
# sets the 1x file's repetitions alone, and SKIP_LIMIT=1 leaves out sensor-limit.
set -u
B="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/device-out}"
W=/tmp/sensor-bench
rm -rf "$W" && mkdir -p "$W" "$OUT" && cd "$W" || exit 1
# Few files come back from such a machine: the machine, the results, and one archive of
# every run's stats.json.
tar xzf "$B/bundle.tar.gz" 2>>"$OUT/machine.txt" ||
    python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall('.')" "$B/bundle.tar.gz"
{ echo "nproc $(nproc)"; lscpu 2>/dev/null; head -3 /proc/meminfo; uname -a; } >>"$OUT/machine.txt" 2>&1
export XDG_CACHE_HOME="$W/cache"
L="$W/lib/ld-linux-x86-64.so.2"
"$L" --library-path "$W/lib" "$W/build/sensor/app/sensor" --version >>"$OUT/machine.txt" 2>&1
echo "python: $(command -v python3) $(python3 --version 2>&1)" >>"$OUT/machine.txt"
if command -v python3 >/dev/null; then
    python3 "$W/bench/replay_bench.py" --build build --pcap "$W/corpora/bench-mixed-dev.pcap" \
        --rules "$W/corpora/et" --workers "${WORKERS:-1,2,4,8,15}" \
        --reps "${ONEX_REPS:-${REPS:-3}}" ${SKIP_LIMIT:+--skip-limit} \
        ${X10---x10} --x10-reps "${REPS:-3}" --out "$W/out" --loader "$L" --libdir "$W/lib" \
        --data-dir "$W/rules/data" --json "$OUT/replay_bench.json" \
        ${COMPARE:+--compare-set "$COMPARE"} \
        >"$OUT/replay_bench.txt" 2>"$OUT/replay_bench.err"
    echo "replay_bench exit $?" >>"$OUT/replay_bench.txt"
else
    # No Python: the 1x capture only, stats.json of every run.
    for w in 1 2 4 8 15; do
        for r in 1 2 3; do
            "$L" --library-path "$W/lib" "$W/build/sensor/app/sensor" \
                -r "$W/corpora/bench-mixed-dev.pcap" -S "$W/corpora/et" -l "$W/run" -k none \
                --workers "$w" --set "rules-data-dir=$W/rules/data" >"$OUT/w$w-r$r.out" 2>&1
            cp "$W/run/stats.json" "$OUT/w$w-r$r.stats.json"
        done
    done
fi
mkdir -p "$W/stats"
for d in "$W"/out/x10-w* "$W"/out/run-w* "$W"/out/cmp-*; do
    [ -f "$d/stats.json" ] && cp "$d/stats.json" "$W/stats/$(basename "$d").stats.json"
done
mv "$OUT"/w*-r*.stats.json "$W/stats/" 2>/dev/null
tar czf "$OUT/stats.tar.gz" -C "$W" stats
cat "$OUT/replay_bench.txt" 2>/dev/null
