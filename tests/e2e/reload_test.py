#!/usr/bin/env python3
"""SIGHUP while replaying (paced): a broken rule file is refused and the running rules keep
alerting; a good one is swapped in for the packets that follow; eve.json is reopened
(logrotate style) without losing a record."""

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import time

from e2e_common import check, check_accounting, main_wrapper, read_eve, read_stats

C2_SID = 1000002


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    with open(os.path.join(a.source, "tests", "e2e", "sample_expected.json")) as f:
        expected = json.load(f)
    pcap = os.path.join(a.workdir, "sample.pcap")
    subprocess.run([a.trafficgen, "-o", pcap] + expected["generator"]["args"].split(),
                   check=True, capture_output=True)

    with open(os.path.join(a.source, "rules", "sets", "sample.rules")) as f:
        all_rules = f.read()
    rules_dir = os.path.join(a.workdir, "rules")
    os.makedirs(rules_dir)
    rule_file = os.path.join(rules_dir, "local.rules")
    without_c2 = "\n".join(l for l in all_rules.splitlines() if f"sid:{C2_SID};" not in l)
    with open(rule_file, "w") as f:
        f.write(without_c2 + "\n")
    # A stock file with a broken rule from the start (as ET Open ships one): reloads keep
    # skipping it; only errors the running rules did not have refuse a reload.
    with open(os.path.join(rules_dir, "stock.rules"), "w") as f:
        f.write('# shipped broken\nalert tcp any any -> any any (msg:"stock"; content:"y"; sid:9; rev:x;)\n')

    logs = os.path.join(a.workdir, "logs")
    # The capture spans about 10 minutes; at 40x it takes about 15 s.
    proc = subprocess.Popen([a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
                             "-S", rules_dir, "-r", pcap, "-l", logs, "--workers", "2",
                             "--pcap-speed", "40"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        # 1. A broken rule file: refused, the running rules stay.
        with open(rule_file, "w") as f:
            f.write(without_c2 + '\nalert tcp any any -> any any (msg:"broken"; content:"x";)\n')
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        # 2. Rotate eve.json away, then a good rule file with the C2 rule.
        os.rename(os.path.join(logs, "eve.json"), os.path.join(logs, "eve.json.1"))
        with open(rule_file, "w") as f:
            f.write(all_rules)
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    check(proc.returncode == 0, f"sensor exit {proc.returncode}: {err}")

    with open(os.path.join(logs, "sensor.log")) as f:
        log = f.read()
    check("rule reload failed, keeping the running rules: 1 new rule error(s), first: " in log
          and "local.rules:" in log, "no reload failure naming the new error logged")
    check("rules reloaded:" in log, "no successful reload logged")
    check("still skip 1 rule(s) with errors the running rules had too" in log,
          "the kept stock error was not reported on the successful reload")
    check("reopened" in log, "eve.json was not reopened")

    events = read_eve(os.path.join(logs)) + [json.loads(l) for l in open(os.path.join(logs, "eve.json.1"))]
    alerts = collections.Counter(e["alert"]["signature_id"] for e in events if e["event_type"] == "alert")
    flows = [e for e in events if e["event_type"] == "flow"]
    want = {x["sid"]: x["count"] for x in expected["alerts"]}
    # Every rule other than the C2 one alerted as in a plain run, across both reloads.
    for sid, count in want.items():
        if sid != C2_SID:
            check(alerts.get(sid, 0) == count, f"sid {sid}: {alerts.get(sid, 0)} alerts, want {count}")
    # The C2 rule arrived mid-run: later beacons alert, earlier ones could not.
    c2 = alerts.get(C2_SID, 0)
    check(0 < c2 < want[C2_SID], f"C2 alerts after mid-run reload: {c2} (want 1..{want[C2_SID] - 1})")
    check(len(flows) == expected["flows"]["total"],
          f"flow records across rotation: {len(flows)} != {expected['flows']['total']}")
    stats = read_stats(logs)
    check_accounting(stats)
    reloads = stats["rules"]["reloads"]
    check(reloads["ok"] == 1 and reloads["failed"] == 1, f"reload counters: {reloads}")
    check(stats["eve"]["written"] == len(events), f"eve written {stats['eve']['written']} != {len(events)}")


if __name__ == "__main__":
    main_wrapper(main)
