#!/usr/bin/env python3
"""Syslog output end to end: the sensor replays the generated sample three times, sending its
alerts as RFC 5424 messages to a listener of this script: UDP (EVE JSON in MSG, facility
local3, a set hostname and app-name, --metrics-file), a Unix datagram socket (fast.log-style
text in MSG, the defaults otherwise) and TCP with RFC 6587 octet counting. Each time the
number of messages must equal eve.json's alerts, every message must match a strict RFC 5424
regex, and its PRI, TIMESTAMP, structured data and MSG must agree with the alert in eve.json.
Then targets that cannot be opened and bad keys must stop the sensor at start (exit 2) with
the config key named. Skips (exit 77) until the sensor knows outputs.syslog."""

import argparse
import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from e2e_common import Failure, check, main_wrapper, read_eve, read_stats
from metrics_test import make_sample

SKIP = 77

# RFC 5424 section 6, strictly: PRI 0..191 without leading zeros, VERSION 1, a full RFC 3339
# TIMESTAMP with at most 6 fraction digits and a zone, PRINTUSASCII header fields within their
# lengths, STRUCTURED-DATA as NILVALUE or SD-ELEMENTs whose PARAM-VALUEs escape '"', '\' and
# ']', and an optional MSG after one space.
PRI = r"<(0|[1-9][0-9]?|1[0-8][0-9]|19[01])>"
TIMESTAMP = (r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
             r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{1,6})?"
             r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
SD_NAME = r"[!#-<>-\\^-~]{1,32}"  # PRINTUSASCII except '=', ']' and '"'
PARAM_VALUE = r'(?:\\["\\\]]|[^"\\\]])*'
SD_ELEMENT = rf'\[{SD_NAME}(?: {SD_NAME}="{PARAM_VALUE}")*\]'
RFC5424 = re.compile(
    rf"^{PRI}1 (-|{TIMESTAMP}) ([!-~]{{1,255}}) ([!-~]{{1,48}}) ([!-~]{{1,128}}) "
    rf"([!-~]{{1,32}}) (-|(?:{SD_ELEMENT})+)(?: (.*))?$", re.DOTALL)
SD_PARAM = re.compile(rf'({SD_NAME})="({PARAM_VALUE})"')
TEXT_MSG = re.compile(r"^\[(\d+):(\d+):(\d+)\] (.+?)(?: \[Classification: (.+?)\])? "
                      r"\[Priority: (\d+)\] \{(\S+)\} (\S+) -> (\S+)$")

FACILITY = {"local3": 19, "local5": 21}
SEVERITY = {1: 2, 2: 3, 3: 4}  # alert severity -> syslog severity; anything else 5


