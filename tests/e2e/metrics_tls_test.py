#!/usr/bin/env python3
"""HTTPS on the metrics listener, end to end.

Makes a self-signed certificate for 127.0.0.1 with the openssl command in a temporary
directory, replays the generated sample with metrics.tls.certificate / metrics.tls.key and
--metrics-listen 127.0.0.1:0, then scrapes https://127.0.0.1:PORT/metrics with Python's ssl
module trusting only that certificate. Checks: the scrape is the exposition; plain http on
the same port gets no HTTP answer; a client that does not trust the certificate fails; with
--metrics-basic-auth-file, 401 without or with wrong credentials and 200 with the right ones;
unreadable or unpaired TLS files stop the sensor at start (exit 2) naming the key.

Debian 12's civetweb looks up OpenSSL 1.1 function names that OpenSSL 3 no longer exports
(docs/metrics.md, "TLS"). Where the sensor refuses TLS for that reason, the test checks that
the refusal is clean, then builds the small compatibility library that docs/metrics.md
describes (with cc and the OpenSSL headers) and runs the checks above with it on
LD_LIBRARY_PATH. Skips (exit 77) without the openssl command, or when the library cannot be
built."""

import argparse
import base64
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from e2e_common import Failure, check, main_wrapper, stop_process
from metrics_test import make_sample

SKIP = 77
LISTEN_RE = re.compile(r"metrics listening on (\S+):(\d+) \(https\)")
OPENSSL3_REFUSAL = "civetweb cannot use this OpenSSL"

# OpenSSL 3 renamed SSL_get_peer_certificate to SSL_get1_peer_certificate (same behaviour) and
# keeps the old name only as a macro; this library exports it again for civetweb's lookup.
COMPAT_SOURCE = """\
#include <openssl/ssl.h>
#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *ssl) { return SSL_get1_peer_certificate(ssl); }
"""


