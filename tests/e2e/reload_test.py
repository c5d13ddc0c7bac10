#!/usr/bin/env python3
"""SIGHUP while replaying (paced): a broken rule file is refused and the running rules keep
alerting; a good one is swapped in for the packets that follow; eve.json is reopened
(logrotate style) without losing a record. /metrics follows every attempt: success 1 or 0,
its time and duration, the reloads by result, and the rule counts of the rules in use (the old
ones after a refusal). A reload of unchanged rules loads every Hyperscan database from the
on-disk cache. Last, a SIGTERM during the compile of a large reload stops the sensor at once:
the outputs and stats.json are written while the compile still runs, whose result is dropped."""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

from e2e_common import (check, check_accounting, main_wrapper, read_eve, read_stats,
                        signal_and_collect, write_large_rules)
from metrics_test import http_get, parse_exposition, promtool_metrics

C2_SID = 1000002
LISTEN_RE = re.compile(r"metrics listening on (\S+):(\d+)")
RELOADED_RE = re.compile(r"rules reloaded: (\d+) rule\(s\) loaded .*hyperscan: (\d+) database\(s\) "
                         r"in [0-9.]+ s: (\d+) from the cache in .*, (\d+) compiled")


def read_log(logs):
    path = os.path.join(logs, "sensor.log")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def wait_log(logs, pattern, proc, timeout, give_up=None):
    """The first match of pattern in sensor.log; fails when the sensor exits first, when
    give_up matches first, or after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = read_log(logs)
        m = re.search(pattern, log)
        if m:
            return m
        if give_up is not None and re.search(give_up, log):
            check(False, f"sensor.log has {give_up!r} before {pattern!r}:\n{log}")
        check(proc.poll() is None, f"the sensor exited ({proc.returncode}) before logging "
                                   f"{pattern!r}:\n{log}")
        time.sleep(0.05)
    check(False, f"no {pattern!r} in sensor.log after {timeout} s")


class Scraper:
    def __init__(self, host, port, proc):
        self.base = f"http://{host}:{port}"
        self.proc = proc

    def scrape(self):
        status, _, body = http_get(self.base + "/metrics")
        check(status == 200, f"/metrics: HTTP {status}")
        return body, parse_exposition(body)[1]

    def post_reload(self, timeout=300):
        """POST /-/reload: (HTTP status, the JSON answer)."""
        req = urllib.request.Request(self.base + "/-/reload", data=b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode())

    def wait_reloads(self, ok, failed, timeout=60):
        """A scrape taken after sensor_rules_reloads_total read ok and failed.

        The families of one scrape are read one after another, and a reload can end between
        the read of sensor_rules_info and that of the counter: the scrape that first shows the
        new count may still show the old rules. The next scrape starts after the reload was
        recorded in full."""
        deadline = time.time() + timeout
        while True:
            body, s = self.scrape()
            got = (value(s, "sensor_rules_reloads_total", result="ok"),
                   value(s, "sensor_rules_reloads_total", result="failed"))
            if got == (ok, failed):
                return self.scrape()
            check(got[0] <= ok and got[1] <= failed, f"reloads {got}, expected {(ok, failed)}")
            check(self.proc.poll() is None, f"the sensor exited waiting for reloads {(ok, failed)}")
            check(time.time() < deadline, f"reloads (ok, failed) still {got} after {timeout} s, "
                                          f"want {(ok, failed)}")
            time.sleep(0.05)


def value(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in samples, f"{name}{labels or ''} is not in /metrics")
    return samples[key]


def rules_state(s):
    """What the rule metrics say about the rules in use."""
    shas = [dict(l)["ruleset_sha256"] for (n, l), v in s.items() if n == "sensor_rules_info" and v == 1]
    check(len(shas) == 1, f"sensor_rules_info: {shas}")
    return {"sha256": shas[0], "loaded": value(s, "sensor_rules_loaded"),
            "failed": value(s, "sensor_rules_failed"), "files": value(s, "sensor_rules_files")}


def reload_status(s):
    return {"success": value(s, "sensor_rules_last_reload_success"),
            "ts": value(s, "sensor_rules_last_reload_timestamp_seconds"),
            "duration": value(s, "sensor_rules_last_reload_duration_seconds")}


def packets_read(s):
    """Frames read so far, over every capture source."""
    return sum(v for (n, _), v in s.items() if n == "sensor_capture_packets_total")


def c2_beacon_packets(a, pcap, all_rules):
    """The packet numbers (pcap_cnt) of the C2 rule's alerts in a plain run with every rule."""
    d = os.path.join(a.workdir, "offline")
    os.makedirs(d)
    with open(os.path.join(d, "all.rules"), "w") as f:
        f.write(all_rules + "\n")
    subprocess.run([a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
                    "-S", os.path.join(d, "all.rules"), "-r", pcap, "-l", d, "--workers", "1"],
                   check=True, capture_output=True)
    return sorted(e["pcap_cnt"] for e in read_eve(d)
                  if e["event_type"] == "alert" and e["alert"]["signature_id"] == C2_SID)