class Listener:
    """Collects syslog messages on a UDP, Unix datagram or TCP socket, on a thread."""

    def __init__(self, kind, tmpdir):
        self.kind = kind
        self.messages = []
        self.errors = []
        if kind == "unix":
            self.path = os.path.join(tmpdir, "log.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.path)
            self.target = self.path
        else:
            stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
            self.sock = socket.socket(socket.AF_INET, stype)
            self.sock.bind(("127.0.0.1", 0))
            self.target = f"{kind}://127.0.0.1:{self.sock.getsockname()[1]}"
            if kind == "tcp":
                self.sock.listen(4)
        if kind != "tcp":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            if self.kind == "tcp":
                self.run_tcp()
            else:
                while not self.done.is_set():
                    try:
                        self.messages.append(self.sock.recv(1 << 16))
                    except socket.timeout:
                        pass
        except Exception as e:  # reported by stop()
            self.errors.append(repr(e))

    def run_tcp(self):
        streams = []
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            conn.settimeout(0.2)
            data = b""
            while True:
                try:
                    chunk = conn.recv(1 << 16)
                except socket.timeout:
                    if self.done.is_set():
                        break
                    continue
                if not chunk:
                    break
                data += chunk
            conn.close()
            streams.append(data)
        for data in streams:
            pos = 0
            while pos < len(data):  # MSG-LEN SP SYSLOG-MSG
                sp = data.find(b" ", pos)
                if sp < 0 or not data[pos:sp].isdigit() or sp + 1 + int(data[pos:sp]) > len(data):
                    raise Failure(f"tcp: bad octet-counting frame at offset {pos}")
                length = int(data[pos:sp])
                self.messages.append(data[sp + 1:sp + 1 + length])
                pos = sp + 1 + length

    def stop(self):
        time.sleep(0.5)  # what is in flight
        self.done.set()
        self.thread.join(timeout=10)
        self.sock.close()
        check(not self.errors, f"{self.kind} listener failed: {self.errors}")
        return self.messages


def sensor_args(a, pcap, logs, sets):
    args = [a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
            "-S", os.path.join(a.source, "rules", "sets"), "-r", pcap, "-l", logs]
    for s in sets:
        args += ["--set", s]
    return args


def run_with(a, pcap, logs, listener, sets, extra=()):
    shutil.rmtree(logs, ignore_errors=True)
    sets = ["outputs.syslog.enabled=true", f"outputs.syslog.target={listener.target}"] + sets
    p = subprocess.run(sensor_args(a, pcap, logs, sets) + list(extra), capture_output=True,
                       text=True, timeout=600)
    messages = listener.stop()
    check(p.returncode == 0, f"sensor exit {p.returncode} with {listener.target}:\n{p.stderr}")
    alerts = [e for e in read_eve(logs) if e["event_type"] == "alert"]
    check(alerts, "no alerts in eve.json: the sample should raise some")
    check(len(messages) == len(alerts),
          f"{listener.kind}: {len(messages)} syslog messages != {len(alerts)} alerts in eve.json")
    st = read_stats(logs).get("syslog")
    check(st is not None, "stats.json has no syslog section")
    check(st["sent"] == len(alerts) and st["submitted"] == len(alerts),
          f"stats.json syslog {st} != {len(alerts)} alerts")
    return alerts, messages


def parse(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Failure(f"message is not UTF-8: {e}: {raw[:200]!r}")
    m = RFC5424.match(text)
    check(m is not None, f"not an RFC 5424 message: {text[:300]!r}")
    pri, ts, host, app, procid, msgid, sd, msg = m.groups()
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in SD_PARAM.findall(sd)}
    check(sd.startswith("[alert@32473 "), f"structured data without alert@32473: {sd[:100]}")
    return {"pri": int(pri), "ts": ts, "host": host, "app": app, "procid": procid,
            "msgid": msgid, "sd": params, "msg": msg}


def syslog_ts(eve_ts):
    check(eve_ts.endswith("+0000"), f"eve timestamp not in UTC: {eve_ts}")
    return eve_ts[:-5] + "Z"


def check_common(alerts, parsed, facility, host, app):
    by_key = collections.defaultdict(list)
    for e in alerts:
        by_key[(e["alert"]["signature_id"], e["flow_id"], syslog_ts(e["timestamp"]))].append(e)
    for p in parsed:
        check(p["host"] == host, f"HOSTNAME {p['host']} != {host}")
        check(p["app"] == app, f"APP-NAME {p['app']} != {app}")
        check(p["procid"].isdigit(), f"PROCID {p['procid']} is not the pid")
        check(p["msgid"] == "alert", f"MSGID {p['msgid']}")
        key = (int(p["sd"]["sid"]), int(p["sd"]["flow_id"]), p["ts"])
        check(by_key.get(key), f"no eve alert for syslog message {key}")
        e = by_key[key].pop()
        severity = e["alert"]["severity"]
        check(p["pri"] == facility * 8 + SEVERITY.get(severity, 5),
              f"PRI {p['pri']} for facility {facility}, alert severity {severity}")
        sd = p["sd"]
        check(sd["gid"] == str(e["alert"]["gid"]) and sd["rev"] == str(e["alert"]["rev"]),
              f"gid/rev in {sd}")
        check(sd["signature"] == e["alert"]["signature"], f"signature {sd['signature']!r}")
        check(sd["src_ip"] == e["src_ip"] and sd["dest_ip"] == e["dest_ip"], f"ips in {sd}")
        if "src_port" in e:
            check(sd["src_port"] == str(e["src_port"]) and sd["dest_port"] == str(e["dest_port"]),
                  f"ports in {sd}")
        p["eve"] = e


def check_eve_msgs(parsed):
    for p in parsed:
        msg = p["msg"]
        check(msg is not None and not msg.startswith("\ufeff"), "eve MSG missing or with BOM")
        check(all(ord(c) < 128 for c in msg), "eve MSG is not ASCII")
        check(json.loads(msg) == p["eve"], f"MSG differs from the eve.json alert: {msg[:200]}")


def check_text_msgs(parsed):
    for p in parsed:
        msg = p["msg"] or ""
        msg = msg[1:] if msg.startswith("\ufeff") else msg
        m = TEXT_MSG.match(msg)
        check(m is not None, f"text MSG not in fast.log form: {msg!r}")
        e = p["eve"]["alert"]
        check((int(m.group(1)), int(m.group(2)), int(m.group(3))) ==
              (e["gid"], e["signature_id"], e["rev"]), f"[gid:sid:rev] of {msg!r}")
        check(int(m.group(6)) == e["severity"], f"priority in {msg!r}")


def metric(path, name, labels):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(name + "{") and labels in line:
                return float(line.rsplit(" ", 1)[1])
    return None


def expect_start_error(a, pcap, logs, sets, key):
    shutil.rmtree(logs, ignore_errors=True)
    p = subprocess.run(sensor_args(a, pcap, logs, ["outputs.syslog.enabled=true"] + sets),
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 2, f"{sets}: exit {p.returncode}, expected 2\n{p.stderr}")
    check(f"'{key}'" in p.stderr, f"{sets}: error does not name {key}: {p.stderr}")
    return p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    probe = subprocess.run([a.sensor, "-T", "-S", os.path.join(a.source, "rules", "sets"),
                            "--set", "outputs.syslog.enabled=false"],
                           capture_output=True, text=True)
    if "unknown key" in probe.stderr:
        print("SKIP: the sensor has no outputs.syslog")
        sys.exit(SKIP)
    pcap, _ = make_sample(a.trafficgen, a.source, a.workdir)
    # Unix socket paths are limited to 108 bytes: keep them short, outside the build tree.
    tmpdir = tempfile.mkdtemp(prefix="syslog-e2e-")
    try:
        # UDP, EVE JSON, explicit facility / hostname / app-name, metrics file.
        udp = Listener("udp", tmpdir)
        metrics_file = os.path.join(a.workdir, "udp.prom")
        alerts, msgs = run_with(a, pcap, os.path.join(a.workdir, "udp"), udp,
                                ["outputs.syslog.facility=local3",
                                 "outputs.syslog.hostname=e2e-host",
                                 "outputs.syslog.app-name=ids"],
                                ["--metrics-file", metrics_file])
        parsed = [parse(m) for m in msgs]
        check_common(alerts, parsed, FACILITY["local3"], "e2e-host", "ids")
        check_eve_msgs(parsed)
        written = metric(metrics_file, "sensor_output_written_total", 'output="syslog"')
        failed = metric(metrics_file, "sensor_output_failed_total", 'output="syslog"')
        check(written == len(alerts), f"sensor_output_written_total{{syslog}} {written}")
        check(failed == 0, f"sensor_output_failed_total{{syslog}} {failed}")
        print(f"udp: {len(msgs)} messages, metrics agree")

        # Unix datagram socket, text MSG, defaults (local5, this host's name, app-name sensor).
        unix = Listener("unix", tmpdir)
        alerts, msgs = run_with(a, pcap, os.path.join(a.workdir, "unix"), unix,
                                ["outputs.syslog.format=text"])
        parsed = [parse(m) for m in msgs]
        check_common(alerts, parsed, FACILITY["local5"], socket.gethostname(), "sensor")
        check_text_msgs(parsed)
        print(f"unix: {len(msgs)} messages")

        # TCP with octet counting, EVE JSON.
        tcp = Listener("tcp", tmpdir)
        alerts, msgs = run_with(a, pcap, os.path.join(a.workdir, "tcp"), tcp, [])
        parsed = [parse(m) for m in msgs]
        check_common(alerts, parsed, FACILITY["local5"], socket.gethostname(), "sensor")
        check_eve_msgs(parsed)
        print(f"tcp: {len(msgs)} messages")

        # Targets that cannot be opened, and bad values: refused at start, key named.
        missing = os.path.join(tmpdir, "missing.sock")
        err = expect_start_error(a, pcap, os.path.join(a.workdir, "bad"),
                                 [f"outputs.syslog.target={missing}"], "outputs.syslog.target")
        check(missing in err, f"error does not name the socket path: {err}")
        closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        expect_start_error(a, pcap, os.path.join(a.workdir, "bad"),
                           [f"outputs.syslog.target=tcp://127.0.0.1:{port}"],
                           "outputs.syslog.target")
        expect_start_error(a, pcap, os.path.join(a.workdir, "bad"),
                           ["outputs.syslog.target=udp://127.0.0.1"], "outputs.syslog.target")
        expect_start_error(a, pcap, os.path.join(a.workdir, "bad"),
                           ["outputs.syslog.facility=local9"], "outputs.syslog.facility")
        expect_start_error(a, pcap, os.path.join(a.workdir, "bad"),
                           ["outputs.syslog.format=xml"], "outputs.syslog.format")
        print("bad targets and values refused at start")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main_wrapper(main)
