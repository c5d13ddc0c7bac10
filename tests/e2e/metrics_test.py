#!/usr/bin/env python3
"""Metrics end to end.

Deploy checks (always, also alone with --deploy-only): promtool check config / check rules /
test rules on deploy/prometheus, amtool check-config on deploy/alertmanager, and every PromQL
query of the Grafana dashboard parsed by promtool.

Sensor checks (skipped with exit 77 until the sensor has --metrics-listen and --metrics-file):
replay the generated sample with --metrics-file and --metrics-listen 127.0.0.1:0; promtool
check metrics passes on a live scrape and on the file; the file's final counters equal the
pcap's packet count and eve.json's alerts (per Concept category), flows (per app_proto) and
stats.json's drops; names are unique and follow the convention; every metric the dashboard
and the alerting rules use is in the scrape; basic auth answers 401 without credentials and
200 with them (when --metrics-basic-auth-file exists)."""

import argparse
import base64
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from e2e_common import Failure, check, main_wrapper, read_eve, read_stats, stop_process

SKIP = 77
NAME_RE = re.compile(r"^sensor_[a-z0-9_]+$")
LISTEN_RE = re.compile(r"metrics listening on (\S+):(\d+)")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---- deploy files ----

def dashboard_queries(path):
    """Every PromQL string of a Grafana dashboard ("expr" and variable "query" fields)."""
    out = []

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("expr", "query") and isinstance(x, str):
                    out.append(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    with open(path, encoding="utf-8") as f:
        walk(json.load(f))
    return out


def grafana_to_promql(q):
    """Replaces Grafana's macros and variables so that promtool can parse the query."""
    q = q.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$__interval", "1m")
    return q.replace('"$instance"', '".*"')


def check_deploy(source, promtool, amtool, workdir):
    deploy = os.path.join(source, "deploy")
    prom_cfg = os.path.join(deploy, "prometheus", "prometheus.yml")
    rules = os.path.join(deploy, "prometheus", "sensor-alerts.yml")
    rules_test = os.path.join(deploy, "prometheus", "sensor-alerts.test.yml")
    am_cfg = os.path.join(deploy, "alertmanager", "alertmanager.yml")
    for args in ([promtool, "check", "config", prom_cfg],
                 [promtool, "check", "rules", rules],
                 [promtool, "test", "rules", rules_test],
                 [amtool, "check-config", am_cfg]):
        p = run(args)
        check(p.returncode == 0, f"{' '.join(args[1:])}: exit {p.returncode}\n{p.stdout}{p.stderr}")

    # Dashboard queries: parsed by promtool as recording rules (label_values() is Grafana's,
    # not PromQL, and is left out).
    dash = os.path.join(deploy, "grafana", "sensor-dashboard.json")
    queries = [q for q in dashboard_queries(dash) if not q.startswith("label_values(")]
    check(len(queries) >= 10, f"dashboard has only {len(queries)} queries")
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, q in enumerate(queries):
        lines.append(f"      - record: dashboard:query_{i}")
        lines.append(f"        expr: {json.dumps(grafana_to_promql(q))}")
    tmp = os.path.join(workdir, "dashboard-queries.yml")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    p = run([promtool, "check", "rules", tmp])
    check(p.returncode == 0, f"dashboard PromQL does not parse:\n{p.stdout}{p.stderr}")
    return queries


def metric_refs(texts):
    refs = set()
    for t in texts:
        refs.update(re.findall(r"sensor_[a-z0-9_]+", t))
    return refs


# ---- exposition ----

def parse_exposition(text):
    """Returns (types {family: type}, samples {(name, frozenset(labels)): value})."""
    types, samples = {}, {}
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            check(name not in types, f"family {name} appears twice")
            types[name] = kind
        elif line and not line.startswith("#"):
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", line)
            check(m is not None, f"unparsable sample line: {line!r}")
            labels = frozenset(label_re.findall(m.group(2) or ""))
            key = (m.group(1), labels)
            check(key not in samples, f"duplicate series: {line!r}")
            samples[key] = float(m.group(3))
    return types, samples


def series_names(types):
    names = set(types)
    for name, kind in types.items():
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def by_label(samples, name, label):
    out = {}
    for (n, labels), v in samples.items():
        if n == name:
            d = dict(labels)
            out[d.get(label, "")] = out.get(d.get(label, ""), 0) + v
    return out


def total(samples, name):
    return sum(v for (n, _), v in samples.items() if n == name)


def check_names(types):
    for name, kind in types.items():
        check(NAME_RE.match(name), f"metric name {name} breaks ^sensor_[a-z0-9_]+$")
        check((kind == "counter") == name.endswith("_total"),
              f"{name}: only counters, and every counter, end in _total ({kind})")


def promtool_metrics(promtool, text, what):
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    check(p.returncode == 0, f"promtool check metrics on {what}: exit {p.returncode}\n"
                             f"{p.stdout}{p.stderr}")


def http_get(url, auth=None, timeout=10):
    req = urllib.request.Request(url)
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


# ---- the sensor ----

def read_eve_alerts(logs):
    with open(os.path.join(logs, "eve.json")) as f:
        return [e for e in map(json.loads, f) if e["event_type"] == "alert"]


def sensor_help(sensor):
    p = run([sensor, "--help"])
    return p.stdout + p.stderr


class SensorRun:
    """A sensor process replaying pcaps with metrics; stopped in stop() whatever happened."""

    def __init__(self, sensor, source, pcaps, logs, extra):
        self.logs = logs
        shutil.rmtree(logs, ignore_errors=True)
        os.makedirs(logs)
        self.args = [sensor, "-c", os.path.join(source, "deploy", "sensor.yaml"),
                     "-S", os.path.join(source, "rules", "sets"), "-l", logs]
        for p in pcaps:
            self.args += ["-r", p]
        self.args += extra
        self.stdout = open(os.path.join(logs, "..", os.path.basename(logs) + ".stdout"), "w")
        self.proc = subprocess.Popen(self.args, stdout=self.stdout, stderr=subprocess.STDOUT)

    def wait_listen(self, timeout=60):
        """Host and port from 'metrics listening on HOST:PORT' in sensor.log."""
        log = os.path.join(self.logs, "sensor.log")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as f:
                    m = LISTEN_RE.search(f.read())
                if m:
                    return m.group(1), int(m.group(2))
            if self.proc.poll() is not None:
                raise Failure(f"sensor exited ({self.proc.returncode}) before logging its "
                              f"metrics address: {' '.join(self.args)}")
            time.sleep(0.02)
        raise Failure("no 'metrics listening on' line in sensor.log")

    def wait(self, timeout=600):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, 10)
        self.stdout.close()


