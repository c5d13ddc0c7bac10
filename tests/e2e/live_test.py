#!/usr/bin/env python3
"""Live capture end to end: replay the generated sample into one end of a veth pair inside a
fresh network namespace while the sensor captures on the other end, stop it with SIGINT,
and compare its alerts (count per sid) with an offline run of the same capture.

Nothing leaves the namespace: the veth pair exists only there, has no addresses and no IPv6,
and is deleted with the namespace at the end, also on failure.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, no iproute2/tcpreplay, no network
namespaces here, or a sensor without -i).
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

from e2e_common import (Failure, check, check_accounting, main_wrapper, read_eve, read_stats,
                        run_sensor)

SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def pcap_summary(path):
    """(packets, largest frame on the wire) of a classic pcap file; (None, None) otherwise."""
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24:
            return None, None
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            return None, None
        packets = 0
        largest = 0
        while True:
            record = f.read(16)
            if len(record) < 16:
                break
            _, _, caplen, wire_len = struct.unpack(endian + "IIII", record)
            f.seek(caplen, os.SEEK_CUR)
            packets += 1
            largest = max(largest, wire_len)
        return packets, largest


def sids(log_dir):
    return collections.Counter(e["alert"]["signature_id"]
                               for e in read_eve(log_dir) if e["event_type"] == "alert")


def kernel_drops(stats):
    """Sum of every counter under stats['capture'] whose name speaks of a drop."""
    total = 0

    def walk(node):
        nonlocal total
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, int) and "drop" in key:
                    total += value
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(stats.get("capture", {}))
    return total


class Namespace:
    """A network namespace holding the veth pair cap <-> peer; deleted on exit."""

    def __init__(self, name, mtu):
        self.name = name
        self.mtu = mtu
        self.created = False

    def ip(self, *args, check_rc=True):
        return subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True,
                              check=check_rc)

    def exec_args(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def __enter__(self):
        rc = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if rc.returncode != 0:
            skip(f"ip netns add failed: {rc.stderr.strip()}")
        self.created = True
        # No IPv6, so that neither end sends router or neighbour solicitations.
        for knob in ("all", "default"):
            subprocess.run(self.exec_args(
                ["sysctl", "-qw", f"net.ipv6.conf.{knob}.disable_ipv6=1"]), capture_output=True)
        self.ip("link", "add", "cap", "type", "veth", "peer", "name", "peer")
        for dev in ("cap", "peer"):
            self.ip("link", "set", "dev", dev, "mtu", str(self.mtu))
            self.ip("link", "set", "dev", dev, "up")
        return self

    def __exit__(self, *exc):
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        return False

    def packet_sockets(self):
        out = subprocess.run(self.exec_args(["cat", "/proc/net/packet"]), capture_output=True,
                             text=True)
        return max(0, len(out.stdout.strip().splitlines()) - 1)

    def rx_packets(self, dev):
        out = self.ip("-j", "-s", "link", "show", "dev", dev, check_rc=False).stdout
        try:
            return json.loads(out)[0]["stats64"]["rx"]["packets"]
        except (ValueError, LookupError, TypeError):
            return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--pps", type=int, default=5000,
                    help="replay rate; the default keeps kernel drops away on small machines")
    ap.add_argument("--topspeed", action="store_true", help="replay as fast as possible")
    ap.add_argument("--drain-seconds", type=float, default=3.0,
                    help="wait after the replay before SIGINT")
    a = ap.parse_args()

    if os.geteuid() != 0:
        skip("needs root (network namespace, packet capture)")
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed")
    help_text = subprocess.run([a.sensor, "--help"], capture_output=True, text=True).stdout
    if not re.search(r"^\s*-i[\s,]", help_text, re.MULTILINE):
        skip("the sensor has no -i option yet")

    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    pcap = os.path.join(a.workdir, "sample.pcap")
    subprocess.run([a.trafficgen, "-o", pcap, "--scenario", "all", "--seed", "1"], check=True,
                   capture_output=True)
    packets, largest = pcap_summary(pcap)
    check(packets, f"{pcap}: not a classic pcap file")

    rules = os.path.join(a.source, "rules", "sets")
    config = os.path.join(a.source, "deploy", "sensor.yaml")
    offline_logs = os.path.join(a.workdir, "offline")
    rc, out, err = run_sensor(a.sensor, ["-c", config, "-S", rules, "-r", pcap, "-l", offline_logs])
    check(rc == 0, f"offline run: exit {rc}: {err}")
    offline = sids(offline_logs)
    check(offline, "offline run raised no alerts: nothing to compare")

    # Frames up to the largest in the capture must pass both ends of the pair.
    mtu = min(65535, max(1500, largest - 14))
    live_logs = os.path.join(a.workdir, "live")
    with Namespace(f"sensor-e2e-{os.getpid()}", mtu) as ns:
        rx_before = ns.rx_packets("cap")
        log_out = open(os.path.join(a.workdir, "sensor.stdout"), "w")
        log_err = open(os.path.join(a.workdir, "sensor.stderr"), "w")
        sensor = subprocess.Popen(
            ns.exec_args([a.sensor, "-i", "cap", "-S", rules, "-c", config, "-l", live_logs]),
            stdout=log_out, stderr=log_err)
        try:
            # Ready when its packet sockets exist and their number has settled.
            deadline = time.monotonic() + 60
            seen, stable = -1, 0
            while stable < 3:
                check(sensor.poll() is None,
                      f"sensor exited early ({sensor.returncode}); see {log_err.name}")
                check(time.monotonic() < deadline, "sensor opened no packet socket in 60 s")
                count = ns.packet_sockets()
                stable = stable + 1 if count == seen and count > 0 else 0
                seen = count
                time.sleep(0.3)

            rate = ["--topspeed"] if a.topspeed else [f"--pps={a.pps}"]
            replay = subprocess.run(ns.exec_args(["tcpreplay", "-i", "peer", *rate, pcap]),
                                    capture_output=True, text=True)
            check(replay.returncode == 0, f"tcpreplay failed: {replay.stderr.strip()}")
            m = re.search(r"Successful packets:\s+(\d+)", replay.stdout)
            check(m and int(m.group(1)) == packets,
                  f"tcpreplay sent {m.group(1) if m else '?'} of {packets} packets")
            rx_after = ns.rx_packets("cap")
            if rx_before is not None and rx_after is not None:
                check(rx_after - rx_before == packets,
                      f"cap received {rx_after - rx_before} of {packets} packets")

            time.sleep(a.drain_seconds)
            sensor.send_signal(signal.SIGINT)
            try:
                rc = sensor.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise Failure("sensor did not stop within 60 s of SIGINT")
            check(rc == 0, f"sensor exit {rc} after SIGINT; see {log_err.name}")
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.wait()
            log_out.close()
            log_err.close()

    stats = read_stats(live_logs)
    drops = kernel_drops(stats)
    check(drops == 0, f"capture dropped {drops} packets; rerun with a lower --pps")
    check(stats["capture"]["packets"] == packets,
          f"live capture read {stats['capture']['packets']} packets, replayed {packets}")
    check_accounting(stats)
    live = sids(live_logs)
    check(dict(live) == dict(offline),
          f"alerts by sid differ: live {dict(sorted(live.items()))}, "
          f"offline {dict(sorted(offline.items()))}")
    print(f"live: {packets} packets, {sum(live.values())} alerts in {len(live)} sids, "
          "same as offline")


if __name__ == "__main__":
    main_wrapper(main)
