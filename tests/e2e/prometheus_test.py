#!/usr/bin/env python3
"""A real Prometheus scrapes a running sensor.

The test starts /usr/bin/prometheus on a free loopback port with a generated config (scrape
every second, temporary storage) aimed at a second free port, then the sensor listening there
and replaying the generated sample (paced with --pcap-speed when the sensor has it, else
several copies back to back), and once the replay is over asks
Prometheus's HTTP API for what it scraped: sum(sensor_capture_packets_total) must equal the
packets read, and sensor_alert_concept_total per Concept category must equal the categories of
the alerts in eve.json. The sensor keeps serving after the run with --metrics-linger, so the
final values are scraped. Everything listens on 127.0.0.1; both servers are always stopped.
Skips (exit 77) until the sensor has --metrics-listen and --metrics-linger, or without
prometheus."""

import argparse
import collections
import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request

from e2e_common import Failure, LoopbackServer, check, free_port, main_wrapper, read_eve
from metrics_test import SensorRun, make_sample, sensor_help, worker_args

SKIP = 77


_ports_given = set()


def api(base, path, params=None, timeout=10):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = json.load(r)
    check(body.get("status") == "success", f"{path}: {body}")
    return body["data"]


def query(base, promql):
    """Instant vector as {frozenset(labels minus __name__): value}."""
    data = api(base, "/api/v1/query", {"query": promql})
    check(data["resultType"] == "vector", f"{promql}: {data['resultType']}")
    out = {}
    for r in data["result"]:
        labels = {k: v for k, v in r["metric"].items() if k != "__name__"}
        out[frozenset(labels.items())] = float(r["value"][1])
    return out


def scalar(base, promql):
    v = query(base, promql)
    return next(iter(v.values())) if len(v) == 1 else None


class Prometheus(LoopbackServer):
    def __init__(self, binary, workdir, target):
        port = free_port()
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: sensor\n    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        storage = os.path.join(workdir, "prometheus-data")
        shutil.rmtree(storage, ignore_errors=True)
        super().__init__("prometheus",
                         [binary, f"--config.file={cfg}", f"--storage.tsdb.path={storage}",
                          f"--web.listen-address=127.0.0.1:{port}",
                          "--storage.tsdb.retention.time=1h"],
                         port, workdir)


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last is True:
            return
        time.sleep(0.5)
    raise Failure(f"timed out waiting for {what} (last: {last})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--workers", type=int, default=2,
                    help="sensor workers (more than one checks the sums over workers)")
    a = ap.parse_args()
    help_text = sensor_help(a.sensor)
    if "--metrics-listen" not in help_text or "--metrics-linger" not in help_text:
        print("SKIP: the sensor has no --metrics-listen/--metrics-linger yet")
        sys.exit(SKIP)
    if not os.access(a.prometheus, os.X_OK):
        print("SKIP: prometheus not installed")
        sys.exit(SKIP)
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    pcap, expected = make_sample(a.trafficgen, a.source, a.workdir)

    # Paced so that Prometheus sees the counters move; without pacing, copies make it last.
    if "--pcap-speed" in help_text:
        copies, pacing = 1, ["--pcap-speed", "50"]  # the sample spans 575 s: about 12 s
    else:
        copies, pacing = 8, []
    logs = os.path.join(a.workdir, "logs")
    # Prometheus first, so that it scrapes from the first second of the replay.
    sensor_port = free_port()
    prom = Prometheus(a.prometheus, a.workdir, f"127.0.0.1:{sensor_port}")
    sensor_run = None
    try:
        prom.wait_ready()
        sensor_run = SensorRun(a.sensor, a.source, [pcap] * copies, logs,
                               ["--metrics-listen", f"127.0.0.1:{sensor_port}",
                                "--metrics-linger", "120"] + pacing +
                               worker_args(a.sensor, a.workers))
        host, port = sensor_run.wait_listen()
        check((host, port) == ("127.0.0.1", sensor_port),
              f"sensor listens on {host}:{port}, asked for 127.0.0.1:{sensor_port}")
        wait_for("the sensor target to be up",
                 lambda: scalar(prom.base, 'up{job="sensor"}') == 1 or
                 scalar(prom.base, 'up{job="sensor"}'), 60)

        def run_complete():
            with open(os.path.join(logs, "sensor.log"), errors="replace") as f:
                done = "run complete" in f.read()
            if not done and sensor_run.proc.poll() is not None:
                raise Failure(f"sensor exited ({sensor_run.proc.returncode}) during the run")
            return done or "running"
        wait_for("the replay to finish", run_complete, 900)

        packets = expected["packets"] * copies
        wait_for(f"sum(sensor_capture_packets_total) == {packets} in Prometheus",
                 lambda: scalar(prom.base, "sum(sensor_capture_packets_total)") == packets or
                 scalar(prom.base, "sum(sensor_capture_packets_total)"), 60)
        # One more scrape interval: every family comes from the same final scrape.
        time.sleep(2)

        alerts = [e for e in read_eve(logs) if e["event_type"] == "alert"]
        check(alerts, "the sample produced no alerts: the comparison proves nothing")
        want = collections.Counter(c for e in alerts for c in e["alert"].get("concept", []))
        got = {dict(k)["concept"]: v for k, v in
               query(prom.base, "sum by (concept) (sensor_alert_concept_total)").items() if v}
        check(got == dict(want), f"alerts by concept in Prometheus {got} != eve.json {dict(want)}")
        check(scalar(prom.base, "sum(sensor_alert_written_total)") == len(alerts),
              "sensor_alert_written_total in Prometheus != eve.json alerts")
        ci = scalar(prom.base, 'sum(sensor_alert_concept_total{concept=~"crime\\\\.10|threat\\\\.02"})')
        check(ci == want["crime.10"] + want["threat.02"],
              f"critical-infrastructure alerts {ci} != eve.json")
        print(f"prometheus scraped {packets} packets, {len(alerts)} alerts, by concept "
              f"{dict(sorted(got.items()))}")

        # Prometheus kept the run's history: the final value is the largest, and a paced
        # replay was scraped while the counter still moved.
        peak = scalar(prom.base, "max_over_time(sum(sensor_capture_packets_total)[10m:1s])")
        check(peak == packets, f"max over the run {peak} != packets {packets}")
        if pacing:
            changes = scalar(prom.base, "sum(changes(sensor_capture_packets_total[10m]))")
            check(changes is not None and changes >= 2,
                  f"paced replay: only {changes} changes of the packet counter were scraped")
    finally:
        if sensor_run is not None:
            sensor_run.stop()
        prom.stop()


if __name__ == "__main__":
    main_wrapper(main)
