#!/usr/bin/env python3
"""Whole-binary replay benchmark: the release `sensor` against `sensor-limit` on one capture.

For one pcap and one rule set it runs, each --reps times (interleaved, one repetition after
the other, so that drift in the machine's speed hits every measurement alike):
  * sensor-limit (libpcap read + raw Hyperscan scan of the payloads: the "limit"),
  * `sensor -T -S RULES` (start-up alone: taxonomy, rule load, Hyperscan compile),
  * `sensor -r PCAP -S RULES -l DIR -k none --workers N` for every N of --workers,
and prints medians: processing time and packets/s (from stats.json, start-up excluded), the
ratio to the limit, the scaling over one worker, and CPU time (user + sys of the process,
which other load on a shared machine stretches less than wall time).

With --x10 it also builds out/bench/bench-mixed-dev-x10.pcap (ten copies of the capture,
each shifted past the end of the previous one with `editcap -t`, merged with `mergecap`)
and times whole processes on it, start-up included, for the comparison with Snort 3 and
Suricata on that file.

With --side-by-side REPS it measures, on the 10x file, what two threads can get from this
machine at best: one worker alone, two workers, and two one-worker processes started
together (they share nothing but the machine), REPS times interleaved. Two workers are
compared with that, and their CPU time per thread (capture, workers, output) is reported.

Python 3 standard library only. Run from the repository root:
  bench/replay_bench.py --build build/release --workers 1,2 --reps 5 [--x10]
"""

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PCAP = "../shared/corpora/bench/bench-mixed-dev.pcap"
DEFAULT_RULES = "../shared/corpora/rulesets/et-open-2024-04-21_suricata-5.0-enhanced"
# Whole-process times on the 10x file reported for the peers (same rules, same file); the
# target is half of each, start-up included. They are not measured by this script.
PEERS_X10_S = {"snort3": 13.8, "suricata": 32.0}
X10_COPIES = 10
# Arguments added to every sensor command (--sensor-arg).
SENSOR_EXTRA = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_timed(cmd, stderr_path, cwd=REPO):
    """Runs cmd; returns (exit code, wall seconds, CPU seconds of the child: user + sys)."""
    with open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=err, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    LAST_PEAK_RSS_KIB[0] = usage.ru_maxrss
    return code, wall, usage.ru_utime + usage.ru_stime


LAST_PEAK_RSS_KIB = [0]  # of the last run_timed child


def median(values):
    return statistics.median(values) if values else 0.0


def pcap_record_headers(path):
    """Yields (time in seconds, caplen, wire length) of each record of a classic pcap file (any
    byte order, micro- or nanosecond times)."""
    with open(path, "rb") as f:
        header = f.read(24)
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            raise SystemExit(f"{path}: not a classic pcap file (pcapng is not supported here)")
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        record = struct.Struct(endian + "IIII")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, caplen, wire = record.unpack(rec)
            yield sec + frac / (1e9 if nano else 1e6), caplen, wire
            f.seek(caplen, 1)


def pcap_time_span(path):
    """(first, last) packet time in seconds of a classic pcap file."""
    lo, hi = None, None
    for ts, _, _ in pcap_record_headers(path):
        lo = ts if lo is None else min(lo, ts)
        hi = ts if hi is None else max(hi, ts)
    if lo is None:
        raise SystemExit(f"{path}: no packets")
    return lo, hi


def write_x10_python(pcap, target, step):
    """The same file as editcap + mergecap make, for machines without them: the copies do not
    overlap in time, so merging them is appending copy k with every timestamp moved by
    k x step seconds."""
    data = Path(pcap).read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    record = struct.Struct(endian + "IIII")
    with open(target, "wb") as out:
        out.write(data[:24])
        for k in range(X10_COPIES):
            pos = 24
            while pos + 16 <= len(data):
                sec, frac, caplen, length = record.unpack_from(data, pos)
                out.write(record.pack(sec + k * step, frac, caplen, length))
                out.write(data[pos + 16:pos + 16 + caplen])
                pos += 16 + caplen


