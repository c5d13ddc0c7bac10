#!/usr/bin/env python3
"""End-to-end checks of the command line: exit codes, error messages naming file/line/key,
-T load report, a stop during the start-up compile, capture filters on files (-r with -f or capture.bpf-filter), and the
corrupt-capture contract (readable packets processed, then the file, packet index and libpcap's
error are named and the exit code is 1)."""

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess

from e2e_common import (Failure, check, check_accounting, main_wrapper, read_eve, read_stats,
                        run_sensor, signal_and_collect, write_large_rules)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--corpora", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    sample_rules = os.path.join(a.source, "rules", "sets")
    sample_config = os.path.join(a.source, "deploy", "sensor.yaml")

    rc, out, err = run_sensor(a.sensor, ["--version"])
    check(rc == 0 and out.startswith("sensor "), f"--version: rc={rc} out={out!r}")

    rc, out, err = run_sensor(a.sensor, ["--help"])
    check(rc == 0 and "-r" in out and "Exit codes" in out, f"--help: rc={rc}")

    rc, out, err = run_sensor(a.sensor, ["--bogus"])
    check(rc == 2 and "error" in err, f"unknown option: rc={rc} err={err!r}")

    # -T on the shipped rules and config: usable.
    rc, out, err = run_sensor(a.sensor, ["-T", "-c", sample_config, "-S", sample_rules])
    check(rc == 0, f"-T shipped rules: rc={rc} out={out} err={err}")
    check("configuration OK" in out, f"-T output: {out!r}")

    # --dump-config: every key with its default, loadable with -c, and the same as the
    # reference copy in deploy/ (apart from the build's rules-data-dir).
    rc, out, err = run_sensor(a.sensor, ["--dump-config"])
    check(rc == 0 and "hyperscan-cache:" in out and "alertmanager:" in out, f"--dump-config: rc={rc}")
    dumped = os.path.join(a.workdir, "dumped.yaml")
    with open(dumped, "w") as f:
        f.write(out)
    rc, _, err = run_sensor(a.sensor, ["-T", "-c", dumped])
    check(rc == 0, f"-T -c <--dump-config output>: rc={rc} err={err!r}")
    with open(os.path.join(a.source, "deploy", "sensor.reference.yaml")) as f:
        reference = f.read().splitlines()
    produced = out.splitlines()
    check(len(reference) == len(produced),
          f"deploy/sensor.reference.yaml has {len(reference)} lines, --dump-config {len(produced)}:"
          " regenerate it (docs/user-guide.md)")
    for n, (want, got) in enumerate(zip(reference, produced), 1):
        if want.startswith("rules-data-dir:") and got.startswith("rules-data-dir:"):
            continue
        check(want == got, f"deploy/sensor.reference.yaml:{n}: {want!r} != --dump-config {got!r}")

    # -T with one bad rule: reported with file:line, exit 2; the good rule still loads.
    bad = os.path.join(a.workdir, "bad.rules")
    with open(bad, "w") as f:
        f.write('alert tcp any any -> any 80 (msg:"good"; content:"abc"; sid:1; rev:1;)\n')
        f.write("\n")
        f.write('alert tcp any any -> any 80 (msg:"no sid"; content:"abc";)\n')
    rc, out, err = run_sensor(a.sensor, ["-T", "-S", bad])
    check(rc == 2, f"-T bad rule: rc={rc}")
    check("bad.rules:3" in out, f"-T bad rule must name bad.rules:3: {out!r}")
    check("NOT usable" in out, f"-T bad rule verdict: {out!r}")

    # Unknown --set key, bad value, bad config: refused at start, naming the key or line.
    rc, out, err = run_sensor(a.sensor, ["-T", "--set", "no.such.key=1"])
    check(rc == 2 and "unknown key 'no.such.key'" in err, f"--set unknown key: rc={rc} err={err!r}")
    rc, out, err = run_sensor(a.sensor, ["-T", "--set", "flow.max-flows=lots"])
    check(rc == 2 and "flow.max-flows" in err, f"--set bad value: rc={rc} err={err!r}")
    rc, out, err = run_sensor(a.sensor, ["-T", "--set", "stream.midstream=true",
                                         "--set", "vars.address-groups.HOME_NET=[10.0.0.0/8]"])
    check(rc == 0, f"--set valid keys: rc={rc} err={err!r}")
    for bad_value in ("outputs.alertmanager.window=0", "outputs.alertmanager.batch-size=20000",
                      "outputs.alertmanager.queue-size=x",
                      "app-layer.tls.encryption-handling=bypass",
                      "app-layer.http.parser-pool=4096",
                      "app-layer.http.parser-pool=70368744177664",
                      "capture.ring-batches=1", "capture.ring-batches=8193",
                      "capture.dispatch=5-tuple", "capture.read-ahead=yes",
                      "capture.prefetch=sometimes", "capture.disable-offloading=maybe",
                      "threading.worker-cpus=3-1",
                      "threading.worker-cpus=0,0", "threading.capture-cpus=65535"):
        rc, out, err = run_sensor(a.sensor, ["-T", "--set", bad_value])
        key = bad_value.split("=")[0]
        check(rc == 2 and key in err, f"--set {bad_value}: rc={rc} err={err!r}")
    cfg = os.path.join(a.workdir, "bad.yaml")
    with open(cfg, "w") as f:
        f.write("flow:\n  max-flows: 10\n  max-flow: 20\n")
    rc, out, err = run_sensor(a.sensor, ["-T", "-c", cfg])
    check(rc == 2 and "bad.yaml:3" in err and "flow.max-flow" in err,
          f"bad config: rc={rc} err={err!r}")

    # Missing input file: exit 2 naming it, nothing processed.
    rc, out, err = run_sensor(a.sensor, ["-r", os.path.join(a.workdir, "missing.pcap"),
                                         "-S", sample_rules, "-l", os.path.join(a.workdir, "m")])
    check(rc == 2 and "missing.pcap" in err, f"missing pcap: rc={rc} err={err!r}")

    check_file_filters(a, sample_rules)
    check_pinned_run(a, sample_rules)
    check_interrupted_compile(a)

    # Corrupt capture: packet 1 is read and alerted on, packet 2's header is corrupt.
    corrupt_dir = os.path.join(a.corpora, "suricata-verify", "tests", "bug-6875-01")
    if not os.path.isdir(corrupt_dir):
        print(f"SKIP corrupt-capture check: {corrupt_dir} not present")
        return
    logs = os.path.join(a.workdir, "corrupt")
    rc, out, err = run_sensor(a.sensor, ["-k", "none", "-S", os.path.join(corrupt_dir, "test.rules"),
                                         "-r", os.path.join(corrupt_dir, "fuzz.pcap"), "-l", logs])
    check(rc == 1, f"corrupt pcap: expected exit 1, got {rc}; err={err!r}")
    check("fuzz.pcap: packet 2: cannot read" in err, f"corrupt pcap message: {err!r}")
    stats = read_stats(logs)
    check(stats["capture"]["packets"] == 1, f"corrupt pcap: packets read {stats['capture']['packets']}")
    check_accounting(stats)
    # Its only readable packet has a TCP header with a bad data offset: decoded at the IP layer
    # only (counted as l4_malformed, not dropped), so the test's `alert ip` rule fires on it,
    # as in Suricata.
    check(stats["decode"]["dropped"] == {}, f"corrupt pcap drops: {stats['decode']['dropped']}")
    check(stats["decode"]["l4_malformed"] == 1,
          f"corrupt pcap l4_malformed: {stats['decode'].get('l4_malformed')}")
    alerts = [e for e in read_eve(logs) if e["event_type"] == "alert"]
    check(len(alerts) == 1 and alerts[0]["alert"]["signature_id"] == 1
          and alerts[0]["pcap_cnt"] == 1,
          f"corrupt pcap: one ip-only alert on packet 1 expected, got {alerts}")