def reload_with_metrics(a, pcap, expected, all_rules, without_c2, promtool, beacons):
    rules_dir = os.path.join(a.workdir, "rules")
    os.makedirs(rules_dir)
    rule_file = os.path.join(rules_dir, "local.rules")
    with open(rule_file, "w") as f:
        f.write(without_c2 + "\n")
    # A stock file with a broken rule from the start (as ET Open ships one): reloads keep
    # skipping it; only errors the running rules did not have refuse a reload.
    with open(os.path.join(rules_dir, "stock.rules"), "w") as f:
        f.write('# shipped broken\nalert tcp any any -> any any (msg:"stock"; content:"y"; sid:9; rev:x;)\n')
    broken = '\nalert tcp any any -> any any (msg:"broken"; content:"x";)\n'

    logs = os.path.join(a.workdir, "logs")
    cache = os.path.join(a.workdir, "hs-cache")
    # The capture spans about 10 minutes; at 40x it takes about 15 s. The metrics listener
    # lingers after the replay until SIGTERM.
    t0 = time.time()
    proc = subprocess.Popen([a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
                             "-S", rules_dir, "-r", pcap, "-l", logs, "--workers", "2",
                             "--pcap-speed", "40", "--metrics-listen", "127.0.0.1:0",
                             "--metrics-linger", "120",
                             "--set", f"detect.hyperscan-cache.path={cache}",
                             "--set", "metrics.reload-endpoint=true"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        m = wait_log(logs, LISTEN_RE.pattern, proc, 60)
        metrics = Scraper(m.group(1), int(m.group(2)), proc)
        _, s = metrics.wait_reloads(0, 0)
        start_rules, start = rules_state(s), reload_status(s)
        check(start["success"] == 1 and start["duration"] > 0 and start["ts"] > 0,
              f"after the start-up load: {start}")

        # 1. A broken rule file: refused, the running rules stay. At least a second after the
        # start-up load, so that the attempt's time (whole seconds) differs.
        time.sleep(max(0, t0 + 2.5 - time.time(), start["ts"] + 1.1 - time.time()))
        with open(rule_file, "w") as f:
            f.write(without_c2 + broken)
        proc.send_signal(signal.SIGHUP)
        _, s = metrics.wait_reloads(0, 1)
        refused = reload_status(s)
        check(refused["success"] == 0, f"a refused reload must read success 0: {refused}")
        check(refused["ts"] > start["ts"], f"the refused attempt's time: {refused} after {start}")
        check(refused["duration"] > 0, f"the refused attempt's duration: {refused}")
        check(rules_state(s) == start_rules,
              f"after a refused reload the rule metrics must show the running rules "
              f"{start_rules}, not {rules_state(s)}")

        # 2. Rotate eve.json away, then a good rule file with the C2 rule, once the first C2
        # beacon has been read (its place in the replay, not a wall-clock guess: a slow start
        # on a loaded machine must not move the reload before it).
        deadline = time.time() + 60
        while packets_read(metrics.scrape()[1]) < beacons[0]:
            check(proc.poll() is None and time.time() < deadline,
                  f"the replay did not reach the first C2 beacon (packet {beacons[0]})")
            time.sleep(0.02)
        os.rename(os.path.join(logs, "eve.json"), os.path.join(logs, "eve.json.1"))
        with open(rule_file, "w") as f:
            f.write(all_rules)
        proc.send_signal(signal.SIGHUP)
        _, s = metrics.wait_reloads(1, 1)
        read_at_reload = packets_read(s)
        check(read_at_reload < beacons[-1],
              f"the replay read packet {read_at_reload}, past the last C2 beacon ({beacons[-1]}), "
              f"before the reload took effect: the test needs a slower replay")
        good_rules, good = rules_state(s), reload_status(s)
        check(good["success"] == 1 and good["ts"] >= refused["ts"] and good["duration"] > 0,
              f"after a good reload: {good}")
        check(good_rules["loaded"] == start_rules["loaded"] + 1
              and good_rules["sha256"] != start_rules["sha256"]
              and good_rules["failed"] == start_rules["failed"] == 1,
              f"the good reload's rules {good_rules}, the first {start_rules}")

        # 3. The same files again: every database comes from the on-disk cache.
        proc.send_signal(signal.SIGHUP)
        _, s = metrics.wait_reloads(2, 1)
        check(rules_state(s) == good_rules, f"an unchanged reload changed {rules_state(s)}")

        # 3b. The same over HTTP: POST /-/reload answers once the reload has ended, with its
        # result; GET is refused.
        status, _, _ = http_get(metrics.base + "/-/reload")
        check(status == 405, f"GET /-/reload: HTTP {status}, want 405")
        status, answer = metrics.post_reload()
        check(status == 200 and answer.get("result") == "ok"
              and answer.get("loaded") == good_rules["loaded"]
              and answer["hyperscan"]["from_cache"] == answer["hyperscan"]["databases"] > 0,
              f"POST /-/reload of unchanged rules: HTTP {status} {answer}")
        # The answer came after the reload was recorded: the counter already shows it.
        s = metrics.scrape()[1]
        check(value(s, "sensor_rules_reloads_total", result="ok") == 3,
              "POST /-/reload answered before its reload was counted")

        # 4. Broken again: refused; the rules of the good reload stay in the metrics.
        with open(rule_file, "w") as f:
            f.write(all_rules + broken)
        proc.send_signal(signal.SIGHUP)
        body, s = metrics.wait_reloads(3, 2)
        again = reload_status(s)
        check(again["success"] == 0 and again["ts"] >= good["ts"] and again["duration"] > 0,
              f"after the second refused reload: {again}")
        check(rules_state(s) == good_rules,
              f"after a refused reload the rule metrics must show the running rules "
              f"{good_rules}, not {rules_state(s)}")
        # 4b. Broken over HTTP: 500 with the reason, naming the file.
        status, answer = metrics.post_reload()
        check(status == 500 and answer.get("result") == "failed"
              and "local.rules:" in answer.get("error", ""),
              f"POST /-/reload of a broken rule file: HTTP {status} {answer}")
        body, s = metrics.wait_reloads(3, 3)
        check(rules_state(s) == good_rules, f"a refused HTTP reload changed {rules_state(s)}")
        if promtool:
            promtool_metrics(promtool, body, "a scrape after reloads")

        wait_log(logs, r"run complete", proc, 120)
        check("no rule reload, the run is over" not in read_log(logs),
              "the replay ended before the reloads: the test needs a slower replay")
        # The run is over (the listener lingers): no more reloads.
        status, answer = metrics.post_reload()
        check(status == 503 and answer.get("result") == "refused",
              f"POST /-/reload after the run: HTTP {status} {answer}")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check(proc.returncode == 0, f"sensor exit {proc.returncode}: {err}")

    log = read_log(logs)
    check("rule reload failed, keeping the running rules: 1 new rule error(s), first: " in log
          and "local.rules:" in log, "no reload failure naming the new error logged")
    check("still skip 1 rule(s) with errors the running rules had too" in log,
          "the kept stock error was not reported on the successful reload")
    check("reopened" in log, "eve.json was not reopened")
    # The Hyperscan cache: the changed rules compile at least one database, the unchanged
    # ones load all of them.
    reloaded = [tuple(int(x) for x in m.groups()) for m in RELOADED_RE.finditer(log)]
    check(len(reloaded) == 3, f"three successful reloads with their Hyperscan summary: {reloaded}")
    (_, total1, cached1, compiled1), (_, total2, cached2, compiled2) = reloaded[:2]
    check(compiled1 >= 1 and cached1 + compiled1 == total1,
          f"the changed rules must compile a database: {reloaded[0]}")
    check(total2 > 0 and cached2 == total2 and compiled2 == 0,
          f"a reload of unchanged rules must load every database from the cache: {reloaded[1]}")

    events = read_eve(os.path.join(logs)) + [json.loads(l) for l in open(os.path.join(logs, "eve.json.1"))]
    alerts = collections.Counter(e["alert"]["signature_id"] for e in events if e["event_type"] == "alert")
    flows = [e for e in events if e["event_type"] == "flow"]
    want = {x["sid"]: x["count"] for x in expected["alerts"]}
    # Every rule other than the C2 one alerted as in a plain run, across every reload.
    for sid, count in want.items():
        if sid != C2_SID:
            check(alerts.get(sid, 0) == count, f"sid {sid}: {alerts.get(sid, 0)} alerts, want {count}")
    # The C2 rule arrived mid-run: the beacons read after the reload took effect alert, the
    # first one (read before the reload was asked for) could not.
    c2 = alerts.get(C2_SID, 0)
    after = sum(1 for b in beacons if b > read_at_reload)
    check(max(1, after) <= c2 < want[C2_SID],
          f"C2 alerts after mid-run reload: {c2} (want {max(1, after)}..{want[C2_SID] - 1}; "
          f"beacons at packets {beacons}, {read_at_reload} read when the reload took effect)")
    check(len(flows) == expected["flows"]["total"],
          f"flow records across rotation: {len(flows)} != {expected['flows']['total']}")
    stats = read_stats(logs)
    check_accounting(stats)
    reloads = stats["rules"]["reloads"]
    check("rule reload requested over HTTP" in log, "the HTTP reload was not logged")
    check(reloads["ok"] == 3 and reloads["failed"] == 3 and reloads["abandoned"] == 0,
          f"reload counters: {reloads}")
    check(reloads["last"]["result"] == "failed", f"last reload: {reloads['last']}")
    check(stats["eve"]["written"] == len(events), f"eve written {stats['eve']['written']} != {len(events)}")


def stop_during_compile(a, pcap, all_rules):
    """SIGHUP with a rule set whose compile takes seconds, SIGTERM once it compiles: the
    sensor drains and writes its outputs without waiting for the compile, and drops it."""
    workdir = os.path.join(a.workdir, "stop")
    rules_dir = os.path.join(workdir, "rules")
    os.makedirs(rules_dir)
    with open(os.path.join(rules_dir, "local.rules"), "w") as f:
        f.write(all_rules)
    logs = os.path.join(workdir, "logs")
    # Paced at the capture's own speed: still replaying when it is stopped.
    proc = subprocess.Popen([a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
                             "-S", rules_dir, "-r", pcap, "-l", logs, "--workers", "2",
                             "--pcap-speed", "1", "--set", "detect.hyperscan-cache.path=off"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_log(logs, r"\d+ worker\(s\)", proc, 60)
        write_large_rules(os.path.join(rules_dir, "large.rules"))
        proc.send_signal(signal.SIGHUP)
        wait_log(logs, r"rule reload: \d+ rule\(s\) parsed, compiling", proc, 180,
                 give_up=r"rules reloaded|rule reload failed")
        out, err, exit_s = signal_and_collect(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check(proc.returncode == 0, f"stop during a compile: sensor exit {proc.returncode}: {err}")
    log = read_log(logs).splitlines()
    print(f"stop during a compile: exit {exit_s:.2f} s after SIGTERM")

    def line_of(text):
        found = [i for i, l in enumerate(log) if text in l]
        check(found, f"no {text!r} in sensor.log:\n" + "\n".join(log))
        return found[0]

    # The stop cut the compile short (no database starts after it) and the reload was dropped;
    # the run's outputs did not wait for it.
    abandoned = log[line_of("rule reload abandoned")]
    check("compile cancelled" in abandoned,
          f"the compile was not cancelled by the stop: {abandoned}")
    line_of("run complete")
    line_of("1 rule reload(s) cut short by the end of the run")
    check(not any("rules reloaded" in l for l in log), "the abandoned rules were published")
    stats = read_stats(logs)
    check_accounting(stats)
    reloads = stats["rules"]["reloads"]
    check(reloads["ok"] == 0 and reloads["failed"] == 0 and reloads["abandoned"] == 1,
          f"stop during a compile: reload counters {reloads}")
    events = read_eve(logs)
    check(stats["eve"]["written"] == len(events) > 0,
          f"stop during a compile: eve written {stats['eve']['written']}, eve.json {len(events)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--promtool", default=shutil.which("promtool"))
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
    without_c2 = "\n".join(l for l in all_rules.splitlines() if f"sid:{C2_SID};" not in l)

    beacons = c2_beacon_packets(a, pcap, all_rules)
    want = {x["sid"]: x["count"] for x in expected["alerts"]}
    check(len(beacons) == want[C2_SID] >= 2, f"C2 beacons in a plain run: {beacons}")
    reload_with_metrics(a, pcap, expected, all_rules, without_c2, a.promtool, beacons)
    stop_during_compile(a, pcap, all_rules)


if __name__ == "__main__":
    main_wrapper(main)