def make_sample(trafficgen, source, workdir):
    with open(os.path.join(source, "tests", "e2e", "sample_expected.json")) as f:
        expected = json.load(f)
    pcap = os.path.join(workdir, "sample.pcap")
    if not os.path.exists(pcap):
        subprocess.run([trafficgen, "-o", pcap] + expected["generator"]["args"].split(),
                       check=True, capture_output=True)
    return pcap, expected


def check_final_metrics(samples, types, logs, packets_expected):
    """The exposition after the run against eve.json and stats.json of the same run."""
    stats = read_stats(logs)
    events = read_eve(logs)
    alerts = [e for e in events if e["event_type"] == "alert"]
    flows = [e for e in events if e["event_type"] == "flow"]

    packets = total(samples, "sensor_capture_packets_total")
    check(packets == packets_expected,
          f"sensor_capture_packets_total {packets} != packets in the pcap(s) {packets_expected}")
    check(total(samples, "sensor_capture_bytes_total") == stats["capture"]["bytes"],
          "sensor_capture_bytes_total != stats.json capture bytes")
    check(total(samples, "sensor_worker_frames_total") == packets_expected,
          "sensor_worker_frames_total != packets read")
    check(total(samples, "sensor_decode_dropped_total") == stats["decode"]["dropped_total"],
          "sum(sensor_decode_dropped_total) != stats.json dropped_total")
    check(total(samples, "sensor_decode_decoded_total") == stats["decode"]["decoded"],
          "sensor_decode_decoded_total != stats.json decoded")

    check(total(samples, "sensor_alert_written_total") == len(alerts),
          f"sensor_alert_written_total {total(samples, 'sensor_alert_written_total')} "
          f"!= eve alerts {len(alerts)}")
    # Accounting: generated = written + queue drops + output failures.
    check(total(samples, "sensor_alert_generated_total")
          == total(samples, "sensor_alert_written_total")
          + total(samples, "sensor_alert_queue_dropped_total")
          + total(samples, "sensor_alert_output_failed_total"),
          "alerts generated != written + queue drops + output failures")
    # eve.json's own record counts: every line of the file, none failed.
    eve_written = by_label(samples, "sensor_output_written_total", "output").get("eve")
    check(eve_written == len(events) == stats["eve"]["written"],
          f"sensor_output_written_total{{output=eve}} {eve_written}, eve.json lines {len(events)}, "
          f"stats.json {stats['eve']['written']}")
    check(by_label(samples, "sensor_output_failed_total", "output").get("eve") == 0,
          "sensor_output_failed_total{output=eve} is not 0")
    want = collections.Counter(c for e in alerts for c in e["alert"].get("concept", []))
    got = {k: v for k, v in by_label(samples, "sensor_alert_concept_total", "concept").items()
           if v}
    check(got == dict(want), f"alerts by concept: metrics {got} != eve.json {dict(want)}")
    check(len(alerts) > 0, "the sample produced no alerts: the comparison proves nothing")

    check(total(samples, "sensor_flow_records_total") == len(flows),
          "sensor_flow_records_total != eve flow events")
    want_apps = collections.Counter(e.get("app_proto", "failed") for e in flows)
    got_apps = {k: v for k, v in by_label(samples, "sensor_flow_app_proto_total", "app_proto")
                .items() if v}
    check(got_apps == dict(want_apps), f"flows by app_proto: metrics {got_apps} != eve.json "
                                       f"{dict(want_apps)}")
    check(total(samples, "sensor_flow_active") == 0, "flows still active after the run")
    check(total(samples, "sensor_metrics_sample_errors_total") == 0, "metrics provider errors")

    info = [dict(l) for (n, l), v in samples.items() if n == "sensor_rules_info" and v == 1]
    check(len(info) == 1 and re.fullmatch(r"[0-9a-f]{64}", info[0].get("ruleset_sha256", "")),
          f"sensor_rules_info: {info}")
    check(total(samples, "sensor_rules_loaded") > 0, "sensor_rules_loaded is 0")
    check(len([1 for (n, _), v in samples.items() if n == "sensor_build_info" and v == 1]) == 1,
          "sensor_build_info missing")
    print(f"metrics file: {int(packets)} packets, {len(alerts)} alerts in "
          f"{len(got)} Concept categories, {len(flows)} flows; {len(types)} families")
    check(set(types) >= {"sensor_capture_packets_total", "sensor_alert_concept_total",
                         "sensor_worker_batch_duration_seconds"}, "core families missing")


