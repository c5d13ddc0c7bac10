"""Helpers shared by the end-to-end tests: run the sensor, read its EVE and stats output,
and assert the accounting identities every run must satisfy."""

import json
import os
import subprocess
import sys


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
