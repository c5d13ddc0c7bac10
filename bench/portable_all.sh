#!/bin/bash
# The scaling measurements for a 16-core machine in one call, most wanted first, each part
# bounded so that a slow machine still returns what finished (about 8 minutes in all there;
# the limits add up to 580 s, under a 600-second call):
#   run.sh      1, 2, 4, 8, 15 workers on the 10x file, REPS rounds, each worker count as
#               configured and with COMPARE (default: the capture stage as one thread);
#   run.sh      again into OUT/prefetch: 1 and 15 workers, 3 rounds on the 10x file (the
#               1x file once, no sensor-limit), with and without the workers asking for the
#               next frame's bytes early (capture.prefetch);
#   run.sh      again into OUT/pinning: 1 and 15 workers, 3 rounds, free and with worker i
#               pinned to CPU i+1 (threading.worker-cpus=1-15; the other threads stay free);
#   waits.sh    where 15-worker replays wait, and pair_cost's model with that machine's times
#               (kept in OUT/frame_times.txt: pair_cost --load-times models them anywhere);
#   ceiling.sh  what 8 and 15 independent one-worker processes get there.
# Unpack nothing: run it beside bundle.tar.gz and the other scripts from
# bench/portable_bundle.sh. Results go to OUT (run.sh's files, prefetch/, pinning/,
# waits.txt, ceiling.txt, parts.txt with each part's exit status and seconds).
# RUN_WORKERS, PREFETCH_WORKERS, PIN_WORKERS, PIN_CPUS, WAITS_WORKERS, REPS, COMPARE, KS,
# ROUNDS and RUN_S, PREFETCH_S, PIN_S, WAITS_S, CEILING_S (each part's limit in seconds)
# adjust it.
B="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/scaling-out}"
mkdir -p "$OUT"
part() {  # name seconds command...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    echo "$name: exit $? after $((SECONDS - start)) s" >>"$OUT/parts.txt"
}
# WORKERS means a list to run.sh and one count to waits.sh: each gets its own.
part run "${RUN_S:-220}" env WORKERS="${RUN_WORKERS:-1,2,4,8,15}" REPS="${REPS:-5}" X10= \
    COMPARE="${COMPARE:-capture.read-ahead=false}" OUT="$OUT" bash "$B/run.sh"
mkdir -p "$OUT/prefetch"
part prefetch "${PREFETCH_S:-75}" env WORKERS="${PREFETCH_WORKERS:-1,15}" REPS=3 X10= \
    ONEX_REPS=1 SKIP_LIMIT=1 \
    COMPARE=capture.prefetch=false OUT="$OUT/prefetch" bash "$B/run.sh"
mkdir -p "$OUT/pinning"
part pinning "${PIN_S:-75}" env WORKERS="${PIN_WORKERS:-1,15}" REPS=3 X10= \
    ONEX_REPS=1 SKIP_LIMIT=1 \
    COMPARE="threading.worker-cpus=${PIN_CPUS:-1-15}" OUT="$OUT/pinning" bash "$B/run.sh"
part waits "${WAITS_S:-110}" env WORKERS="${WAITS_WORKERS:-15}" \
    TIMES_OUT="$OUT/frame_times.txt" bash "$B/waits.sh"
part ceiling "${CEILING_S:-100}" env ROUNDS="${ROUNDS:-2}" bash "$B/ceiling.sh"
cat "$OUT/parts.txt"