def build_x10(pcap, out_dir):
    """Ten copies of pcap, copy k shifted by k x (span + 1 s), merged in time order."""
    target = out_dir / (Path(pcap).stem + "-x10.pcap")
    if target.exists():
        return target, []
    lo, hi = pcap_time_span(pcap)
    if shutil.which("editcap") is None or shutil.which("mergecap") is None:
        step = int(hi - lo) + 1
        write_x10_python(pcap, target, step)
        return target, [f"replay_bench.py write_x10_python: {X10_COPIES} copies, step {step} s"
                        " (editcap/mergecap not installed)"]
    step = int(hi - lo) + 1
    parts_dir = out_dir / "x10-parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    commands = []
    parts = []
    for k in range(X10_COPIES):
        part = parts_dir / f"part-{k}.pcap"
        cmd = ["editcap", "-F", "pcap", "-t", str(k * step), rel(pcap), rel(part)]
        commands.append(" ".join(cmd))
        subprocess.run(cmd, check=True, cwd=REPO)
        parts.append(str(part))
    cmd = ["mergecap", "-F", "pcap", "-w", rel(target)] + [rel(p) for p in parts]
    commands.append(" ".join(cmd))
    subprocess.run(cmd, check=True, cwd=REPO)
    shutil.rmtree(parts_dir)
    return target, commands


def rel(path):
    try:
        return os.path.relpath(path, REPO)
    except ValueError:
        return str(path)


def sensor_command(sensor, pcap, rules, workers, log_dir, prefix):
    if log_dir.exists():
        shutil.rmtree(log_dir)
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = prefix + [str(sensor), "-r", str(pcap)]
    for r in rules:
        cmd += ["-S", str(r)]
    return cmd + ["-l", str(log_dir), "-k", "none", "--workers", str(workers)] + SENSOR_EXTRA


def run_result(cmd, code, wall, cpu, log_dir):
    if code != 0:
        raise SystemExit(f"replay_bench: {' '.join(cmd)} exited with {code}")
    stats = json.loads((log_dir / "stats.json").read_text())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "elapsed_s": stats["elapsed_s"],
        "packets": stats["capture"]["packets"],
        "alerts": stats["alerts"]["total"],
        "flows": stats["flow"]["records"],
        # CPU seconds per pipeline thread (with one worker everything is "capture").
        "thread_cpu_s": stats.get("cpu_s", {}),
        "peak_rss_kib": LAST_PEAK_RSS_KIB[0],
    }


def sensor_run(sensor, pcap, rules, workers, log_dir, prefix, extra=()):
    """One replay; returns a dict of its timings and counts."""
    cmd = sensor_command(sensor, pcap, rules, workers, log_dir, prefix) + list(extra)
    code, wall, cpu = run_timed(cmd, log_dir.parent / (log_dir.name + ".out"))
    return run_result(cmd, code, wall, cpu, log_dir)


def sensor_runs_side_by_side(sensor, pcap, rules, log_dirs, prefix):
    """One-worker replays of the same file started together, one per log dir; returns their
    results. What they lose against a replay alone is what the machine loses when two threads
    share it (caches, memory bandwidth, the host's other load), whatever the sensor does."""
    started = []
    for log_dir in log_dirs:
        cmd = sensor_command(sensor, pcap, rules, 1, log_dir, prefix)
        err = open(log_dir.parent / (log_dir.name + ".out"), "wb")
        started.append((cmd, log_dir, err, time.perf_counter(),
                        subprocess.Popen(cmd, cwd=REPO, stdout=err, stderr=subprocess.STDOUT)))
    results = []
    for cmd, log_dir, err, start, proc in started:
        _, status, usage = os.wait4(proc.pid, 0)
        err.close()
        results.append(run_result(cmd, os.waitstatus_to_exitcode(status),
                                  time.perf_counter() - start,
                                  usage.ru_utime + usage.ru_stime, log_dir))
    return results


