#!/usr/bin/env python3
"""Peak memory of the sensor during SIGHUP rule reloads.

Replays a capture paced (so the sensor keeps running with traffic flowing), waits for the
steady state, then sends SIGHUP several times. Around each reload it samples the process's
resident set (VmRSS) every 2 ms and reads the kernel's own high-water mark (VmHWM, reset
before each reload through /proc/PID/clear_refs), and reports: the resident set before the
reload, the peak during it, the resident set after it, and the reload's duration from
sensor.log. Linux only; resetting VmHWM needs to own the process (or root).

    python3 bench/memory/reload_peak.py --sensor build/release/sensor/app/sensor \\
        --rules ../shared/corpora/rulesets/et-open-2024-04-21_suricata-5.0-enhanced \\
        --pcap ../shared/corpora/bench/bench-mixed-dev.pcap --workers 2 --reloads 3 --cache off
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/{pid}/status")


class Sampler(threading.Thread):
    """Keeps the largest VmRSS seen since the last reset()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.lock = threading.Lock()
        self.peak = 0
        self.running = True

    def reset(self):
        with self.lock:
            self.peak = 0

    def run(self):
        while self.running:
            try:
                rss = status_kib(self.pid, "VmRSS")
            except (OSError, RuntimeError):
                return
            with self.lock:
                self.peak = max(self.peak, rss)
            time.sleep(0.002)


def count_lines(path, pattern):
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if pattern.search(line))
    except FileNotFoundError:
        return 0


def wait_for(predicate, timeout, what, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"reload_peak: the sensor exited ({proc.returncode}) while waiting for {what}")
        if predicate():
            return
        time.sleep(0.02)
    sys.exit(f"reload_peak: timed out after {timeout} s waiting for {what}")


def mib(kib):
    return kib / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--rules", required=True, help="rule file or directory (-S)")
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument("--speed", type=float, default=20.0, help="--pcap-speed of the replay")
    ap.add_argument("--cache", default="off",
                    help="detect.hyperscan-cache.path: off (every reload compiles: the worst "
                         "case) or a directory (warm after the start)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds to wait after start-up and after each reload")
    ap.add_argument("--control", action="store_true",
                    help="the same timeline without SIGHUP (waits 3 s instead): how much the "
                         "resident set grows from the traffic alone (flows, streams)")
    ap.add_argument("--workdir", default="out/bench/reload-peak")
    a = ap.parse_args()

    shutil.rmtree(a.workdir, ignore_errors=True)
    logs = os.path.join(a.workdir, "logs")
    os.makedirs(logs)
    log_path = os.path.join(logs, "sensor.log")
    cmd = [a.sensor, "-r", a.pcap, "-S", a.rules, "-l", logs, "-k", "none",
           "--workers", str(a.workers), "--pcap-speed", str(a.speed),
           "--set", f"detect.hyperscan-cache.path={a.cache}"]
    print("command:", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = re.compile(r"\d+ worker\(s\)")
    reloaded = re.compile(r"rules reloaded: .* in ([0-9.]+) ms")
    failed = re.compile(r"rule reload failed")
    sampler = None
    rows = []
    try:
        wait_for(lambda: count_lines(log_path, started) > 0, 300, "the pipeline to start", proc)
        sampler = Sampler(proc.pid)
        sampler.start()
        time.sleep(a.settle)
        startup_hwm = status_kib(proc.pid, "VmHWM")
        for n in range(1, a.reloads + 1):
            before = status_kib(proc.pid, "VmRSS")
            with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident set
            sampler.reset()
            done_before = count_lines(log_path, reloaded) + count_lines(log_path, failed)
            t0 = time.monotonic()
            if a.control:
                time.sleep(3.0)
            else:
                proc.send_signal(signal.SIGHUP)
                wait_for(lambda: count_lines(log_path, reloaded) + count_lines(log_path, failed)
                         > done_before, 600, f"reload {n} to finish", proc)
                if count_lines(log_path, failed) > 0:
                    sys.exit("reload_peak: a reload failed; see " + log_path)
            wall = time.monotonic() - t0
            time.sleep(a.settle)  # every worker switches between batches, then frees the old db
            peak = max(status_kib(proc.pid, "VmHWM"), sampler.peak)
            after = status_kib(proc.pid, "VmRSS")
            ms = 0.0
            if not a.control:
                with open(log_path, errors="replace") as f:
                    ms = [float(m.group(1)) for m in map(reloaded.search, f) if m][-1]
            rows.append((n, before, peak, after, ms, wall))
    finally:
        if sampler:
            sampler.running = False
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"start-up peak (VmHWM before the first reload): {mib(startup_hwm):.0f} MiB")
    print("| reload | RSS before (MiB) | peak during (MiB) | peak / before | RSS after (MiB) "
          "| reload ms (sensor.log) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, before, peak, after, ms, _ in rows:
        print(f"| {n} | {mib(before):.0f} | {mib(peak):.0f} | {peak / before:.2f} "
              f"| {mib(after):.0f} | {ms:.0f} |")


if __name__ == "__main__":
    main()
