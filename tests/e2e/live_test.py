#!/usr/bin/env python3
"""Live capture end to end: replay the generated sample into one end of a veth pair inside a
fresh network namespace while the sensor captures on the other end, stop it with SIGINT,
and compare its alerts (count per sid) and its flow records (the set of 5-tuples) with an
offline run of the same capture. Three runs:
  pcap            libpcap in immediate mode, the default worker count (on two CPUs one
                  worker, which runs inline on the capture thread);
  pcap-2-blocks   libpcap in block mode (capture.pcap.immediate: false) with 2 workers: the
                  capture thread dispatches to the workers over the SPSC rings;
  af-packet       2 workers, one fanout socket each, read by the worker itself; SIGHUP
                  reloads the rules before the replay, and the sensor runs as nobody once its
                  sockets are open, when that user exists.
Then, without traffic: capture filters (capture.bpf-filter, -f overriding it, a bad one
refused at start naming where it came from, -f with -r filtering the file) and af-packet
refusing a tun device.

Nothing leaves the namespace: the veth pair exists only there, has no addresses and no IPv6,
and is deleted with the namespace at the end, also on failure.

Exit codes: 0 pass, 1 fail, 77 skipped (not root, no iproute2/tcpreplay, or no network
namespaces here). With SENSOR_REQUIRE_LIVE=1 in the environment (scripts/test.sh sets it when
run as root, as CI is) every reason to skip is a failure instead.
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
    if os.environ.get("SENSOR_REQUIRE_LIVE") == "1":
        print(f"FAIL: would skip ({reason}), but SENSOR_REQUIRE_LIVE=1 requires the live test")
        sys.exit(1)
    # ctest shows the test as skipped (SKIP_RETURN_CODE 77); the reason goes to its log.
    print(f"SKIP: {reason}", flush=True)
    print(f"live_test: SKIP: {reason}", file=sys.stderr)
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


def flow_tuples(log_dir):
    """The 5-tuples of the flow records. Live, packet times are the receive times of a replay
    compressed to a few seconds, so flows that time out offline end at shutdown live (and
    their `reason`, `end` and `age` differ); each 5-tuple occurs once in the sample, so the
    set of flows is the same."""
    return {(e["proto"], e["src_ip"], e.get("src_port"), e["dest_ip"], e.get("dest_port"))
            for e in read_eve(log_dir) if e["event_type"] == "flow"}


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
    for tool in ("ip", "tcpreplay", "ethtool"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed")
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
    offline_flows = flow_tuples(offline_logs)
    check(offline_flows, "offline run wrote no flow records: nothing to compare")

    # Frames up to the largest in the capture must pass both ends of the pair.
    mtu = min(65535, max(1500, largest - 14))
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        nobody = None
    af_packet = ["--capture-method", "af-packet", "--workers", "2"]
    if nobody:
        af_packet += ["--user", "nobody"]
    pcap_threaded = ["--workers", "2", "--set", "capture.pcap.immediate=false"]
    runs = [("pcap", []), ("pcap-2-blocks", pcap_threaded), ("af-packet", af_packet)]
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
        if name == "pcap-2-blocks":
            check(dispatch["workers"] == 2, f"{name}: {dispatch['workers']} workers, want 2")
            for i, w in enumerate(dispatch["per_worker"]):
                check(w["enqueued"] > 0, f"{name}: worker {i} got nothing over its ring")
            log = open(os.path.join(live_logs, "sensor.log")).read()
            check("kernel-filled blocks (TPACKET_V3)" in log,
                  f"{name}: sensor.log does not say libpcap runs in block mode")
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
        live_flows = flow_tuples(live_logs)
        check(live_flows == offline_flows,
              f"{name}: flow 5-tuples differ: {len(live_flows - offline_flows)} only live "
              f"(e.g. {sorted(live_flows - offline_flows, key=str)[:3]}), "
              f"{len(offline_flows - live_flows)} only offline "
              f"(e.g. {sorted(offline_flows - live_flows, key=str)[:3]})")
        print(f"{name}: {packets} packets, {sum(live.values())} alerts in {len(live)} sids and "
              f"{len(live_flows)} flows, {dispatch['workers']} worker(s), same as offline")

    check_filters(a, rules, config, pcap)

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


def check_filters(a, rules, config, pcap):
    """A capture filter comes from capture.bpf-filter or -f, which overrides it. A bad one is
    refused at start (exit 2) naming where it came from, with libpcap's message, for both
    methods; -f with -r filters the file too (tests/e2e/cli_test.py checks what passes)."""
    base = ["-S", rules, "-c", config]
    rc, _, err = run_sensor(a.sensor, ["-r", pcap, "-f", "tcp", *base,
                                       "-l", os.path.join(a.workdir, "filter-r")])
    check(rc == 0 and "capture filter (-f): tcp" in open(
              os.path.join(a.workdir, "filter-r", "sensor.log")).read(),
          f"-f with -r: exit {rc}, {err.strip()!r}")
    bad = "tcp port notaport"
    with Namespace(f"sensor-e2e-{os.getpid()}-filter", 1500) as ns:
        def sensor_args(extra, log_name):
            return ns.exec_args([a.sensor, "-i", "cap", *extra, *base,
                                 "-l", os.path.join(a.workdir, log_name)])

        for method in ("pcap", "af-packet"):
            for origin, extra in (("config key 'capture.bpf-filter'",
                                   ["--set", f"capture.bpf-filter={bad}"]),
                                  ("-f", ["-f", bad])):
                refused = subprocess.run(
                    sensor_args(["--capture-method", method, *extra], f"filter-{method}"),
                    capture_output=True, text=True, timeout=120)
                check(refused.returncode == 2
                      and f"error: {origin}: " in refused.stderr
                      and f"bad capture filter '{bad}': " in refused.stderr
                      and "notaport" in refused.stderr.split(f"'{bad}': ")[-1],
                      f"{method}, bad filter from {origin}: exit {refused.returncode}, "
                      f"{refused.stderr.strip()!r}")

        # A good filter from the config is used; -f replaces it (the config's, bad here,
        # is then never compiled).
        for origin, extra in (("config key 'capture.bpf-filter'",
                               ["--set", "capture.bpf-filter=udp port 53"]),
                              ("-f", ["--set", f"capture.bpf-filter={bad}", "-f",
                                      "udp port 53"])):
            log_name = "filter-ok-" + ("f" if origin == "-f" else "config")
            sensor_log = os.path.join(a.workdir, log_name, "sensor.log")
            err_path = os.path.join(a.workdir, log_name + ".stderr")
            with open(err_path, "w") as err_file:
                sensor = subprocess.Popen(sensor_args(extra, log_name), stdout=subprocess.DEVNULL,
                                          stderr=err_file)
            try:
                want = f"capture filter ({origin}): udp port 53"
                deadline = time.monotonic() + 60
                while not (os.path.exists(sensor_log) and want in open(sensor_log).read()):
                    check(sensor.poll() is None,
                          f"filter from {origin}: sensor exited {sensor.returncode}: "
                          f"{open(err_path).read().strip()!r}")
                    check(time.monotonic() < deadline, f"no '{want}' in {sensor_log} in 60 s")
                    time.sleep(0.2)
                sensor.send_signal(signal.SIGINT)
                rc = sensor.wait(timeout=60)
                check(rc == 0, f"filter from {origin}: exit {rc} after SIGINT")
            finally:
                if sensor.poll() is None:
                    sensor.kill()
                    sensor.wait()
    print("filters: config key and -f used, -f overrides, bad ones refused (exit 2) by origin")


def check_offloads_restored(name, ns, before, log_dir, privileges_dropped):
    """The sensor logs the offloads it turned off and, at exit, turns them back on. After
    dropping root (--user, without CAP_NET_ADMIN) it cannot, and says how to."""
    log = open(os.path.join(log_dir, "sensor.log")).read()
    check("cap: offloads tso, gso turned off (capture.disable-offloading), back on at exit"
          in log, f"{name}: sensor.log does not say which offloads it turned off")
    if privileges_dropped:
        check("cap: cannot turn tso on: Operation not permitted; to turn them back on: "
              "ethtool -K cap tso on gso on" in log,
              f"{name}: sensor.log does not say the offloads could not be restored")
        return
    check("cap: offloads tso, gso turned back on" in log,
          f"{name}: sensor.log does not say the offloads were restored")
    after = ns.ethtool_features("cap")
    check(after == before, f"{name}: offloads not restored: before\n{before}\nafter\n{after}")


def live_run(a, name, extra, args, pcap, packets, mtu, reload=False, uid=None):
    """Runs the sensor on a fresh veth pair while tcpreplay sends pcap into the peer, stops
    it with SIGINT, and returns its stats.json. With reload, sends SIGHUP first and waits for
    the reloaded rules. With uid, checks that the running sensor has dropped to that user."""
    log_dir = args[args.index("-l") + 1]
    with Namespace(f"sensor-e2e-{os.getpid()}-{name}", mtu) as ns:
        rx_before = ns.rx_packets("cap")
        offloads_before = ns.ethtool_features("cap")
        check("generic-segmentation-offload: on" in offloads_before,
              f"{name}: a new veth should have gso on:\n{offloads_before}")
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

            # capture.disable-offloading (on by default) turned them off before the sockets
            # were made, so libpcap's immediate-mode slots are MTU-sized (docs/live-capture.md).
            running = ns.ethtool_features("cap")
            # ethtool's tcp-segmentation-offload also counts newer sub-features (kernel 6.18:
            # tx-tcp-accecn-segmentation) that the legacy switch libpcap reads does not cover.
            for feature in ("tx-tcp-segmentation", "tx-tcp6-segmentation",
                            "generic-segmentation-offload"):
                check(f"{feature}: off" in running, f"{name}: {feature} not off while capturing")

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
            check_offloads_restored(name, ns, offloads_before, log_dir, uid is not None)
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.wait()
            log_out.close()
            log_err.close()
    return read_stats(log_dir)


if __name__ == "__main__":
    main_wrapper(main)
