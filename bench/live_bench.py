#!/usr/bin/env python3
"""Live capture throughput: the release `sensor -i` on one end of a veth pair while tcpreplay
sends a capture into the other end at a series of rates.

For every capture method and worker count of --configs (default: pcap with one worker,
af-packet with one and with two) and every rate of --rates (packets/s for tcpreplay --pps,
`top` for --topspeed), it:
  * starts `sensor -i cap --capture-method M --workers W -S RULES -k none -l DIR` inside a
    fresh network namespace and waits until it has started (rules compiled, sockets open,
    workers running),
  * replays the capture into the peer end with `tcpreplay --loop L` (L chosen so that the
    step lasts about --seconds; --unique-ip by default, so that every loop is new flows),
  * waits until the sensor has read everything (its CPU use falls to idle), stops it with
    SIGINT and reads its stats.json,
and reports per step: offered and achieved send rate (tcpreplay's "Rated: ... pps"), frames
tcpreplay could not send, packets at the capture interface, packets the sensor read, kernel
drops (count and share), dispatch ring drops (pcap method), and CPU during the step: the
sensor's (whole and busiest thread), the sender's, softirq, and other work on the machine
(which makes a step's drops pessimistic). The summary gives, per method and worker count, the
highest rate tested with no loss and with less than --loss-limit of the packets lost.

The sender and the sensor share this machine's cores; the kernel's receive path of the veth
pair (up to the capture ring) runs in the sender's context. Figures are what the machine
does with the sender on the same cores, not what a dedicated capture port would give.

Needs root, iproute2, network namespaces and tcpreplay; exits 77 when one is missing.
Nothing leaves the namespace: the veth pair has no addresses and no IPv6, and the namespace
is deleted at the end, also when interrupted.

Python 3 standard library only. Run from the repository root:
  sudo bench/live_bench.py --build build/release
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from replay_bench import pcap_record_headers  # noqa: E402  (same folder)
from veth_namespace import NamespaceUnavailable, VethNamespace  # noqa: E402
DEFAULT_PCAP = "../shared/corpora/bench/bench-mixed-dev.pcap"
DEFAULT_RULES = "../shared/corpora/rulesets/et-open-2024-04-21_suricata-5.0-enhanced"
DEFAULT_RATES = "25000,50000,100000,200000,400000,top"
DEFAULT_CONFIGS = "pcap:1,af-packet:1,af-packet:2"
SKIP = 77
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Skip(Exception):
    pass


class Interrupted(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def rel(path):
    try:
        return os.path.relpath(path, REPO)
    except ValueError:
        return str(path)


def pcap_summary(path):
    """(packets, largest caplen, largest wire length) of a classic pcap file."""
    packets = largest_cap = largest_wire = 0
    for _, caplen, wire in pcap_record_headers(path):
        packets += 1
        largest_cap = max(largest_cap, caplen)
        largest_wire = max(largest_wire, wire)
    return packets, largest_cap, largest_wire


def proc_cpu(pid):
    """CPU seconds (user + sys) of pid so far: (whole process, {thread id: seconds})."""
    def parse(stat_path):
        text = Path(stat_path).read_text()
        fields = text[text.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    try:
        total = parse(f"/proc/{pid}/stat")
        threads = {}
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                threads[int(task)] = parse(f"/proc/{pid}/task/{task}/stat")
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
        return total, threads
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None, {}


def machine_cpu():
    """The machine's CPU time so far by kind, in seconds, from the first line of /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {n: int(v) / CLK_TCK for n, v in zip(names, fields)}


def softnet_dropped():
    """Packets the kernel dropped because a CPU's input backlog was full (all CPUs)."""
    total = 0
    try:
        for line in Path("/proc/net/softnet_stat").read_text().splitlines():
            total += int(line.split()[1], 16)
    except (OSError, IndexError, ValueError):
        return None
    return total