def summarise_runs(runs):
    packets = runs[0]["packets"]
    elapsed = median([r["elapsed_s"] for r in runs])
    return {
        "runs": runs,
        "packets": packets,
        "elapsed_s_median": elapsed,
        "wall_s_median": median([r["wall_s"] for r in runs]),
        "cpu_s_median": median([r["cpu_s"] for r in runs]),
        "packets_per_s": packets / elapsed if elapsed > 0 else 0.0,
        "alerts": sorted({r["alerts"] for r in runs}),
        "flows": sorted({r["flows"] for r in runs}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release",
                    help="release build tree holding sensor/app/sensor and bench/sensor-limit")
    ap.add_argument("--pcap", default=DEFAULT_PCAP)
    ap.add_argument("--rules", action="append", help="rule file or directory (repeatable)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--reps", type=int, default=5, help="repetitions; medians are reported")
    ap.add_argument("--out", default="out/bench", help="scratch folder (git-ignored)")
    ap.add_argument("--x10", action="store_true",
                    help="also build the 10x capture and time whole processes on it")
    ap.add_argument("--x10-reps", type=int, default=3)
    ap.add_argument("--side-by-side", type=int, default=0, metavar="REPS",
                    help="on the 10x file, REPS times: one worker alone, two workers, and two "
                         "one-worker processes started together (what two threads can get "
                         "from this machine at best)")
    ap.add_argument("--compare-set", default="", metavar="KEY=VALUE",
                    help="on the 10x file, --x10-reps times per worker count: the sensor as "
                         "configured and with --set KEY=VALUE, one after the other (processing "
                         "time, capture-thread CPU, peak RSS)")
    ap.add_argument("--taskset", default="",
                    help="CPU list for taskset -c (pins every measured process)")
    ap.add_argument("--skip-limit", action="store_true")
    ap.add_argument("--json", default="", help="summary file (default OUT/replay_bench.json)")
    ap.add_argument("--loader", default="",
                    help="run the binaries through this dynamic loader with --library-path "
                         "LIBDIR (a machine without the Debian packages: carry the libraries)")
    ap.add_argument("--libdir", default="", help="library folder for --loader")
    ap.add_argument("--data-dir", default="",
                    help="rules data folder (classification.config, concept-map.tsv) when the "
                         "built-in path does not exist on this machine")
    args = ap.parse_args()
    if args.data_dir:
        SENSOR_EXTRA.extend(["--set", f"rules-data-dir={args.data_dir}"])

    build = (REPO / args.build).resolve()
    sensor = build / "sensor/app/sensor"
    limit_bin = build / "bench/sensor-limit"
    rules = args.rules or [DEFAULT_RULES]
    pcap = (REPO / args.pcap).resolve()
    out = (REPO / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    prefix = ["taskset", "-c", args.taskset] if args.taskset else []
    if args.loader:
        prefix += [args.loader, "--library-path", args.libdir]
    workers = [int(w) for w in args.workers.split(",") if w]
    for path in (sensor, limit_bin):
        if not path.exists():
            raise SystemExit(f"replay_bench: {rel(path)} not built (cmake --build {args.build} "
                             "--target sensor sensor-limit)")

    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "nproc": os.cpu_count(),
        "pcap": rel(pcap),
        "rules": [rel(REPO / r) for r in rules],
        "reps": args.reps,
        "taskset": args.taskset,
    }

    def run_limit(rep):
        limit_json = out / f"limit-{rep}.json"
        cmd = prefix + [str(limit_bin), "-r", str(pcap), "--passes", "1",
                        "--json", str(limit_json)]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        for r in rules:
            cmd += ["-S", str(r)]
        code, _, _ = run_timed(cmd, out / "limit.out")
        if code != 0:
            raise SystemExit(f"replay_bench: sensor-limit exited with {code}; see {rel(out)}"
                             "/limit.out")
        return json.loads(limit_json.read_text())

    log(f"start-up (sensor -T): {args.reps} runs")
    startup = []
    for i in range(args.reps):
        cmd = prefix + [str(sensor), "-T"] + SENSOR_EXTRA
        for r in rules:
            cmd += ["-S", str(r)]
        code, wall, cpu = run_timed(cmd, out / "startup.out")
        if code not in (0, 2):  # 2: some rules have errors; the rest still load
            raise SystemExit(f"replay_bench: sensor -T exited with {code}")
        startup.append({"wall_s": wall, "cpu_s": cpu})
    summary["startup"] = {
        "runs": startup,
        "wall_s_median": median([s["wall_s"] for s in startup]),
        "cpu_s_median": median([s["cpu_s"] for s in startup]),
    }

    # Interleaved: each repetition runs the limit and then every worker count, so that a
    # machine whose speed drifts (shared or throttled) slows the limit and the sensor alike;
    # the ratio to the limit is the median of the per-repetition ratios.
    limit_runs = []
    runs_by_workers = {w: [] for w in workers}
    for rep in range(args.reps):
        log(f"repetition {rep + 1} of {args.reps}: "
            + ("sensor-limit, " if not args.skip_limit else "")
            + ", ".join(f"--workers {w}" for w in workers))
        if not args.skip_limit:
            limit_runs.append(run_limit(rep))
        for w in workers:
            runs_by_workers[w].append(sensor_run(sensor, pcap, rules, w, out / f"run-w{w}",
                                                 prefix))
    limit = None
    if limit_runs:
        limit = {
            "runs": limit_runs,
            "limit_packets_per_s": median([l["limit_packets_per_s"] for l in limit_runs]),
            "limit_packets_per_cpu_s": median([l["limit_packets_per_cpu_s"]
                                               for l in limit_runs]),
            "read": {"packets_per_s": median([l["read"]["packets_per_s"] for l in limit_runs])},
            "scan": {"packets_per_s": median([l["scan"]["packets_per_s"] for l in limit_runs])},
        }
        summary["limit"] = limit
    results = {}
    for w in workers:
        results[w] = summarise_runs(runs_by_workers[w])
        if limit_runs:
            results[w]["ratios_to_limit"] = [
                (r["packets"] / r["elapsed_s"]) / l["limit_packets_per_s"]
                for r, l in zip(runs_by_workers[w], limit_runs)]
    summary["sensor"] = {str(w): r for w, r in results.items()}

    if args.x10:
        target, commands = build_x10(pcap, out)
        summary["x10"] = {"pcap": rel(target), "build_commands": commands, "workers": {}}
        for w in workers:
            log(f"x10 whole process, --workers {w}: {args.x10_reps} runs")
            runs = [sensor_run(sensor, target, rules, w, out / f"x10-w{w}", prefix)
                    for _ in range(args.x10_reps)]
            summary["x10"]["workers"][str(w)] = summarise_runs(runs)

    if args.side_by_side > 0:
        target, commands = build_x10(pcap, out)
        reps = []
        for rep in range(args.side_by_side):
            log(f"side by side {rep + 1} of {args.side_by_side}: one worker alone, two workers, "
                "two one-worker processes together")
            alone = sensor_run(sensor, target, rules, 1, out / "side-alone", prefix)
            two = sensor_run(sensor, target, rules, 2, out / "side-w2", prefix)
            pair = sensor_runs_side_by_side(sensor, target, rules,
                                            [out / "side-a", out / "side-b"], prefix)
            slowest = max(r["elapsed_s"] for r in pair)
            reps.append({"alone": alone, "workers_2": two, "side_by_side": pair,
                         "two_workers_over_alone": alone["elapsed_s"] / two["elapsed_s"],
                         "side_by_side_over_alone": 2 * alone["elapsed_s"] / slowest})
        summary["side_by_side"] = {
            "pcap": rel(target), "build_commands": commands, "reps": reps,
            "two_workers_over_alone_median": median([r["two_workers_over_alone"] for r in reps]),
            "side_by_side_over_alone_median": median([r["side_by_side_over_alone"]
                                                      for r in reps]),
        }

    if args.compare_set:
        target, commands = build_x10(pcap, out)
        extra = ["--set", args.compare_set]
        compare = {"pcap": rel(target), "set": args.compare_set, "workers": {}}
        for w in workers:
            pairs = []
            for rep in range(args.x10_reps):
                log(f"compare {rep + 1} of {args.x10_reps}, --workers {w}: as configured, "
                    f"then --set {args.compare_set}")
                plain = sensor_run(sensor, target, rules, w, out / f"cmp-w{w}", prefix)
                changed = sensor_run(sensor, target, rules, w, out / f"cmp-set-w{w}", prefix,
                                     extra)
                pairs.append({"configured": plain, "with_set": changed})
            compare["workers"][str(w)] = pairs
        summary["compare_set"] = compare

    # ---- report ----
    print(f"replay_bench: {rel(pcap)}, rules {', '.join(summary['rules'])}, "
          f"medians of {args.reps}, nproc {os.cpu_count()}"
          + (f", taskset -c {args.taskset}" if args.taskset else ""))
    st = summary["startup"]
    print(f"  start-up (sensor -T)   {st['wall_s_median']:.2f} s wall, "
          f"{st['cpu_s_median']:.2f} s CPU")
    limit_pps = 0.0
    if limit:
        limit_pps = limit["limit_packets_per_s"]
        print(f"  limit                  {limit_pps:,.0f} packets/s "
              f"(read {limit['read']['packets_per_s']:,.0f}/s, "
              f"scan {limit['scan']['packets_per_s']:,.0f}/s; "
              f"{limit['limit_packets_per_cpu_s']:,.0f} per CPU second)")
    base = results.get(1) or results[workers[0]]
    for w, r in results.items():
        line = (f"  sensor --workers {w:<2}    {r['elapsed_s_median']:.2f} s processing, "
                f"{r['packets_per_s']:,.0f} packets/s, whole process {r['wall_s_median']:.2f} s"
                f", CPU {r['cpu_s_median']:.2f} s")
        if limit and limit_pps > 0:
            r["ratio_to_limit"] = median(r["ratios_to_limit"])
            line += (f", {100 * r['ratio_to_limit']:.1f}% of limit (median of per-repetition "
                     f"ratios {', '.join(f'{100 * x:.1f}' for x in r['ratios_to_limit'])})")
        if w != 1 and 1 in results:
            r["scaling_over_1"] = r["packets_per_s"] / base["packets_per_s"]
            line += f", {r['scaling_over_1']:.2f}x one worker"
        print(line)
        if len(r["alerts"]) != 1:
            print(f"    note: alert totals differ between runs: {r['alerts']}")
        elif r["alerts"] != base["alerts"]:
            print(f"    note: {r['alerts'][0]} alerts, {base['alerts'][0]} with "
                  f"{workers[0]} worker(s)")
    if args.x10:
        x = summary["x10"]
        print(f"  x10 file {x['pcap']} (whole process, start-up included; "
              f"medians of {args.x10_reps})")
        for w, r in x["workers"].items():
            print(f"    --workers {w:<2} {r['wall_s_median']:.1f} s "
                  f"({r['elapsed_s_median']:.1f} s processing, {r['packets_per_s']:,.0f} "
                  f"packets/s, alerts {'/'.join(str(a) for a in r['alerts'])})")
        for peer, s in PEERS_X10_S.items():
            best = min(r["wall_s_median"] for r in x["workers"].values())
            print(f"    vs {peer} {s:.1f} s (target <= {s / 2:.1f} s): best {best:.1f} s = "
                  f"{s / best:.2f}x the peer's speed")
        summary["peers_x10_s"] = PEERS_X10_S
    if args.compare_set:
        c = summary["compare_set"]
        print(f"  {c['pcap']}: as configured vs --set {c['set']} (medians of {args.x10_reps}, "
              "run in turn)")

        def capture_cpu(run):
            cpu = run["thread_cpu_s"]
            return cpu.get("capture", 0.0) if isinstance(cpu, dict) else 0.0

        for w, pairs in c["workers"].items():
            for key, label in (("configured", "as configured"), ("with_set", "with --set")):
                runs = [p[key] for p in pairs]
                print(f"    --workers {w:<2} {label:<14} "
                      f"{median([r['elapsed_s'] for r in runs]):.2f} s processing, capture "
                      f"thread {median([capture_cpu(r) for r in runs]):.3f} s CPU, peak RSS "
                      f"{median([r['peak_rss_kib'] for r in runs]) / 1024:.0f} MiB, alerts "
                      f"{'/'.join(str(a) for a in sorted({r['alerts'] for r in runs}))}, flows "
                      f"{'/'.join(str(f) for f in sorted({r['flows'] for r in runs}))}")

    if args.side_by_side > 0:
        sb = summary["side_by_side"]
        print(f"  side by side on {sb['pcap']} (processing time, medians of {args.side_by_side})")
        two = ", ".join(f"{r['two_workers_over_alone']:.2f}" for r in sb["reps"])
        pair = ", ".join(f"{r['side_by_side_over_alone']:.2f}" for r in sb["reps"])
        print(f"    two workers: {sb['two_workers_over_alone_median']:.2f}x one worker alone "
              f"(per repetition {two})")
        print(f"    two one-worker processes together: "
              f"{sb['side_by_side_over_alone_median']:.2f}x one alone in throughput "
              f"(per repetition {pair})")
        cpu = [r["workers_2"]["thread_cpu_s"] for r in sb["reps"]]
        if all(cpu):
            print(f"    two workers, CPU per thread (medians): capture "
                  f"{median([c['capture'] for c in cpu]):.2f} s, workers "
                  f"{median([sum(c['workers']) for c in cpu]):.2f} s together, output "
                  f"{median([c['output'] for c in cpu]):.2f} s; one worker alone "
                  f"{median([r['alone']['thread_cpu_s']['capture'] for r in sb['reps']]):.2f} s")

    json_path = Path(args.json) if args.json else out / "replay_bench.json"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    log(f"summary: {rel(json_path)}")


if __name__ == "__main__":
    main()
