#!/bin/bash
# What the machine itself gives K threads, as the ceiling for K workers: K independent
# one-worker sensor processes replay the 10x file at the same time (each its own process, no
# data shared), and each one's processing time is compared with one such process alone. Where
# K of them together get K x one alone, the machine scales; where they get less (cores that
# are hyperthreads on the host, all-core clocks below one core's, memory shared with other
# guests), no pipeline of K workers gets more. Each round also runs one sensor with K workers
# (placed by pair and by flow), for the pipeline's ratio in the same minutes.
# Unpack beside bundle.tar.gz from bench/portable_bundle.sh. KS (default "8 15") and ROUNDS
# (default 3) adjust the run. Prints one line per run and a summary per K.
B="$(cd "$(dirname "$0")" && pwd)"; W=/tmp/sensor-bench; L="$W/lib/ld-linux-x86-64.so.2"
rm -rf "$W" && mkdir -p "$W" && cd "$W" && tar xzf "$B/bundle.tar.gz" || exit 1
export XDG_CACHE_HOME="$W/cache"
python3 bench/replay_bench.py --build build --pcap corpora/bench-mixed-dev.pcap --rules corpora/et \
    --workers 1 --reps 1 --skip-limit --x10 --x10-reps 1 --out out --loader "$L" --libdir "$W/lib" \
    --data-dir "$W/rules/data" >/dev/null 2>&1
X="$W/out/bench-mixed-dev-x10.pcap"
[ -f "$X" ] || { echo "no 10x file"; exit 1; }
elapsed() { python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["elapsed_s"])' "$1"; }
sensor() {  # log_dir workers dispatch [cpu]
    rm -rf "$1"; mkdir -p "$1"
    local pin=()
    if [ -n "${4:-}" ] && command -v taskset >/dev/null; then pin=(taskset -c "$4"); fi
    "${pin[@]}" "$L" --library-path "$W/lib" "$W/build/sensor/app/sensor" -r "$X" -S "$W/corpora/et" \
        -l "$1" -k none --workers "$2" --set "rules-data-dir=$W/rules/data" \
        --set "capture.dispatch=$3" >/dev/null 2>&1
}
summary=()
for k in ${KS:-8 15}; do
    ratios=(); pair=(); flow=()
    for r in $(seq "${ROUNDS:-3}"); do
        sensor "$W/alone" 1 pair 0
        alone=$(elapsed "$W/alone/stats.json")
        for i in $(seq 0 $((k - 1))); do sensor "$W/side-$i" 1 pair "$i" & done
        wait
        times=$(for i in $(seq 0 $((k - 1))); do elapsed "$W/side-$i/stats.json"; done | sort -n)
        slowest=$(echo "$times" | tail -1)
        fastest=$(echo "$times" | head -1)
        ratio=$(python3 -c "print(f'{$k * $alone / $slowest:.2f}')")
        sensor "$W/wp" "$k" pair; tp=$(elapsed "$W/wp/stats.json")
        sensor "$W/wf" "$k" flow; tf=$(elapsed "$W/wf/stats.json")
        rp=$(python3 -c "print(f'{$alone / $tp:.2f}')"); rf=$(python3 -c "print(f'{$alone / $tf:.2f}')")
        echo "K=$k round $r: one alone ${alone}s; $k side by side ${fastest}-${slowest}s" \
             "(ceiling ${ratio}x); $k workers pair ${tp}s (${rp}x), flow ${tf}s (${rf}x)"
        ratios+=("$ratio"); pair+=("$rp"); flow+=("$rf")
    done
    med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    summary+=("K=$k medians: ceiling $(med "${ratios[@]}")x; workers by pair $(med "${pair[@]}")x, by flow $(med "${flow[@]}")x")
done
printf '%s\n' "${summary[@]}"
