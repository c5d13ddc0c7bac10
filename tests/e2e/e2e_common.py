"""Helpers shared by the end-to-end tests: run the sensor, read its EVE and stats output,
assert the accounting identities every run must satisfy, and start and stop the real servers
(Prometheus, Alertmanager) the tests need on loopback."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run_sensor(sensor, args, timeout=600):
    proc = subprocess.run([sensor] + args, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def read_eve(log_dir):
    events = []
    path = os.path.join(log_dir, "eve.json")
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise Failure(f"{path}:{n}: not JSON: {e}")
    return events


def read_stats(log_dir):
    with open(os.path.join(log_dir, "stats.json"), encoding="utf-8") as f:
        return json.load(f)


def check_accounting(stats):
    """packets read = decoded + sum(dropped{reason}), and every frame reached the worker."""
    read = stats["capture"]["packets"]
    decoded = stats["decode"]["decoded"]
    dropped = sum(stats["decode"]["dropped"].values())
    check(dropped == stats["decode"]["dropped_total"], "dropped_total != sum of reasons")
    check(read == decoded + dropped,
          f"accounting: packets read {read} != decoded {decoded} + dropped {dropped}")
    check(stats["worker"]["frames"] == read,
          f"accounting: worker frames {stats['worker']['frames']} != packets read {read}")


def main_wrapper(fn):
    try:
        fn()
    except Failure as e:
        print(f"FAIL: {e}")
        sys.exit(1)
    print("PASS")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, sig=signal.SIGTERM, timeout=20):
    """Sends sig and waits; kills the process when it does not end in time. Returns its exit
    status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def signal_and_collect(proc, sig, timeout=240):
    """Sends sig to a process started with pipes and collects its output:
    (stdout, stderr, seconds from the signal to its exit). Killed when it does not end in time."""
    sent = time.time()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err, time.time() - sent


def write_large_rules(path, count=20000, first_sid=5000000):
    """count rules with distinct literals: a Hyperscan compile of seconds (more under the
    sanitizers), for tests that stop the sensor during one."""
    with open(path, "w") as f:
        for i in range(count):
            f.write(f'alert tcp any any -> any any (msg:"large {i}"; '
                    f'content:"lg{i * 7919 % 1000003:07d}q{i:05d}"; sid:{first_sid + i}; rev:1;)\n')


class LoopbackServer:
    """A server of the Prometheus family started by a test on 127.0.0.1:port, with its output
    in NAME.log; /-/ready says when it serves."""

    def __init__(self, name, argv, port, workdir):
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(workdir, name + ".log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited ({self.proc.returncode}); see {self.name}.log")
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise Failure(f"{self.name} not ready in time")

    def stop(self):
        stop_process(self.proc)
        if not self.log.closed:
            self.log.close()
