#!/usr/bin/env python3
"""How many packets the capture ring of a live sensor holds, and what a stall costs.

Starts `sensor -i cap` on one end of a veth pair in a fresh network namespace (MTU --mtu),
then either
  * capacity: stops the sensor (SIGSTOP), sends the capture into the other end with
    `tcpreplay --topspeed`, lets the sensor go on (SIGCONT) and reads its stats.json: the
    packets it read are what its kernel ring held, the rest are kernel drops; or
  * stall (--stall S --pps R): replays at R packets/s and stops the sensor for S seconds
    once a third of the replay is out.
Each --mode runs once per --repeat, modes alternating; extra sensor arguments follow `--`, per
mode as `--mode NAME=ARGS` ("off=" for the defaults, "on=--set capture.disable-offloading=false").

Needs root, iproute2 and tcpreplay; exits 77 when one is missing. Python standard library only.
Run from the repository root, e.g.
  sudo bench/ring_capacity.py --sensor build/release/sensor/app/sensor --pcap sample.pcap \\
      --mode off= --mode "on=--set capture.disable-offloading=false"
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "bench"))
from replay_bench import pcap_record_headers  # noqa: E402  (same folder)
from veth_namespace import NamespaceUnavailable, VethNamespace  # noqa: E402

SKIP = 77


def one_run(a, name, extra, log_dir):
    with VethNamespace(f"ring-{os.getpid()}-{name}", a.mtu) as ns:
        sensor = subprocess.Popen(
            ns.exec_args([a.sensor, "-i", "cap", "-S", a.rules, "-c", a.config, "-l", log_dir,
                          *extra]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Started once its packet socket exists and it has settled.
            deadline = time.monotonic() + 120
            while ns.packet_sockets() == 0:
                if sensor.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: sensor did not start (exit {sensor.poll()})")
                time.sleep(0.2)
            time.sleep(a.settle)
            if a.stall > 0:
                replay = subprocess.Popen(
                    ns.exec_args(["tcpreplay", "-i", "peer", f"--pps={a.pps}", a.pcap]),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(a.packets / a.pps / 3)
                sensor.send_signal(signal.SIGSTOP)
                time.sleep(a.stall)
                sensor.send_signal(signal.SIGCONT)
                replay.wait()
            else:
                sensor.send_signal(signal.SIGSTOP)
                subprocess.run(ns.exec_args(["tcpreplay", "-i", "peer", "--topspeed", a.pcap]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                sensor.send_signal(signal.SIGCONT)
            time.sleep(a.drain)
            sensor.send_signal(signal.SIGINT)
            sensor.wait(timeout=120)
        finally:
            if sensor.poll() is None:
                sensor.send_signal(signal.SIGCONT)
                sensor.kill()
                sensor.wait()
    with open(os.path.join(log_dir, "stats.json")) as f:
        capture = json.load(f)["capture"]
    return capture["packets"], capture["kernel_dropped"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--pcap", required=True, help="classic pcap file")
    ap.add_argument("--rules", default=str(REPO / "rules" / "sets"))
    ap.add_argument("--config", default=str(REPO / "deploy" / "sensor.yaml"))
    ap.add_argument("--mtu", type=int, default=1500)
    ap.add_argument("--mode", action="append", default=[],
                    help="NAME=SENSOR ARGS, repeatable; default: off= (the defaults)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--stall", type=float, default=0.0, help="seconds; 0: capacity run")
    ap.add_argument("--pps", type=int, default=5000, help="replay rate of a stall run")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--drain", type=float, default=3.0)
    a = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("tcpreplay") or not shutil.which("ip"):
        print("ring_capacity: needs root, iproute2 and tcpreplay", file=sys.stderr)
        return SKIP
    a.packets = sum(1 for _ in pcap_record_headers(a.pcap))
    modes = [m.split("=", 1) for m in (a.mode or ["off="])]
    what = (f"stall of {a.stall} s at {a.pps} packets/s" if a.stall > 0
            else "sensor stopped during a --topspeed replay")
    print(f"ring_capacity: {a.pcap} ({a.packets} packets), MTU {a.mtu}, {what}")
    with tempfile.TemporaryDirectory(prefix="ring-capacity-") as work:
        for r in range(a.repeat):
            for name, args in modes:
                try:
                    read, dropped = one_run(a, name, shlex.split(args),
                                            os.path.join(work, f"{name}-{r}"))
                except NamespaceUnavailable as e:
                    print(f"ring_capacity: {e}", file=sys.stderr)
                    return SKIP
                print(f"  {name:8} read {read:>8,}  kernel dropped {dropped:>8,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
