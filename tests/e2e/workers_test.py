#!/usr/bin/env python3
"""The benchmark capture (real traffic: busy servers, tunnels, fragments) with ET Open 2024 and
1, 8 and 15 workers, placed by address pair and by flow: the same flow records (id, packets and
bytes each way), the same rule alerts, and the same built-in detections. Skips (77) when
../shared/corpora is not beside the checkout.

This capture holds packets of a few flows 300 s late in file order. Whether such packets made
one flow record or two once depended on whether a batch boundary fell between them; a flow's
idle time is now judged by the capture clock at which its packets were read
(docs/architecture.md).

Alerts of rules with a threshold or detection_filter are compared by count per sid: their
state is shared, and which match of a window reaches it first depends on how the workers'
threads ran. Built-in alerts likewise are compared by what they name (a scan: scanner and
target; a flood: target and port). Each worker counting SYNs alone against a share of the
flood count raised SYN floods at 8 and 15 workers on this capture that one worker never
raised."""

import argparse
import collections
import glob
import os
import re
import shutil
import sys

from e2e_common import check, check_accounting, main_wrapper, read_eve, read_stats, run_sensor

SCAN_SID = 9000001
FLOOD_SID = 9000002


def counted_sids(rules_dir):
    """Sids of enabled rules whose alerts pass a threshold or detection_filter."""
    sids = set()
    for path in glob.glob(os.path.join(rules_dir, "*.rules")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("alert") and ("threshold:" in line
                                                 or "detection_filter:" in line):
                    m = re.search(r"\bsid\s*:\s*(\d+)", line)
                    if m:
                        sids.add(int(m.group(1)))
    return sids


def records(events, thresholded):
    rules = []
    builtin = []
    for e in events:
        if e["event_type"] != "alert":
            continue
        sid = e["alert"]["signature_id"]
        if sid == SCAN_SID:
            builtin.append((sid, e["src_ip"], e["dest_ip"]))
        elif sid == FLOOD_SID:
            builtin.append((sid, e["dest_ip"], e["dest_port"]))
        elif sid in thresholded:
            rules.append((sid, 0, 0))
        else:
            rules.append((sid, e["flow_id"], e.get("pcap_cnt", -1)))
    flows = sorted((e["flow_id"], e["flow"]["pkts_toserver"], e["flow"]["pkts_toclient"],
                    e["flow"]["bytes_toserver"], e["flow"]["bytes_toclient"])
                   for e in events if e["event_type"] == "flow")
    return sorted(rules), sorted(builtin), flows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--corpora", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    pcap = os.path.join(a.corpora, "bench", "bench-mixed-dev.pcap")
    rules_dir = os.path.join(a.corpora, "rulesets", "et-open-2024-04-21_suricata-5.0-enhanced")
    for needed in (pcap, rules_dir):
        if not os.path.exists(needed):
            print(f"skip: {needed} not found")
            sys.exit(77)
    thresholded = counted_sids(rules_dir)
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)

    def run(workers, dispatch, read_ahead="auto", prefetch="true"):
        logs = os.path.join(a.workdir, f"logs-{workers}-{dispatch}-{read_ahead}-{prefetch}")
        rc, _, err = run_sensor(a.sensor, ["-c", os.path.join(a.source, "deploy", "sensor.yaml"),
                                           "-S", rules_dir,
                                           "-r", pcap, "-l", logs, "-k", "none",
                                           "--workers", str(workers),
                                           "--set", f"capture.dispatch={dispatch}",
                                           "--set", f"capture.read-ahead={read_ahead}",
                                           "--set", f"capture.prefetch={prefetch}"])
        check(rc == 0, f"--workers {workers} ({dispatch}): exit {rc}: {err}")
        stats = read_stats(logs)
        check_accounting(stats)
        reads_ahead = read_ahead == "true" or (read_ahead == "auto" and workers >= 4)
        reader_cpu = stats["cpu_s"].get("capture_reader", 0)
        check((reader_cpu > 0) == reads_ahead,
              f"--workers {workers} (read ahead {read_ahead}): reading thread's CPU {reader_cpu}")
        return records(read_eve(logs), thresholded)

    one_rules, one_builtin, one_flows = run(1, "pair")
    check(len(one_flows) > 5000, f"1 worker: {len(one_flows)} flow records")
    check(len(one_rules) > 500, f"1 worker: {len(one_rules)} rule alerts")
    check(any(b[0] == SCAN_SID for b in one_builtin), "1 worker: no port-scan alert")
    builtin_sids = collections.Counter(b[0] for b in one_builtin)
    print(f"1 worker: {len(one_rules)} rule alerts, built-in {dict(builtin_sids)}, "
          f"{len(one_flows)} flow records")
    # From 4 workers a second thread reads and keys packets for the capture thread (auto);
    # one run without it, whose workers also do not ask for packets' bytes ahead.
    for workers, dispatch, read_ahead, prefetch in ((8, "pair", "auto", "true"),
                                                    (15, "pair", "auto", "true"),
                                                    (15, "flow", "auto", "true"),
                                                    (8, "pair", "false", "false")):
        rules, builtin, flows = run(workers, dispatch, read_ahead, prefetch)
        what = f"--workers {workers} ({dispatch}, read ahead {read_ahead}, prefetch {prefetch})"
        check(flows == one_flows,
              f"{what}: flow records {sorted(set(flows) ^ set(one_flows))[:5]} differ from 1 worker"
              f" ({len(flows)} against {len(one_flows)})")
        check(rules == one_rules,
              f"{what}: rule alerts {sorted(set(rules) ^ set(one_rules))[:5]} differ from 1 worker")
        check(builtin == one_builtin,
              f"{what}: built-in alerts {sorted(set(builtin) ^ set(one_builtin))[:5]} differ "
              f"from 1 worker ({len(builtin)} against {len(one_builtin)})")
        print(f"{what}: the same")


if __name__ == "__main__":
    main_wrapper(main)
