#!/usr/bin/env python3
"""End to end on the on-disk Hyperscan cache: a second start with unchanged rules loads every
database instead of compiling it and gives the same alerts; changed rules miss; a damaged file
is compiled again; a cache path that cannot be used is refused at start, naming the key."""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess

from e2e_common import check, main_wrapper, read_eve, run_sensor

SUMMARY = re.compile(r"hyperscan: (\d+) database\(s\) in [0-9.]+ s: (\d+) from the cache in (.+), "
                     r"(\d+) compiled")


def summary(out):
    m = SUMMARY.search(out)
    check(m is not None, f"no hyperscan cache summary in -T output: {out!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(4))


def alerts(logs):
    return sorted((e["timestamp"], e["alert"]["signature_id"], e.get("src_ip"), e.get("dest_ip"))
                  for e in read_eve(logs) if e.get("event_type") == "alert")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--trafficgen", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    rules = os.path.join(a.source, "rules", "sets")
    cache = os.path.join(a.workdir, "cache")
    use_cache = ["--set", f"detect.hyperscan-cache.path={cache}"]

    # Cold, then warm.
    rc, out, err = run_sensor(a.sensor, ["-T", "-S", rules] + use_cache)
    check(rc == 0, f"-T cold: rc={rc} err={err!r}")
    total, loaded, compiled = summary(out)
    check(total > 0 and loaded + compiled == total and compiled > 0,
          f"cold start must compile: {out!r}")
    files = glob.glob(os.path.join(cache, "*.hsdb"))
    # Databases with the same patterns (e.g. both directions of a variant) share one key: two
    # compile threads may both miss and store the same file, so files <= compiled.
    check(1 <= len(files) <= compiled,
          f"{compiled} database(s) compiled but {len(files)} file(s) stored")
    rc, out, err = run_sensor(a.sensor, ["-T", "-S", rules] + use_cache)
    check(rc == 0, f"-T warm: rc={rc}")
    check(summary(out) == (total, total, 0), f"warm start must load every database: {out!r}")

    # A damaged file: that database alone is compiled again.
    with open(files[0], "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x40]))
    rc, out, err = run_sensor(a.sensor, ["-T", "-S", rules] + use_cache)
    check(rc == 0, f"-T damaged: rc={rc}")
    t, l, c = summary(out)
    check(t == total and c >= 1 and l + c == total, f"damaged file must be recompiled: {out!r}")

    # Changed rules: their databases miss.
    extra = os.path.join(a.workdir, "extra.rules")
    with open(extra, "w") as f:
        f.write('alert tcp any any -> any any (msg:"extra"; flow:to_server; '
                'content:"cache-test-pattern"; sid:9000001; rev:1;)\n')
    rc, out, err = run_sensor(a.sensor, ["-T", "-S", rules, "-S", extra] + use_cache)
    check(rc == 0, f"-T changed: rc={rc} err={err!r}")
    t, l, c = summary(out)
    check(c >= 1, f"changed rules must compile at least one database: {out!r}")

    # The same alerts with no cache, a cold cache and a warm one.
    pcap = os.path.join(a.workdir, "sample.pcap")
    with open(os.path.join(a.source, "tests", "e2e", "sample_expected.json")) as f:
        gen_args = json.load(f)["generator"]["args"].split()
    subprocess.run([a.trafficgen, "-o", pcap] + gen_args, check=True, capture_output=True)
    runs = {}
    for name, extra_args in [("off", ["--set", "detect.hyperscan-cache.path=off"]),
                             ("cold", ["--set", f"detect.hyperscan-cache.path={cache}-2"]),
                             ("warm", ["--set", f"detect.hyperscan-cache.path={cache}-2"])]:
        logs = os.path.join(a.workdir, "run-" + name)
        rc, out, err = run_sensor(a.sensor, ["-r", pcap, "-S", rules, "-l", logs] + extra_args)
        check(rc == 0, f"run {name}: rc={rc} err={err!r}")
        runs[name] = alerts(logs)
        with open(os.path.join(logs, "sensor.log")) as f:
            log = f.read()
        if name == "off":
            check("(no cache)" in log, f"run off: sensor.log must say no cache: {log!r}")
        if name == "warm":
            check(re.search(r"from the cache in .*, 0 compiled", log) is not None,
                  f"run warm: sensor.log must show a full cache hit: {log!r}")
    check(len(runs["off"]) > 0, "the sample must raise alerts")
    check(runs["off"] == runs["cold"] == runs["warm"],
          f"alerts differ: off {len(runs['off'])}, cold {len(runs['cold'])}, "
          f"warm {len(runs['warm'])}")

    # A configured path that cannot be a directory: refused at start.
    blocker = os.path.join(a.workdir, "a-file")
    with open(blocker, "w") as f:
        f.write("x")
    rc, out, err = run_sensor(a.sensor, ["-T", "-S", rules, "--set",
                                         f"detect.hyperscan-cache.path={blocker}"])
    check(rc == 2 and "detect.hyperscan-cache.path" in err and "a-file" in err,
          f"unusable cache path: rc={rc} err={err!r}")


if __name__ == "__main__":
    main_wrapper(main)