def check_basic_auth(sensor, source, pcap, workdir, workers):
    auth_file = os.path.join(workdir, "metrics-auth")
    with open(auth_file, "w") as f:
        f.write("prom:correct horse\n")
    os.chmod(auth_file, 0o600)
    run_ = SensorRun(sensor, source, [pcap] * 20, os.path.join(workdir, "logs-auth"),
                     ["--metrics-listen", "127.0.0.1:0", "--metrics-basic-auth-file", auth_file]
                     + linger_args(sensor) + worker_args(sensor, workers))
    try:
        host, port = run_.wait_listen()
        base = f"http://{host}:{port}"
        status, headers, _ = http_get(base + "/metrics")
        check(status == 401, f"/metrics without credentials: {status}, want 401")
        check("Basic" in headers.get("WWW-Authenticate", ""), f"no Basic challenge: {headers}")
        check(http_get(base + "/metrics", "prom:wrong")[0] == 401, "wrong password accepted")
        status, _, body = http_get(base + "/metrics", "prom:correct horse")
        check(status == 200 and "sensor_capture_packets_total" in body,
              f"/metrics with credentials: {status}")
        check(http_get(base + "/healthz")[0] == 200, "/healthz must not need credentials")
    finally:
        run_.stop()


def worker_args(sensor, workers):
    return ["--workers", str(workers)] if "--workers" in sensor_help(sensor) else []


def linger_args(sensor):
    return ["--metrics-linger", "30"] if "--metrics-linger" in sensor_help(sensor) else []


