#!/usr/bin/env python3
"""Live capture end to end: replay the generated sample into one end of a veth pair inside a
fresh network namespace while the sensor captures on the other end, stop it with SIGINT,
and compare its alerts (count per sid) with an offline run of the same capture. Two runs:
libpcap (one capture thread, dispatch rings) and af-packet with 2 workers (one fanout
socket per worker, read by the worker itself; SIGHUP reloads the rules before the replay,
and the sensor runs as nobody once its sockets are open, when that user exists).

Nothing leaves the namespace: the veth pair exists only there, has no addresses and no IPv6,
and is deleted with the namespace at the end, also on failure.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, no iproute2/tcpreplay, no network
namespaces here, or a sensor without -i).
"""

import argparse
import collections
import os
import pwd
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

from e2e_common import (Failure, check, check_accounting, main_wrapper, read_eve, read_stats,
                        run_sensor)
from veth_namespace import NamespaceUnavailable, VethNamespace

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


class Namespace(VethNamespace):
    """The test's namespace: a failure to create it skips the test."""

    def __enter__(self):
        try:
            return self.open()
        except NamespaceUnavailable as e:
            skip(str(e))

    def rx_packets(self, dev):
        return self.link_stats(dev).get("rx_packets")


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
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        nobody = None
    af_packet = ["--capture-method", "af-packet", "--workers", "2"]
    if nobody:
        af_packet += ["--user", "nobody"]
    runs = [("pcap", []), ("af-packet", af_packet)]
    for name, extra in runs:
        live_logs = os.path.join(a.workdir, "live-" + name)
        if nobody:
            os.makedirs(live_logs)
            os.chmod(live_logs, 0o777)  # written after the privilege drop
        stats = live_run(a, name, extra, ["-S", rules, "-c", config, "-l", live_logs], pcap,
                         packets, mtu, reload=name == "af-packet",
                         uid=nobody.pw_uid if nobody and name == "af-packet" else None)
        drops = kernel_drops(stats)
        check(drops == 0, f"{name}: capture dropped {drops} packets; rerun with a lower --pps")
        check(stats["capture"]["packets"] == packets,
              f"{name}: live capture read {stats['capture']['packets']} packets, "
              f"replayed {packets}")
        check_accounting(stats)
        dispatch = stats["dispatch"]
        check(dispatch["enqueued"] + dispatch["ring_full_drops"] == packets,
              f"{name}: enqueued {dispatch['enqueued']} + ring drops "
              f"{dispatch['ring_full_drops']} != packets read {packets}")
        if name == "af-packet":
            files = stats["capture"]["files"]
            check(len(files) == 2 and dispatch["workers"] == 2,
                  f"af-packet: {len(files)} sockets for {dispatch['workers']} workers, want 2")
            check(dispatch["ring_full_drops"] == 0, "af-packet: ring drops without rings")
            for i, f in enumerate(files):
                check(f["packets"] > 0, f"af-packet: socket {i} received nothing: no fanout")
                check(f["packets"] == dispatch["per_worker"][i]["enqueued"],
                      f"af-packet: socket {i} read {f['packets']}, worker {i} got "
                      f"{dispatch['per_worker'][i]['enqueued']}")
            check(stats["rules"]["reloads"]["ok"] == 1,
                  f"af-packet: SIGHUP reloads {stats['rules']['reloads']}")
        live = sids(live_logs)
        check(dict(live) == dict(offline),
              f"{name}: alerts by sid differ: live {dict(sorted(live.items()))}, "
              f"offline {dict(sorted(offline.items()))}")
        print(f"{name}: {packets} packets, {sum(live.values())} alerts in {len(live)} sids, "
              "same as offline")

    # af-packet refuses an interface that is not Ethernet, saying so, before it starts.
    with Namespace(f"sensor-e2e-{os.getpid()}-tun", 1500) as ns:
        made = ns.ip("tuntap", "add", "dev", "tun0", "mode", "tun", check_rc=False)
        if made.returncode != 0:
            print(f"tun check skipped: {made.stderr.strip()}")
            return
        ns.ip("link", "set", "dev", "tun0", "up")
        refused = subprocess.run(
            ns.exec_args([a.sensor, "-i", "tun0", "--capture-method", "af-packet", "-S", rules,
                          "-c", config, "-l", os.path.join(a.workdir, "live-tun")]),
            capture_output=True, text=True, timeout=120)
        check(refused.returncode == 1 and "not Ethernet" in refused.stderr,
              f"af-packet on tun0: exit {refused.returncode}, {refused.stderr.strip()!r}")


def live_run(a, name, extra, args, pcap, packets, mtu, reload=False, uid=None):
    """Runs the sensor on a fresh veth pair while tcpreplay sends pcap into the peer, stops
    it with SIGINT, and returns its stats.json. With reload, sends SIGHUP first and waits for
    the reloaded rules. With uid, checks that the running sensor has dropped to that user."""
    log_dir = args[args.index("-l") + 1]
    with Namespace(f"sensor-e2e-{os.getpid()}-{name}", mtu) as ns:
        rx_before = ns.rx_packets("cap")
        log_out = open(os.path.join(a.workdir, f"sensor-{name}.stdout"), "w")
        log_err = open(os.path.join(a.workdir, f"sensor-{name}.stderr"), "w")
        sensor = subprocess.Popen(ns.exec_args([a.sensor, "-i", "cap", *extra, *args]),
                                  stdout=log_out, stderr=log_err)
        try:
            # Ready when its packet sockets exist and their number has settled.
            deadline = time.monotonic() + 60
            seen, stable = -1, 0
            while stable < 3:
                check(sensor.poll() is None,
                      f"{name}: sensor exited early ({sensor.returncode}); see {log_err.name}")
                check(time.monotonic() < deadline,
                      f"{name}: sensor opened no packet socket in 60 s")
                count = ns.packet_sockets()
                stable = stable + 1 if count == seen and count > 0 else 0
                seen = count
                time.sleep(0.3)
            if uid is not None:
                deadline = time.monotonic() + 60
                while True:
                    with open(f"/proc/{sensor.pid}/status") as f:
                        uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
                    if all(int(u) == uid for u in uids):
                        break
                    check(sensor.poll() is None, f"{name}: sensor exited early; see {log_err.name}")
                    check(time.monotonic() < deadline, f"{name}: still uids {uids}, want {uid}")
                    time.sleep(0.2)
            if reload:
                sensor_log = os.path.join(log_dir, "sensor.log")
                deadline = time.monotonic() + 60
                # The log exists once the sensor has started up; then the reload.
                while not os.path.exists(sensor_log):
                    check(time.monotonic() < deadline, f"{name}: no {sensor_log} in 60 s")
                    time.sleep(0.2)
                sensor.send_signal(signal.SIGHUP)
                while "rules reloaded" not in open(sensor_log).read():
                    check(sensor.poll() is None, f"{name}: sensor exited after SIGHUP")
                    check(time.monotonic() < deadline, f"{name}: no rule reload in 60 s")
                    time.sleep(0.2)

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
                raise Failure(f"{name}: sensor did not stop within 60 s of SIGINT")
            check(rc == 0, f"{name}: sensor exit {rc} after SIGINT; see {log_err.name}")
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.wait()
            log_out.close()
            log_err.close()
    return read_stats(log_dir)


if __name__ == "__main__":
    main_wrapper(main)
