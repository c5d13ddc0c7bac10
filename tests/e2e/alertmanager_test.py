#!/usr/bin/env python3
"""The sensor pushes its alerts to a real Alertmanager, and survives one that is down.

Starts /usr/bin/prometheus-alertmanager on a free loopback port (clustering off, temporary
storage, a config whose only receiver is a null one), replays the generated sample with
--alertmanager, then reads GET /api/v2/alerts: every (sid, src_ip, dest_ip) of the alerts in
eve.json must be one Alertmanager alert whose alertname is the rule's msg and whose concept
label holds the expected Concept categories; aggregates whose alerts all fall within the 60 s
aggregation window must carry the exact count. Then Alertmanager is stopped and the sample
replayed again: the sensor must exit 0, eve.json must still hold every alert, and the stats or
the log must show failed sends. Everything listens on 127.0.0.1; the server is always stopped.
Skips (exit 77) until the sensor has --alertmanager, or without prometheus-alertmanager."""

import argparse
import collections
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

from e2e_common import Failure, LoopbackServer, check, free_port, main_wrapper, read_eve
from metrics_test import make_sample, sensor_help

SKIP = 77
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
WINDOW_S = 60  # the sensor's default aggregation window


class Alertmanager(LoopbackServer):
    def __init__(self, workdir):
        port = free_port()
        cfg = os.path.join(workdir, "alertmanager.yml")
        with open(cfg, "w") as f:
            f.write('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
        storage = os.path.join(workdir, "alertmanager-data")
        shutil.rmtree(storage, ignore_errors=True)
        super().__init__("alertmanager",
                         [ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={storage}",
                          f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                         port, workdir)

    def alerts(self):
        with urllib.request.urlopen(self.base + "/api/v2/alerts", timeout=10) as r:
            return json.load(r)


def run_sensor(a, pcap, logs, url, via_config=False):
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    args = [a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
            "-S", os.path.join(a.source, "rules", "sets"), "-r", pcap, "-l", logs]
    # The config keys (outputs.alertmanager.*) and the command-line flag reach the same output.
    args += (["--set", f"outputs.alertmanager.url={url}",
              "--set", "outputs.alertmanager.sensor-name=e2e-sensor"]
             if via_config else ["--alertmanager", url])
    started = time.time()
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    elapsed = time.time() - started
    check(p.returncode == 0, f"sensor exited {p.returncode}: {p.stderr[-2000:]}")
    log = p.stdout + p.stderr
    log_path = os.path.join(logs, "sensor.log")
    if os.path.exists(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as f:
            log += f.read()
    stats = {}
    stats_path = os.path.join(logs, "stats.json")
    if os.path.exists(stats_path):
        with open(stats_path, encoding="utf-8") as f:
            stats = json.load(f)
    alerts = [e for e in read_eve(logs) if e["event_type"] == "alert"]
    return alerts, stats, log, elapsed


def eve_time(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def check_eve(alerts, expected):
    got = collections.Counter(e["alert"]["signature_id"] for e in alerts)
    want = {x["sid"]: x["count"] for x in expected["alerts"]}
    check(dict(got) == want, f"eve alerts by sid: got {dict(got)}, want {want}")


def check_pushed(am_alerts, eve_alerts, expected):
    concepts = {x["sid"]: set(x["concept"]) for x in expected["alerts"]}
    by_key = collections.defaultdict(list)
    for e in eve_alerts:
        by_key[(str(e["alert"]["signature_id"]), e["src_ip"], e["dest_ip"])].append(e)
    pushed = {}
    for a in am_alerts:
        labels, ann = a["labels"], a["annotations"]
        key = (labels.get("sid"), labels.get("src_ip"), labels.get("dest_ip"))
        check(key not in pushed, f"two alertmanager alerts for {key}")
        pushed[key] = a
        check(key in by_key, f"alertmanager alert {key} matches no eve alert")
        eve = by_key[key]
        check(labels.get("alertname") == eve[0]["alert"]["signature"],
              f"{key}: alertname {labels.get('alertname')!r} != {eve[0]['alert']['signature']!r}")
        sid = int(key[0])
        check(set(labels.get("concept", "").split(",")) == concepts[sid],
              f"{key}: concept {labels.get('concept')} != {sorted(concepts[sid])}")
        check(labels.get("severity") in ("critical", "warning", "info"), f"{key}: severity {labels}")
        check(labels.get("sensor") == "e2e-sensor",
              f"{key}: sensor label {labels.get('sensor')!r} (outputs.alertmanager.sensor-name)")
        check(ann.get("sid") == key[0] and ann.get("community_id", "").startswith("1:"),
              f"{key}: annotations {ann}")
        check(ann.get("community_id") in {e["community_id"] for e in eve},
              f"{key}: community_id {ann.get('community_id')} is no eve alert's")
        count = int(ann.get("count", "0"))
        check(1 <= count <= len(eve), f"{key}: count {count} outside 1..{len(eve)}")
        times = [eve_time(e["timestamp"]) for e in eve]
        if max(times) - min(times) < WINDOW_S:
            check(count == len(eve), f"{key}: count {count} != {len(eve)} alerts in one window")
    missing = set(by_key) - set(pushed)
    check(not missing, f"eve alerts never pushed to alertmanager: {sorted(missing)[:5]}")
    sids = {int(k[0]) for k in pushed}
    check(sids == set(concepts), f"alertmanager sids {sorted(sids)} != {sorted(concepts)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if not os.access(ALERTMANAGER, os.X_OK):
        print(f"SKIP: {ALERTMANAGER} not installed")
        sys.exit(SKIP)
    if "--alertmanager" not in sensor_help(a.sensor):
        print("SKIP: the sensor has no --alertmanager option")
        sys.exit(SKIP)
    os.makedirs(a.workdir, exist_ok=True)
    pcap, expected = make_sample(a.trafficgen, a.source, a.workdir)

    am = Alertmanager(a.workdir)
    try:
        am.wait_ready()
        url = am.base
        eve_alerts, stats, _, _ = run_sensor(a, pcap, os.path.join(a.workdir, "up"), url,
                                             via_config=True)
        check_eve(eve_alerts, expected)
        check_pushed(am.alerts(), eve_alerts, expected)
        amstats = stats.get("alertmanager")
        if amstats is not None:
            check(amstats.get("submitted") == len(eve_alerts),
                  f"alertmanager submitted {amstats.get('submitted')} != {len(eve_alerts)} eve alerts")
            check(amstats.get("send_failures") == 0, f"send failures with alertmanager up: {amstats}")
    finally:
        am.stop()

    # Alertmanager gone: the port now refuses connections.
    eve_alerts, stats, log, elapsed = run_sensor(a, pcap, os.path.join(a.workdir, "down"), url)
    check_eve(eve_alerts, expected)
    amstats = stats.get("alertmanager", {})
    failed_in_stats = amstats.get("send_failures", 0) > 0
    failed_in_log = any("alertmanager" in line.lower() and "fail" in line.lower()
                        for line in log.splitlines())
    check(failed_in_stats or failed_in_log,
          f"no send failure in stats ({amstats}) or log with alertmanager down")
    check(amstats.get("sent", 0) == 0, f"sent {amstats.get('sent')} with alertmanager down")
    print(f"alertmanager down: run took {elapsed:.1f} s, stats {amstats}")


if __name__ == "__main__":
    main_wrapper(main)