def check_interrupted_compile(a):
    """SIGINT while -T compiles a large rule set: the compile is cut short and the program
    exits 130 at once (before, the signal waited for the whole compile and -T reported the
    configuration usable)."""
    large = os.path.join(a.workdir, "large.rules")
    write_large_rules(large)
    proc = subprocess.Popen([a.sensor, "-T", "-S", large,
                             "--set", "detect.hyperscan-cache.path=off"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # -T prints its load report once the rules are parsed, before the compile starts.
        report = ""
        while "rules: " not in report:
            line = proc.stdout.readline()
            check(line, f"-T ended before its load report: {report!r}")
            report += line
        out, err, exit_s = signal_and_collect(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"SIGINT during the start-up compile: exit {exit_s:.2f} s after the signal")
    check("20000 loaded" in report, f"-T load report of the large set: {report!r}")
    check(proc.returncode == 128 + signal.SIGINT,
          f"SIGINT during the compile: rc={proc.returncode} (want 130) out={out!r} err={err!r}")
    check("stopped by SIGINT during the rule compile" in err, f"SIGINT during the compile: {err!r}")
    check("configuration OK" not in out, f"an interrupted -T must not report success: {out!r}")


def pcap_records(path):
    """(link type, [frame bytes]) of a classic pcap file, read here without libpcap."""
    with open(path, "rb") as f:
        data = f.read()
    order = "<" if struct.unpack("<I", data[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    linktype = struct.unpack(order + "I", data[20:24])[0]
    frames, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack(order + "I", data[pos + 8:pos + 12])[0]
        frames.append(data[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    return linktype, frames


def ip_protocol(frame):
    """The IP protocol of an untagged Ethernet frame (IPv6: the fixed header's next header),
    as libpcap's 'udp' and 'tcp' primitives read it; None when it is not IP."""
    ethertype = struct.unpack(">H", frame[12:14])[0]
    if ethertype == 0x0800 and len(frame) > 23:
        return frame[23]
    if ethertype == 0x86DD and len(frame) > 20:
        return frame[20]
    return None


def allowed_cpus():
    """The CPUs this process may run on, as the sensor reads its affinity mask."""
    return sorted(os.sched_getaffinity(0))


def check_pinned_run(a, sample_rules):
    """threading.worker-cpus / capture-cpus: a pinned run says so in sensor.log, gives each
    worker's CPU in stats.json (round robin over the list) and reads every packet; a CPU
    outside the affinity mask is refused naming the key and the CPUs there are."""
    capture = os.path.join(a.corpora, "ndpi", "pcap", "http_ipv6.pcap")
    if not os.path.isfile(capture):
        print(f"SKIP pinned run: {capture} not present")
        return
    cpus = allowed_cpus()
    logs = os.path.join(a.workdir, "pinned")
    rc, out, err = run_sensor(a.sensor, ["-k", "none", "-S", sample_rules, "-r", capture,
                                         "--workers", "3",
                                         "--set", f"threading.worker-cpus={cpus[-1]}",
                                         "--set", f"threading.capture-cpus={cpus[0]}",
                                         "-l", logs])
    check(rc == 0, f"pinned run: rc={rc} err={err!r}")
    stats = read_stats(logs)
    check_accounting(stats)
    pinned = [w["cpu"] for w in stats["dispatch"]["per_worker"]]
    check(pinned == [cpus[-1]] * 3, f"pinned run: workers' CPUs {pinned}, {[cpus[-1]] * 3} expected")
    with open(os.path.join(logs, "sensor.log")) as f:
        log = f.read()
    check(f"threads pinned: workers on CPU {cpus[-1]} (worker i on the i-th), other threads on "
          f"CPU {cpus[0]}"
          in log and "CPU pinning" not in log, f"pinned run: sensor.log says {log!r}")
    rc, out, err = run_sensor(a.sensor, ["-k", "none", "-S", sample_rules, "-r", capture,
                                         "-l", os.path.join(a.workdir, "unpinned")])
    unpinned = read_stats(os.path.join(a.workdir, "unpinned"))
    check(rc == 0 and unpinned["dispatch"]["per_worker"][0]["cpu"] is None,
          f"unpinned run: rc={rc} per_worker {unpinned['dispatch']['per_worker']}")
    # Without --workers: one worker per listed CPU.
    logs = os.path.join(a.workdir, "pinned-default")
    listed = cpus[-2:] if len(cpus) >= 2 else cpus
    rc, out, err = run_sensor(a.sensor, ["-k", "none", "-S", sample_rules, "-r", capture,
                                         "--set", "threading.worker-cpus=" +
                                         ",".join(str(c) for c in listed), "-l", logs])
    per_default = [w["cpu"] for w in read_stats(logs)["dispatch"]["per_worker"]] if rc == 0 else []
    check(per_default == listed, f"worker-cpus without --workers: rc={rc} CPUs {per_default}, "
          f"{listed} expected; err={err!r}")
    check(stats["capture"]["packets"] == unpinned["capture"]["packets"] > 0,
          f"pinned run read {stats['capture']['packets']} packets, "
          f"unpinned {unpinned['capture']['packets']}")
    outside = max(cpus) + 1
    rc, out, err = run_sensor(a.sensor, ["-T", "--set", f"threading.worker-cpus={outside}"])
    check(rc == 2 and f"config key 'threading.worker-cpus': CPU {outside} is not one this "
          "process may run on" in err, f"CPU outside the mask: rc={rc} err={err!r}")


def check_file_filters(a, sample_rules):
    """-f and capture.bpf-filter apply to -r: only the packets the filter passes are read
    (stats.json capture.packets, eve.json flows), the rest are counted as capture.filtered;
    a filter that does not compile, or not for one file's link type, is refused (exit 2)
    naming the file, the filter and where it came from."""
    capture = os.path.join(a.corpora, "ndpi", "pcap", "http_ipv6.pcap")
    if not os.path.isfile(capture):
        print(f"SKIP file filter checks: {capture} not present")
        return
    linktype, frames = pcap_records(capture)
    check(linktype == 1, f"{capture}: link type {linktype}, Ethernet expected")
    udp = sum(1 for fr in frames if ip_protocol(fr) == 17)
    check(0 < udp < len(frames) and any(ip_protocol(fr) == 6 for fr in frames),
          f"{capture}: {udp} UDP frames of {len(frames)}, a mix of UDP and TCP expected")

    for origin, extra in (("-f", ["-f", "udp"]), ("config", ["--set", "capture.bpf-filter=udp"])):
        for mapped in ("true", "false"):
            logs = os.path.join(a.workdir, f"filter-{origin.strip('-')}-{mapped}")
            prom = logs + ".prom"
            rc, out, err = run_sensor(a.sensor, ["-k", "none", "-S", sample_rules, "-r", capture,
                                                 "--set", f"capture.map-files={mapped}",
                                                 "--metrics-file", prom, *extra, "-l", logs])
            where = f"-r with filter udp from {origin}, map-files {mapped}"
            check(rc == 0, f"{where}: rc={rc} err={err!r}")
            stats = read_stats(logs)
            cap = stats["capture"]
            check(cap["packets"] == udp and cap["filtered"] == len(frames) - udp,
                  f"{where}: packets {cap['packets']}, filtered {cap['filtered']}; "
                  f"want {udp} and {len(frames) - udp}")
            check(cap["files"][0]["filtered"] == cap["filtered"],
                  f"{where}: per-file filtered {cap['files'][0]}")
            # read = enqueued + ring drops counts the packets the filter passed.
            check(stats["dispatch"]["enqueued"] + stats["dispatch"]["ring_full_drops"]
                  == cap["packets"], f"{where}: dispatch {stats['dispatch']}")
            check_accounting(stats)
            with open(prom) as f:
                exposition = f.read()
            for name, want in (("sensor_capture_filtered_total", cap["filtered"]),
                               ("sensor_capture_packets_total", cap["packets"])):
                m = re.search(rf'^{name}{{source="http_ipv6.pcap"}} (\S+)$', exposition, re.M)
                check(m is not None and float(m.group(1)) == want,
                      f"{where}: {name} {m.group(1) if m else 'missing'}, want {want}")
            flows = [e for e in read_eve(logs) if e["event_type"] == "flow"]
            protos = {e["proto"] for e in flows}
            check(flows and protos == {"UDP"}, f"{where}: flow protocols {protos}")
            log = open(os.path.join(logs, "sensor.log")).read()
            want = ("capture filter (-f): udp" if origin == "-f"
                    else "capture filter (config key 'capture.bpf-filter'): udp")
            check(want in log, f"{where}: no {want!r} in sensor.log")

    # A filter that does not compile: exit 2 before anything runs, naming origin, file, filter.
    for origin, extra in (("-f", ["-f", "udp and"]),
                          ("config key 'capture.bpf-filter'",
                           ["--set", "capture.bpf-filter=udp and"])):
        logs = os.path.join(a.workdir, "filter-bad")
        rc, _, err = run_sensor(a.sensor, ["-S", sample_rules, "-r", capture, *extra, "-l", logs])
        check(rc == 2 and f"error: {origin}: {capture}: bad capture filter 'udp and': " in err,
              f"bad filter from {origin} with -r: rc={rc} err={err!r}")
        check(not os.path.exists(os.path.join(logs, "eve.json")),
              f"bad filter from {origin} with -r: eve.json written")

    # A filter each file compiles for its own link type: "ether host" fits Ethernet, not a
    # raw-IP capture, which is then named (the Ethernet file before it is not).
    raw = os.path.join(a.workdir, "raw-ip.pcap")
    udp_datagram = bytes.fromhex("4500001c000000004011" "0000" "0a000001" "0a000002"
                                 "0035003500080000")
    with open(raw, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        f.write(struct.pack("<IIII", 1700000000, 0, len(udp_datagram), len(udp_datagram)))
        f.write(udp_datagram)
    expression = "udp or ether host 00:11:22:33:44:55"
    rc, _, err = run_sensor(a.sensor, ["-S", sample_rules, "-r", capture, "-r", raw,
                                       "-f", expression, "-l", os.path.join(a.workdir, "f-raw")])
    check(rc == 2 and f"error: -f: {raw}: bad capture filter '{expression}': " in err
          and "(link type RAW)" in err and capture not in err,
          f"filter for Ethernet on a raw-IP file: rc={rc} err={err!r}")
    logs = os.path.join(a.workdir, "filter-raw-udp")
    rc, _, err = run_sensor(a.sensor, ["-S", sample_rules, "-r", raw, "-f", "udp", "-l", logs])
    check(rc == 0 and read_stats(logs)["capture"]["packets"] == 1,
          f"udp filter on a raw-IP file: rc={rc} err={err!r}")
    print(f"file filters: {udp} of {len(frames)} packets pass 'udp' (-f and config, mapped and "
          "not), bad filters refused by origin and file")


if __name__ == "__main__":
    main_wrapper(main)
