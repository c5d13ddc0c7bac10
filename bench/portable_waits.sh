#!/bin/bash
# Where a many-worker replay of the 10x file waits, on a machine without the Debian packages
# (unpack beside bundle.tar.gz from bench/portable_bundle.sh): one worker as the baseline, then
# WORKERS (default 15) placed by pair and by flow with the bundled rule set, and with one rule,
# each with the capture stage split in two (capture.read-ahead, the default from 4 workers) and
# not, and one worker with one rule; per run, the wait and busy times stats.json records. Prints
# one line per run, then pair_cost's placement figures and replay model from that machine's own
# per-frame times (saved to TIMES_OUT when set, for pair_cost --load-times elsewhere).
B="$(cd "$(dirname "$0")" && pwd)"; W=/tmp/sensor-bench; L="$W/lib/ld-linux-x86-64.so.2"
rm -rf "$W" && mkdir -p "$W" && cd "$W" && tar xzf "$B/bundle.tar.gz"
export XDG_CACHE_HOME="$W/cache"
python3 bench/replay_bench.py --build build --pcap corpora/bench-mixed-dev.pcap --rules corpora/et \
    --workers 1 --reps 1 --skip-limit --x10 --x10-reps 1 --out out --loader "$L" --libdir "$W/lib" \
    --data-dir "$W/rules/data" >/dev/null 2>&1
X="$W/out/bench-mixed-dev-x10.pcap"
echo 'alert tcp any any -> any 80 (msg:"x"; content:"GET"; sid:1;)' > "$W/tiny.rules"
one() {  # workers dispatch rules label [read-ahead: true|false, default auto]
    rm -rf "$W/ex"; mkdir -p "$W/ex"
    "$L" --library-path "$W/lib" "$W/build/sensor/app/sensor" -r "$X" -S "$3" -l "$W/ex" -k none \
        --workers "$1" --set "rules-data-dir=$W/rules/data" --set "capture.dispatch=$2" \
        --set "capture.read-ahead=${5:-auto}" >/dev/null 2>&1
    python3 - "$1 $2 $4 ${5:-auto}" "$W/ex/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
busy = s["worker"]["busy_s"]
pw = s["dispatch"]["per_worker"]
cw = [w.get("capture_waited_s", 0) for w in pw]
ow = [w.get("output_waited_s", 0) for w in pw]
ra = s["dispatch"].get("read_ahead", {})
print(f"{sys.argv[1]:<24} elapsed {s['elapsed_s']:.3f} capture cpu {s['cpu_s']['capture']:.3f} "
      f"waited {sum(cw):.3f} (max {max(cw):.3f}) | reader cpu "
      f"{s['cpu_s'].get('capture_reader', 0):.3f} waited {ra.get('reader_waited_s', 0):.3f}, "
      f"capture waited for it {ra.get('capture_waited_s', 0):.3f} | workers busy max {max(busy):.3f} "
      f"sum {sum(busy):.2f} waited for output {sum(ow):.3f} (max {max(ow):.3f}) | "
      f"output busy {s.get('output', {}).get('busy_s', 0):.3f} cpu {s['cpu_s']['output']:.3f} "
      f"| alerts {s['alerts']['total']}")
PY
}
for r in 1 2 3; do
    one 1 pair "$W/corpora/et" et
    for d in pair flow; do
        one "${WORKERS:-15}" "$d" "$W/corpora/et" et true
        one "${WORKERS:-15}" "$d" "$W/corpora/et" et false
    done
done
for r in 1 2; do
    one 1 pair "$W/tiny.rules" one-rule
    for d in pair flow; do
        one "${WORKERS:-15}" "$d" "$W/tiny.rules" one-rule true
        one "${WORKERS:-15}" "$d" "$W/tiny.rules" one-rule false
    done
done
"$L" --library-path "$W/lib" "$W/build/bench/pair_cost" -r "$W/corpora/bench-mixed-dev.pcap" \
    -S "$W/corpora/et" --data-dir "$W/rules/data" --workers "4,8,${WORKERS:-15}" --passes 3 \
    ${TIMES_OUT:+--save-times "$TIMES_OUT"} 2>&1 |
    grep -v '^pair_cost: pass'