def make_certificate(tmp):
    cert, key = os.path.join(tmp, "metrics.crt"), os.path.join(tmp, "metrics.key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True)
    check(p.returncode == 0, f"openssl req failed: {p.stderr}")
    return cert, key


def build_compat_library(tmp):
    """libssl.so exporting the OpenSSL 1.1 name, with libcrypto.so beside it; None if no cc."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    libdir = os.path.join(tmp, "openssl-compat")
    os.makedirs(libdir, exist_ok=True)
    src = os.path.join(libdir, "compat.c")
    with open(src, "w") as f:
        f.write(COMPAT_SOURCE)
    p = subprocess.run([cc, "-shared", "-fPIC", "-o", os.path.join(libdir, "libssl.so"), src,
                        "-Wl,--no-as-needed", "-l:libssl.so.3", "-l:libcrypto.so.3"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(f"cannot build the compatibility library: {p.stderr.strip()}")
        return None
    return libdir


class Sensor:
    """The sensor replaying the sample, then serving metrics until stop()."""

    def __init__(self, a, pcap, logs, extra, env=None):
        self.logs = logs
        shutil.rmtree(logs, ignore_errors=True)
        os.makedirs(logs)
        self.args = [a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
                     "-S", os.path.join(a.source, "rules", "sets"), "-r", pcap, "-l", logs,
                     "--metrics-listen", "127.0.0.1:0", "--metrics-linger", "120"] + extra
        self.out = open(logs + ".out", "w+")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT,
                                     env=env)

    def output(self):
        self.out.flush()
        self.out.seek(0)
        return self.out.read()

    def wait_listen(self, timeout=120):
        log = os.path.join(self.logs, "sensor.log")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as f:
                    m = LISTEN_RE.search(f.read())
                if m:
                    return int(m.group(2))
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        raise Failure("no 'metrics listening on ... (https)' line in sensor.log")

    def stop(self):
        stop_process(self.proc, signal.SIGINT, 60)
        self.out.close()
        return self.proc.returncode


def get(url, context=None, auth=None):
    """(status, body) of a GET; raises what urllib raises for transport failures."""
    req = urllib.request.Request(url)
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


def check_https(port, cert, auth=None):
    base = f"127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=cert)  # verifies the chain and the IP
    status, body = get(f"https://{base}/metrics", trusted, auth)
    check(status == 200, f"https scrape: status {status}")
    check("# TYPE sensor_capture_packets_total counter" in body,
          f"https scrape is not the exposition: {body[:200]!r}")
    status, _ = get(f"https://{base}/healthz", trusted)
    check(status == 200, f"https /healthz: status {status}")
    if auth is not None:
        check(get(f"https://{base}/metrics", trusted)[0] == 401, "no credentials: not 401")
        check(get(f"https://{base}/metrics", trusted, auth + "x")[0] == 401,
              "wrong password: not 401")
    # Plain HTTP to the TLS port: no HTTP answer at all.
    try:
        status, body = get(f"http://{base}/metrics", None, auth)
        check(status != 200 or "sensor_" not in body, "plain http served the metrics")
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        print(f"plain http refused as expected: {type(e).__name__}")
    # A client that does not trust the certificate.
    try:
        get(f"https://{base}/metrics", ssl.create_default_context(), auth)
        raise Failure("a client without the certificate in its trust store got an answer")
    except urllib.error.URLError as e:
        check(isinstance(e.reason, ssl.SSLCertVerificationError),
              f"untrusted client failed, but not on verification: {e.reason!r}")


def run_checks(a, pcap, cert, key, tmp, env):
    tls = ["--set", f"metrics.tls.certificate={cert}", "--set", f"metrics.tls.key={key}"]
    sensor = Sensor(a, pcap, os.path.join(a.workdir, "tls"), tls, env)
    port = None
    try:
        port = sensor.wait_listen()
        if port is not None:
            check_https(port, cert)
            print(f"https on port {port}: scrape, healthz, plain http, untrusted client checked")
    finally:
        output = sensor.output()
        rc = sensor.stop()
    if port is None:
        return rc, output
    check(rc == 0, f"sensor exit {rc} after the https run:\n{output[-2000:]}")

    auth_file = os.path.join(tmp, "auth")
    with open(auth_file, "w") as f:
        f.write("prom:s3cret\n")
    sensor = Sensor(a, pcap, os.path.join(a.workdir, "tls-auth"),
                    tls + ["--metrics-basic-auth-file", auth_file], env)
    try:
        port = sensor.wait_listen()
        check(port is not None, f"sensor exited:\n{sensor.output()[-2000:]}")
        check_https(port, cert, auth="prom:s3cret")
        print(f"https with basic auth on port {port}: 401/200 checked")
    finally:
        output = sensor.output()
        rc = sensor.stop()
    check(rc == 0, f"sensor exit {rc} after the https + auth run:\n{output[-2000:]}")
    return 0, ""


def expect_refused(a, pcap, sets, needle, env=None):
    args = [a.sensor, "-c", os.path.join(a.source, "deploy", "sensor.yaml"),
            "-S", os.path.join(a.source, "rules", "sets"), "-r", pcap,
            "-l", os.path.join(a.workdir, "refused"), "--metrics-listen", "127.0.0.1:0"]
    for s in sets:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    check(p.returncode == 2, f"{sets}: exit {p.returncode}, expected 2\n{p.stderr}")
    check(needle in p.stderr, f"{sets}: error lacks {needle!r}: {p.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if shutil.which("openssl") is None:
        print("SKIP: no openssl command to make a certificate")
        sys.exit(SKIP)
    os.makedirs(a.workdir, exist_ok=True)
    probe = subprocess.run([a.sensor, "-T", "-S", os.path.join(a.source, "rules", "sets"),
                            "--set", "metrics.tls.key="], capture_output=True, text=True)
    if "unknown key" in probe.stderr:
        print("SKIP: the sensor has no metrics.tls")
        sys.exit(SKIP)
    pcap, _ = make_sample(a.trafficgen, a.source, a.workdir)
    tmp = tempfile.mkdtemp(prefix="metrics-tls-")
    try:
        cert, key = make_certificate(tmp)
        missing = os.path.join(tmp, "missing.pem")
        expect_refused(a, pcap, [f"metrics.tls.certificate={missing}", f"metrics.tls.key={key}"],
                       f"metrics.tls.certificate '{missing}': cannot read")
        expect_refused(a, pcap, [f"metrics.tls.certificate={cert}", f"metrics.tls.key={missing}"],
                       f"metrics.tls.key '{missing}': cannot read")
        expect_refused(a, pcap, [f"metrics.tls.certificate={cert}"], "go together")
        print("unreadable and unpaired TLS files refused at start")

        rc, output = run_checks(a, pcap, cert, key, tmp, None)
        if rc == 0:
            return
        # The sensor refused TLS at start: it must be the known civetweb/OpenSSL 3 mismatch.
        check(rc == 2, f"sensor exit {rc} with TLS:\n{output[-2000:]}")
        check(OPENSSL3_REFUSAL in output,
              f"TLS refused for an unexpected reason:\n{output[-2000:]}")
        print(f"this civetweb cannot use OpenSSL 3; refused at start: "
              f"{output.strip().splitlines()[-1]}")
        libdir = build_compat_library(tmp)
        if libdir is None:
            print("SKIP: no compatibility library, so nothing is served over TLS here")
            sys.exit(SKIP)
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"]
                                           if env.get("LD_LIBRARY_PATH") else "")
        rc, output = run_checks(a, pcap, cert, key, tmp, env)
        check(rc == 0, f"sensor exit {rc} with the compatibility library:\n{output[-2000:]}")
        print("checked with the OpenSSL 1.1 name compatibility library on LD_LIBRARY_PATH")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main_wrapper(main)