def check_sensor(a, refs):
    help_text = sensor_help(a.sensor)
    if "--metrics-listen" not in help_text or "--metrics-file" not in help_text:
        print("SKIP: the sensor has no --metrics-listen/--metrics-file yet")
        sys.exit(SKIP)
    pcap, expected = make_sample(a.trafficgen, a.source, a.workdir)

    # Several copies, so that the replay is still running when it is scraped.
    copies = 5
    metrics_file = os.path.join(a.workdir, "metrics.prom")
    logs = os.path.join(a.workdir, "logs")
    sensor_run = SensorRun(a.sensor, a.source, [pcap] * copies, logs,
                           ["--metrics-file", metrics_file, "--metrics-listen", "127.0.0.1:0"]
                           + linger_args(a.sensor) + worker_args(a.sensor, a.workers))
    try:
        host, port = sensor_run.wait_listen()
        check(host == "127.0.0.1", f"listening on {host}, want 127.0.0.1")
        base = f"http://{host}:{port}"
        try:
            status, headers, live = http_get(base + "/metrics")
        except (urllib.error.URLError, ConnectionError) as e:
            raise Failure(f"cannot scrape the running sensor ({e}): did the replay end first? "
                          "the sensor needs --metrics-linger")
        check(status == 200, f"/metrics: HTTP {status}")
        check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
              f"/metrics content type {headers.get('Content-Type')}")
        status, _, body = http_get(base + "/healthz")
        check(status == 200 and body.strip() == "ok", f"/healthz: {status} {body!r}")
        check(http_get(base + "/nonexistent")[0] == 404, "unknown path must be 404")
        promtool_metrics(a.promtool, live, "a live scrape")
        types, _ = parse_exposition(live)
        check_names(types)
        missing = sorted(refs - series_names(types))
        check(not missing, f"dashboard/alerting rules use metrics the sensor does not export: "
                           f"{missing}")
        if linger_args(a.sensor):
            # Lingering: wait for the run to finish, then the live scrape is final too.
            deadline = time.time() + 600
            while time.time() < deadline:
                with open(os.path.join(logs, "sensor.log"), errors="replace") as f:
                    if "run complete" in f.read():
                        break
                time.sleep(0.2)
            _, _, live_final = http_get(base + "/metrics")
            _, live_samples = parse_exposition(live_final)
            check(total(live_samples, "sensor_capture_packets_total") ==
                  expected["packets"] * copies, "final live scrape: packet count")
            # /alerts on the same listener: the newest alerts, filterable by concept.
            status, _, body = http_get(base + "/alerts?concept=crime.10&limit=100")
            check(status == 200, f"/alerts: HTTP {status}")
            recent = json.loads(body)
            want_ci = sum(1 for e in read_eve_alerts(logs) if "crime.10" in e["alert"]["concept"])
            check(len(recent) == min(100, want_ci) and want_ci > 0 and
                  all("crime.10" in e["alert"]["concept"] for e in recent),
                  f"/alerts?concept=crime.10: {len(recent)} alerts, eve.json has {want_ci}")
            check(http_get(base + "/alerts?since=never")[0] == 400, "/alerts bad since: not 400")
            sensor_run.stop()
        rc = sensor_run.wait()
        check(rc == 0, f"sensor exit {rc} (see {logs})")
    finally:
        sensor_run.stop()

    check(os.path.exists(metrics_file), f"--metrics-file {metrics_file} not written")
    check(not os.path.exists(metrics_file + ".tmp"), "temporary metrics file left behind")
    with open(metrics_file, encoding="utf-8") as f:
        text = f.read()
    promtool_metrics(a.promtool, text, "the --metrics-file output")
    types, samples = parse_exposition(text)
    check_names(types)
    check_final_metrics(samples, types, logs, expected["packets"] * copies)

    if "--metrics-basic-auth-file" in help_text:
        check_basic_auth(a.sensor, a.source, pcap, a.workdir, a.workers)
    else:
        print("note: no --metrics-basic-auth-file yet; basic auth is covered by the unit tests")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor")
    ap.add_argument("--trafficgen")
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--promtool", default=shutil.which("promtool"))
    ap.add_argument("--amtool", default=shutil.which("amtool"))
    ap.add_argument("--deploy-only", action="store_true")
    ap.add_argument("--workers", type=int, default=2,
                    help="sensor workers (more than one checks the sums over workers)")
    a = ap.parse_args()
    if not a.promtool or not a.amtool:
        print("SKIP: promtool or amtool not installed (Debian: prometheus, "
              "prometheus-alertmanager)")
        sys.exit(SKIP)
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)

    queries = check_deploy(a.source, a.promtool, a.amtool, a.workdir)
    if a.deploy_only:
        return
    if not a.sensor or not a.trafficgen:
        raise Failure("--sensor and --trafficgen are required without --deploy-only")
    with open(os.path.join(a.source, "deploy", "prometheus", "sensor-alerts.yml")) as f:
        rules_text = f.read()
    check_sensor(a, metric_refs(queries + [rules_text]))


if __name__ == "__main__":
    main_wrapper(main)