class Namespace(VethNamespace):
    """The benchmark's namespace; open() also turns receive coalescing off."""

    def open(self):
        try:
            super().open()
        except NamespaceUnavailable as e:
            raise Skip(str(e))
        notes = []
        if shutil.which("ethtool"):
            # Frames must reach the sensor as they were sent (no receive coalescing).
            for dev in ("cap", "peer"):
                subprocess.run(self.exec_args(["ethtool", "-K", dev, "gro", "off", "lro", "off"]),
                               capture_output=True)
        else:
            notes.append("ethtool not installed: veth offloads left at their defaults "
                         "(receive GRO is off on veth unless XDP is attached)")
        return notes


def parse_tcpreplay(text):
    """The counts and rates tcpreplay prints at the end of a replay."""
    out = {}
    m = re.search(r"Actual:\s+(\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds", text)
    if m:
        out["sent_packets"] = int(m.group(1))
        out["sent_bytes"] = int(m.group(2))
        out["send_s"] = float(m.group(3))
    m = re.search(r"Rated:.*?([\d.]+) pps", text)
    if m:
        out["send_pps"] = float(m.group(1))
    for key, pattern in (("successful", r"Successful packets:\s+(\d+)"),
                         ("failed_write_attempts", r"Failed write attempts:\s+(\d+)"),
                         ("failed", r"Failed packets:\s+(\d+)"),
                         ("truncated", r"Truncated packets:\s+(\d+)"),
                         ("retried_enobufs", r"Retried packets \(ENOBUFS\):\s+(\d+)"),
                         ("retried_eagain", r"Retried packets \(EAGAIN\):\s+(\d+)")):
        m = re.search(pattern, text)
        if m:
            out[key] = int(m.group(1))
    return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.sensor_proc = None
        self.replay_proc = None
        self.ns = None

    def stop_children(self):
        """Kills what this script started and has not reaped (used on the way out)."""
        for proc in (self.replay_proc, self.sensor_proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        self.replay_proc = None
        self.sensor_proc = None

    def wait_ready(self, proc, log_dir, err_path, label):
        """Until the sensor logs its workers and its packet sockets have settled."""
        sensor_log = log_dir / "sensor.log"
        deadline = time.monotonic() + self.args.startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{label}: sensor exited during start-up with "
                                   f"{proc.returncode}; see {rel(err_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: sensor not started after "
                                   f"{self.args.startup_timeout} s; see {rel(err_path)}")
            if sensor_log.exists() and " worker(s)" in sensor_log.read_text(errors="replace"):
                break
            time.sleep(0.1)
        seen, stable = -1, 0
        while stable < 3:
            count = self.ns.packet_sockets()
            stable = stable + 1 if count == seen and count > 0 else 0
            seen = count
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: packet sockets did not settle")
            time.sleep(0.2)
        # The sensor's CPU use with no traffic: its threads wake while idle, so "drained"
        # below is measured against this.
        before, _ = proc_cpu(proc.pid)
        time.sleep(self.args.settle)
        after, _ = proc_cpu(proc.pid)
        idle = 0.0 if before is None or after is None else (after - before) / self.args.settle
        return seen, idle

    def wait_drained(self, pid, idle_cores):
        """Until the sensor's CPU use over --idle-window falls to its idle use plus
        --idle-cores (it has read and analysed what the replay left in its rings), at most
        --drain-max seconds."""
        start = time.monotonic()
        window = self.args.idle_window
        before, _ = proc_cpu(pid)
        while time.monotonic() - start < self.args.drain_max:
            time.sleep(window)
            now, _ = proc_cpu(pid)
            if before is None or now is None:
                break
            if (now - before) / window < idle_cores + self.args.idle_cores:
                break
            before = now
        return time.monotonic() - start

    def step(self, sensor, method, workers, rate, step_dir):
        a = self.args
        label = f"{method} --workers {workers} @ {rate}"
        if step_dir.exists():
            shutil.rmtree(step_dir)
        log_dir = step_dir / "logs"
        step_dir.mkdir(parents=True)
        cmd = [str(sensor), "-i", "cap", "--capture-method", method, "--workers", str(workers),
               "-k", "none", "-l", str(log_dir)]
        for r in a.rules:
            cmd += ["-S", str((REPO / r).resolve())]
        cmd += a.sensor_arg
        err_path = step_dir / "sensor.out"
        result = {"method": method, "workers": workers,
                  "offered_pps": None if rate == "top" else int(rate),
                  "command": " ".join(cmd)}
        if rate == "top":
            loops = a.topspeed_loops
            rate_args = ["--topspeed"]
        else:
            loops = max(1, math.ceil(a.seconds * int(rate) / self.packets))
            rate_args = [f"--pps={rate}"]
        result["loops"] = loops
        replay_cmd = ["tcpreplay", "-i", "peer", *rate_args, f"--loop={loops}", "--preload-pcap",
                      "--no-flow-stats"]
        if a.unique_ip and loops > 1:
            replay_cmd.append("--unique-ip")
        replay_cmd.append(str(self.pcap))
        result["replay_command"] = " ".join(replay_cmd)

        with open(err_path, "wb") as err:
            started = time.monotonic()
            self.sensor_proc = subprocess.Popen(self.ns.exec_args(cmd), stdout=err,
                                                stderr=subprocess.STDOUT, cwd=REPO)
        pid = self.sensor_proc.pid
        result["sockets"], result["idle_cores"] = self.wait_ready(self.sensor_proc, log_dir,
                                                                   err_path, label)
        result["startup_s"] = time.monotonic() - started
        cap0, peer0 = self.ns.link_stats("cap"), self.ns.link_stats("peer")
        softnet0 = softnet_dropped()
        result["load_average_1m"] = os.getloadavg()[0]
        cpu0, threads0 = proc_cpu(pid)
        machine0 = machine_cpu()
        window_start = time.monotonic()

        replay_out = step_dir / "tcpreplay.out"
        with open(replay_out, "wb") as out:
            self.replay_proc = subprocess.Popen(self.ns.exec_args(replay_cmd), stdout=out,
                                                stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(self.replay_proc.pid, 0)
            self.replay_proc.returncode = os.waitstatus_to_exitcode(status)
        replay_rc = self.replay_proc.returncode
        self.replay_proc = None
        result["sender_cpu_s"] = usage.ru_utime + usage.ru_stime
        replay_text = replay_out.read_text(errors="replace")
        result["tcpreplay"] = parse_tcpreplay(replay_text)
        if replay_rc != 0:
            result["error"] = f"tcpreplay exited with {replay_rc}: {replay_text.strip()[-300:]}"

        result["drain_s"] = self.wait_drained(pid, result["idle_cores"])
        cpu1, threads1 = proc_cpu(pid)
        machine1 = machine_cpu()
        window = time.monotonic() - window_start
        cap1, peer1 = self.ns.link_stats("cap"), self.ns.link_stats("peer")
        softnet1 = softnet_dropped()
        result["window_s"] = window
        if cpu0 is not None and cpu1 is not None:
            result["sensor_cpu_s"] = cpu1 - cpu0
            result["sensor_cores"] = (cpu1 - cpu0) / window if window > 0 else 0.0
            # Thread ids in creation order; the threads have no names of their own.
            per_thread = [cpu - threads0.get(tid, 0.0) for tid, cpu in sorted(threads1.items())]
            result["sensor_threads_cpu_s"] = [round(c, 3) for c in per_thread]
            busiest = max(per_thread, default=0.0)
            result["busiest_thread_cores"] = busiest / window if window > 0 else 0.0
        # Where the machine's cores went during the step (softirq: the veth receive path).
        result["machine_cores"] = {k: round((machine1[k] - machine0[k]) / window, 3)
                                   for k in machine0} if window > 0 else {}
        if window > 0 and "sensor_cpu_s" in result:
            # Process time on the machine that was neither the sensor's nor the sender's: other
            # work sharing the cores during the step (it makes the step's figures pessimistic).
            m = result["machine_cores"]
            result["other_cores"] = max(0.0, m["user"] + m["nice"] + m["system"]
                                        - result["sensor_cores"]
                                        - result["sender_cpu_s"] / window)
        if cap0 and cap1:
            result["cap_rx_packets"] = cap1["rx_packets"] - cap0["rx_packets"]
            # peer tx_dropped: frames the veth could not hand over (lost before any capture).
            # cap rx_dropped: frames the stack discarded after the packet taps had seen them
            # (no IPv6, unknown ethertypes): not capture losses.
            result["peer_tx_dropped"] = peer1["tx_dropped"] - peer0["tx_dropped"]
            result["cap_rx_dropped_by_stack"] = cap1["rx_dropped"] - cap0["rx_dropped"]
        if softnet0 is not None and softnet1 is not None:
            result["softnet_dropped"] = softnet1 - softnet0

        self.sensor_proc.send_signal(signal.SIGINT)
        try:
            _, status, usage = os.wait4(pid, 0)
            self.sensor_proc.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass
        rc = self.sensor_proc.returncode
        self.sensor_proc = None
        result["sensor_exit"] = rc
        result["sensor_cpu_total_s"] = usage.ru_utime + usage.ru_stime
        result["sensor_max_rss_mib"] = usage.ru_maxrss / 1024
        if rc != 0:
            result.setdefault("error", f"sensor exited with {rc} after SIGINT; see "
                                       f"{rel(err_path)}")
        stats_path = log_dir / "stats.json"
        if stats_path.exists():
            stats = json.loads(stats_path.read_text())
            capture = stats.get("capture", {})
            dispatch = stats.get("dispatch", {})
            result["sensor_packets"] = capture.get("packets")
            result["kernel_dropped"] = capture.get("kernel_dropped")
            result["interface_dropped"] = capture.get("interface_dropped")
            result["ring_full_drops"] = dispatch.get("ring_full_drops")
            result["per_source_packets"] = [f.get("packets") for f in capture.get("files", [])]
            result["per_source_kernel_dropped"] = [f.get("kernel_dropped")
                                                   for f in capture.get("files", [])]
            result["alerts"] = stats.get("alerts", {}).get("total")
        else:
            result.setdefault("error", f"no stats.json; see {rel(err_path)}")
        self.account(result)
        return result

    def account(self, r):
        """Derived figures: what was lost where, and the checks that the counts add up."""
        tr = r.get("tcpreplay", {})
        expected = self.packets * r["loops"]
        r["expected_packets"] = expected
        sent = tr.get("successful", tr.get("sent_packets"))
        r["not_sent"] = None if sent is None else expected - sent
        if r.get("sensor_packets") is None:
            return
        kernel = r.get("kernel_dropped") or 0
        ring = r.get("ring_full_drops") or 0
        at_iface = r.get("cap_rx_packets")
        r["lost"] = kernel + ring
        # Share of the packets that reached the capture interface.
        base = at_iface if at_iface else r["sensor_packets"] + kernel
        r["kernel_dropped_share"] = kernel / base if base else 0.0
        r["lost_share"] = (kernel + ring) / base if base else 0.0
        notes = []
        if sent is not None and at_iface is not None and at_iface != sent:
            notes.append(f"tcpreplay sent {sent}, cap received {at_iface} "
                         f"(peer tx_dropped {r.get('peer_tx_dropped')})")
        if at_iface is not None and r["sensor_packets"] + kernel != at_iface:
            # Read + dropped should be every packet at the interface once the sensor has
            # drained its rings; a difference is packets left unread or counted wrongly.
            notes.append(f"sensor read {r['sensor_packets']} + kernel dropped {kernel} = "
                         f"{r['sensor_packets'] + kernel}, cap received {at_iface} "
                         f"(difference {at_iface - r['sensor_packets'] - kernel})")
        sources = [p for p in r.get("per_source_packets", []) if p is not None]
        if sources and sum(sources) != r["sensor_packets"]:
            notes.append(f"per-source packets {sources} do not add up to "
                         f"{r['sensor_packets']}")
        if r["workers"] > 1 and r["method"] == "af-packet" and len(sources) != r["workers"]:
            notes.append(f"{len(sources)} sockets for {r['workers']} workers")
        if notes:
            r["notes"] = notes


def fmt_int(v):
    return "-" if v is None else f"{v:,}"


def print_table(results):
    print("  method     W  offered   sent pps     at cap       read  kernel drops (%)   ring"
          "   sensor CPU (cores)  busiest  sender  softirq  others")
    for r in results:
        tr = r.get("tcpreplay", {})
        offered = "top" if r["offered_pps"] is None else f"{r['offered_pps']:,}"
        share = r.get("kernel_dropped_share")
        drops = ("-" if r.get("kernel_dropped") is None else
                 f"{r['kernel_dropped']:,} ({100 * share:.3f}%)")
        cpu = ("-" if r.get("sensor_cpu_s") is None else
               f"{r['sensor_cpu_s']:.2f} s ({r['sensor_cores']:.2f})")
        busiest = r.get("busiest_thread_cores")
        softirq = r.get("machine_cores", {}).get("softirq")
        others = r.get("other_cores")
        print(f"  {r['method']:<10} {r['workers']:<2} {offered:>8} "
              f"{tr.get('send_pps', 0):>10,.0f} {fmt_int(r.get('cap_rx_packets')):>10} "
              f"{fmt_int(r.get('sensor_packets')):>10} {drops:>19} "
              f"{fmt_int(r.get('ring_full_drops')):>5} {cpu:>20} "
              f"{'-' if busiest is None else f'{busiest:.2f}':>8} "
              f"{r.get('sender_cpu_s', 0):>5.2f} s "
              f"{'-' if softirq is None else f'{softirq:.2f}':>8} "
              f"{'-' if others is None else f'{others:.2f}':>7}")
        for note in r.get("notes", []):
            print(f"      note: {note}")
        if r.get("error"):
            print(f"      error: {r['error']}")
        if r.get("not_sent"):
            print(f"      {r['not_sent']:,} of {r['expected_packets']:,} frames not sent "
                  f"(tcpreplay: {tr.get('failed_write_attempts', 0):,} failed write attempts, "
                  f"{tr.get('failed', 0)} failed, {tr.get('truncated', 0)} truncated)")


def summarise(results, loss_limit):
    """Per method and worker count, by tcpreplay's achieved rate: the highest rate tested
    that lost nothing, the highest that lost less than loss_limit, and the lowest that lost
    more."""
    out = {}
    for r in results:
        key = f"{r['method']}:{r['workers']}"
        s = out.setdefault(key, {"method": r["method"], "workers": r["workers"],
                                 "zero_loss_send_pps": None, "zero_loss_offered": None,
                                 "under_limit_send_pps": None, "under_limit_offered": None,
                                 "first_over_limit_send_pps": None})
        pps = r.get("tcpreplay", {}).get("send_pps")
        if r.get("lost_share") is None or r.get("error") or pps is None:
            continue
        offered = r["offered_pps"] if r["offered_pps"] else "top"
        if r["lost"] == 0 and (s["zero_loss_send_pps"] is None or pps > s["zero_loss_send_pps"]):
            s["zero_loss_send_pps"], s["zero_loss_offered"] = pps, offered
        if r["lost_share"] < loss_limit:
            if s["under_limit_send_pps"] is None or pps > s["under_limit_send_pps"]:
                s["under_limit_send_pps"], s["under_limit_offered"] = pps, offered
        elif s["first_over_limit_send_pps"] is None or pps < s["first_over_limit_send_pps"]:
            s["first_over_limit_send_pps"] = pps
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release", help="build tree holding sensor/app/sensor")
    ap.add_argument("--pcap", default=DEFAULT_PCAP)
    ap.add_argument("--rules", action="append", help="rule file or directory (repeatable)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS,
                    help="comma-separated METHOD:WORKERS (pcap or af-packet)")
    ap.add_argument("--rates", default=DEFAULT_RATES,
                    help="comma-separated packets/s for tcpreplay --pps; 'top' for --topspeed")
    ap.add_argument("--seconds", type=float, default=5.0,
                    help="about how long each paced step sends (sets --loop)")
    ap.add_argument("--topspeed-loops", type=int, default=10, help="--loop for --topspeed")
    ap.add_argument("--no-unique-ip", dest="unique_ip", action="store_false",
                    help="repeat the same flows in every loop (default: tcpreplay --unique-ip)")
    ap.add_argument("--loss-limit", type=float, default=0.001,
                    help="share of lost packets that still counts as clean (default 0.1%%)")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds between start-up and the replay (the idle CPU use is "
                         "measured over them)")
    ap.add_argument("--idle-window", type=float, default=0.5)
    ap.add_argument("--idle-cores", type=float, default=0.05,
                    help="the sensor counts as drained when its CPU use (cores) is at most "
                         "this above its idle use before the replay")
    ap.add_argument("--drain-max", type=float, default=60.0)
    ap.add_argument("--sensor-arg", action="append", default=[],
                    help="extra sensor argument (repeatable; e.g. --sensor-arg=--set "
                         "--sensor-arg=capture.af-packet.block-count=32)")
    ap.add_argument("--wait-load", type=float, default=0.0,
                    help="before starting, wait (at most 30 min) until the 1-minute load "
                         "average is below this (0: do not wait)")
    ap.add_argument("--out", default="out/bench", help="scratch folder (git-ignored)")
    ap.add_argument("--json", default="", help="summary file (default OUT/live_bench.json)")
    a = ap.parse_args()
    a.rules = a.rules or [DEFAULT_RULES]

    if os.geteuid() != 0:
        raise Skip("needs root (network namespace, packet capture)")
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} not installed")
    if not Path("/proc/self/ns/net").exists():
        raise Skip("no network namespaces on this kernel")
    built = (REPO / a.build).resolve() / "sensor/app/sensor"
    if not built.exists():
        raise SystemExit(f"live_bench: {rel(built)} not built (cmake --build {a.build} "
                         "--target sensor)")
    configs = []
    for item in a.configs.split(","):
        method, _, workers = item.partition(":")
        if method not in ("pcap", "af-packet") or not workers.isdigit():
            raise SystemExit(f"live_bench: --configs: bad entry {item!r} (METHOD:WORKERS)")
        configs.append((method, int(workers)))
    rates = [r for r in a.rates.split(",") if r]
    for r in rates:
        if r != "top" and not r.isdigit():
            raise SystemExit(f"live_bench: --rates: bad entry {r!r}")

    out = (REPO / a.out).resolve()
    work = out / "live"
    work.mkdir(parents=True, exist_ok=True)
    # A private copy: a rebuild during the run must not change the binary between steps.
    sensor = work / "sensor"
    shutil.copy2(built, sensor)

    bench = Bench(a)
    bench.pcap = (REPO / a.pcap).resolve()
    bench.packets, largest_cap, largest_wire = pcap_summary(bench.pcap)
    # The MTU counts the bytes after the 14-byte Ethernet header; veth allows up to 65535.
    mtu = min(65535, max(1500, largest_cap - 14))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    # Sources edited after the binary was linked: the figures are not those of the tree.
    built_at = built.stat().st_mtime
    newer = [rel(p) for p in (REPO / "sensor").rglob("*")
             if p.suffix in (".cc", ".h") and p.stat().st_mtime > built_at]
    if a.wait_load > 0:
        deadline = time.monotonic() + 1800
        while os.getloadavg()[0] >= a.wait_load and time.monotonic() < deadline:
            log(f"load average {os.getloadavg()[0]:.2f}: waiting for < {a.wait_load}")
            time.sleep(30)
    summary = {
        "load_average_at_start": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # The tree's commit when the run started; the binary may be older (see the next key).
        "head": head,
        "sources_newer_than_binary": newer,
        "binary": rel(built),
        "binary_mtime": time.strftime("%Y-%m-%dT%H:%M:%S%z",
                                      time.localtime(built.stat().st_mtime)),
        "nproc": os.cpu_count(),
        "kernel": os.uname().release,
        "pcap": rel(bench.pcap),
        "pcap_packets": bench.packets,
        "largest_frame": largest_cap,
        "largest_wire_frame": largest_wire,
        "mtu": mtu,
        "rules": [rel(REPO / r) for r in a.rules],
        "unique_ip": a.unique_ip,
        "loss_limit": a.loss_limit,
        "notes": [f"the sender (tcpreplay) and the sensor share this machine's "
                  f"{os.cpu_count()} CPUs; the veth receive path up to the capture ring runs "
                  "in the sender's context"],
    }
    if newer:
        summary["notes"].append(f"{len(newer)} source file(s) under sensor/ are newer than "
                                f"{rel(built)} (first: {newer[0]}); rebuild to measure them")
    for note in summary["notes"]:
        log(note)
    if largest_cap > 65535 + 14:
        summary["notes"].append(f"frames above {65535 + 14} bytes cannot cross the veth pair")

    def on_term(signum, _frame):
        raise Interrupted(f"signal {signum}")

    # Also when started in the background, where SIGINT may arrive ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    results = []
    bench.ns = Namespace(f"sensor-livebench-{os.getpid()}", mtu)
    try:
        summary["notes"] += bench.ns.open()
        for method, workers in configs:
            for rate in rates:
                log(f"{method} --workers {workers}, "
                    + ("--topspeed" if rate == "top" else f"--pps {rate}"))
                try:
                    r = bench.step(sensor, method, workers, rate,
                                   work / f"{method}-w{workers}-{rate}")
                except RuntimeError as e:
                    bench.stop_children()
                    r = {"method": method, "workers": workers,
                         "offered_pps": None if rate == "top" else int(rate), "error": str(e)}
                results.append(r)
                tr = r.get("tcpreplay", {})
                log(f"  sent {tr.get('send_pps', 0):,.0f} pps, read "
                    f"{fmt_int(r.get('sensor_packets'))}, kernel dropped "
                    f"{fmt_int(r.get('kernel_dropped'))}"
                    + (f", error: {r['error']}" if r.get("error") else ""))
    except (KeyboardInterrupt, Interrupted):
        log("live_bench: interrupted; cleaning up")
        raise
    finally:
        bench.stop_children()
        bench.ns.close()

    summary["steps"] = results
    summary["clean"] = summarise(results, a.loss_limit)

    print(f"live_bench: {rel(bench.pcap)} ({bench.packets:,} packets, largest frame "
          f"{largest_cap} B, veth MTU {mtu}), rules {', '.join(summary['rules'])}, "
          f"HEAD {summary['head']}, binary of {summary['binary_mtime']}, nproc {os.cpu_count()}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    print_table(results)
    print(f"  highest rate tested (tcpreplay's achieved rate) with no loss and with less than "
          f"{100 * a.loss_limit:g}% lost (kernel + dispatch ring):")

    def rate(pps, offered):
        return "no step" if pps is None else f"up to {pps:,.0f} pps (offered {offered})"

    for s in summary["clean"].values():
        over = ("" if s["first_over_limit_send_pps"] is None else
                f"; {100 * a.loss_limit:g}% or more from {s['first_over_limit_send_pps']:,.0f} pps")
        print(f"    {s['method']:<10} --workers {s['workers']}: no loss "
              f"{rate(s['zero_loss_send_pps'], s['zero_loss_offered'])}, under "
              f"{100 * a.loss_limit:g}% "
              f"{rate(s['under_limit_send_pps'], s['under_limit_offered'])}{over}")

    json_path = Path(a.json) if a.json else out / "live_bench.json"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    log(f"summary: {rel(json_path)}")


if __name__ == "__main__":
    try:
        main()
    except Skip as e:
        print(f"SKIP: {e}")
        sys.exit(SKIP)
    except (KeyboardInterrupt, Interrupted):
        sys.exit(130)
