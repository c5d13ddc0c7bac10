#!/usr/bin/env python3
"""Compare the sensor's nDPI verdicts with Debian ndpiReader 4.2's expected output.

For every pcap in CORPUS/pcap that has CORPUS/<results>/<pcap>.out, run
`SENSOR -r PCAP -k none -l OUTDIR`, read the flow events of OUTDIR/eve.json and match
them to the .out flow lines by 5-tuple (either direction). A flow agrees when the
sensor's ndpi.protocol equals ndpiReader's [proto: .../NAME]. Exit status: 0 when the
agreement reaches --min-agreement and every sensor run succeeded, 1 otherwise, 77 (skip)
when the corpus is absent.

--self-test checks only the .out parser: each file's flow lines must add up to the
flow counts of its own "Confidence ..." and per-protocol summary lines.

Standard library only.
"""

import argparse
import collections
import ipaddress
import json
import os
import re
import subprocess
import sys

DEFAULT_RESULTS = "result-debian-ndpiReader-4.2-2"

# ndpiReader 4.2 -v 2 flow line:
#   \t<N>\t<L4> <a>:<p> <-> <b>:<p> [proto: [TUNNEL:]<ids>/<Name>][...]...
# IPv6 endpoints are bracketed; one-way flows print "->".
FLOW_RE = re.compile(r"^\t(\d+)\t([A-Za-z0-9]+) (\S+) (<->|->) (\S+) (.*)$")
PROTO_RE = re.compile(r"\[proto: (?:[^/\]]*:)?[0-9.]+/([^\]]+)\]")
CONFIDENCE_RE = re.compile(r"^Confidence [^:]*: (\d+) \(flows\)$")
SUMMARY_RE = re.compile(r"^([^\t\s][^\t]*)\t(\d+)\t(\d+)\t(\d+)$")

L4_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "IPV6-ICMP": 58, "IGMP": 2,
              "VRRP": 112, "GRE": 47, "ESP": 50, "SCTP": 132}


class ParseError(Exception):
    pass


def l4_number(name):
    if isinstance(name, int):
        return name
    text = str(name).strip().upper()
    if text.isdigit():
        return int(text)
    if text not in L4_NUMBERS:
        raise ParseError("unknown l4 protocol %r" % name)
    return L4_NUMBERS[text]


def split_endpoint(text):
    """'1.2.3.4:80' or '[2001:db8::1]:443' -> (canonical ip text, port)."""
    if text.startswith("["):
        close = text.find("]:")
        if close < 0:
            raise ParseError("bad ipv6 endpoint %r" % text)
        host, port = text[1:close], text[close + 2:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ParseError("endpoint without port %r" % text)
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError as err:
        raise ParseError("bad endpoint %r: %s" % (text, err)) from None


def canonical_ip(text):
    return str(ipaddress.ip_address(text))


def flow_key(l4, a, b):
    """Direction-free 5-tuple: (l4 number, lower endpoint, higher endpoint)."""
    def order(ep):
        ip = ipaddress.ip_address(ep[0])
        return (ip.version, int(ip), ep[1])
    lo, hi = sorted((a, b), key=order)
    return (l4_number(l4), lo, hi)


def parse_out(path):
    """Returns (flows, confidence_total, summary_total); flows are dicts with key and
    protocol. Totals are None when the file has no such lines."""
    flows = []
    confidence_total = None
    summary_total = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            m = FLOW_RE.match(line)
            if m:
                where = "%s:%d" % (path, lineno)
                proto = PROTO_RE.search(m.group(6))
                if proto is None:
                    raise ParseError("%s: flow line without [proto: ...]" % where)
                try:
                    a = split_endpoint(m.group(3))
                    b = split_endpoint(m.group(5))
                    key = flow_key(m.group(2), a, b)
                except ParseError as err:
                    raise ParseError("%s: %s" % (where, err)) from None
                flows.append({"key": key, "protocol": proto.group(1), "line": lineno,
                              "text": "%s %s %s %s" % (m.group(2), m.group(3), m.group(4),
                                                       m.group(5))})
                continue
            m = CONFIDENCE_RE.match(line)
            if m:
                confidence_total = (confidence_total or 0) + int(m.group(1))
                continue
            m = SUMMARY_RE.match(line)
            if m:
                summary_total = (summary_total or 0) + int(m.group(4))
    return flows, confidence_total, summary_total


def parse_eve(path):
    """Flow events of an eve.json file: key -> list of ndpi protocol names."""
    found = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                event = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ParseError("%s:%d: bad json: %s" % (path, lineno, err)) from None
            if event.get("event_type") != "flow":
                continue
            try:
                key = flow_key(event["proto"],
                               (canonical_ip(event["src_ip"]), int(event.get("src_port", 0))),
                               (canonical_ip(event["dest_ip"]), int(event.get("dest_port", 0))))
            except (KeyError, ValueError, ParseError) as err:
                raise ParseError("%s:%d: bad flow event: %s" % (path, lineno, err)) from None
            ndpi = event.get("ndpi") or {}
            found[key].append(ndpi.get("protocol"))
    return found


def self_test(corpus, results):
    # Inline cases first: they pin the formats the corpus files may not all contain.
    cases = [
        ("\t1\tTCP 178.62.197.130:443 -> 192.168.1.13:53059 [proto: 91/TLS][Encrypted]",
         "TLS", (6, ("178.62.197.130", 443), ("192.168.1.13", 53059))),
        ("\t2\tUDP [2a00:d40:1:3:7aac:c0ff:fea7:d4c]:45931 <-> [2a00:1450:4001:803::1017]:443 "
         "[proto: 188.126/QUIC.Google][Encrypted]", "QUIC.Google",
         (17, ("2a00:d40:1:3:7aac:c0ff:fea7:d4c", 45931), ("2a00:1450:4001:803::1017", 443))),
        ("\t3\tUDP 10.0.0.2:2152 <-> 10.0.0.1:2152 [proto: GTP:7/HTTP][ClearText]", "HTTP",
         (17, ("10.0.0.1", 2152), ("10.0.0.2", 2152))),
    ]
    failures = 0
    for text, want_proto, want_key in cases:
        m = FLOW_RE.match(text)
        got = None
        if m:
            proto = PROTO_RE.search(m.group(6))
            got = (flow_key(m.group(2), split_endpoint(m.group(3)), split_endpoint(m.group(5))),
                   proto.group(1) if proto else None)
        if got != (want_key, want_proto):
            print("self-test: inline case failed: %r -> %r" % (text, got))
            failures += 1
    if FLOW_RE.match("\t1\t 192.168.0.1              \t 1      ") is not None:
        print("self-test: a JA3 host stats line was taken for a flow")
        failures += 1

    outdir = os.path.join(corpus, results)
    names = sorted(n for n in os.listdir(outdir) if n.endswith(".out"))
    if not names:
        print("self-test: no .out files in %s" % outdir)
        return 1
    total = 0
    for name in names:
        path = os.path.join(outdir, name)
        try:
            flows, confidence, summary = parse_out(path)
        except ParseError as err:
            print("self-test: %s" % err)
            failures += 1
            continue
        total += len(flows)
        status = "ok"
        if confidence is None or confidence != len(flows):
            status = "FAIL (confidence lines say %s)" % confidence
        elif summary is None or summary != len(flows):
            status = "FAIL (protocol summary says %s)" % summary
        if status != "ok":
            failures += 1
        print("%s: %d flows %s" % (name, len(flows), status))
    print("self-test: %d files, %d flows, %d failures" % (len(names), total, failures))
    return 1 if failures else 0


def compare(args):
    pcap_dir = os.path.join(args.corpus, "pcap")
    out_dir = os.path.join(args.corpus, args.results)
    os.makedirs(args.workdir, exist_ok=True)
    agree_total = 0
    flows_total = 0
    failed_runs = []
    for name in sorted(os.listdir(pcap_dir)):
        if args.pcap and name not in args.pcap:
            continue
        expected_path = os.path.join(out_dir, name + ".out")
        if not os.path.exists(expected_path):
            print("%s: skipped (no %s)" % (name, os.path.relpath(expected_path, args.corpus)))
            continue
        expected, _, _ = parse_out(expected_path)
        run_dir = os.path.join(args.workdir, name)
        os.makedirs(run_dir, exist_ok=True)
        eve_path = os.path.join(run_dir, "eve.json")
        if os.path.exists(eve_path):
            os.remove(eve_path)
        cmd = [args.sensor, "-r", os.path.join(pcap_dir, name), "-k", "none", "-l", run_dir]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=args.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            print("%s: sensor failed: %s" % (name, err))
            failed_runs.append(name)
            flows_total += len(expected)
            continue
        if proc.returncode != 0 or not os.path.exists(eve_path):
            tail = proc.stdout.decode(errors="replace").strip().splitlines()[-3:]
            print("%s: sensor failed (exit %d): %s" % (name, proc.returncode, " | ".join(tail)))
            failed_runs.append(name)
            flows_total += len(expected)
            continue
        found = parse_eve(eve_path)
        agree = 0
        lines = []
        for flow in expected:
            candidates = found.get(flow["key"])
            if not candidates:
                lines.append("  missing  %s expected %s" % (flow["text"], flow["protocol"]))
                continue
            if flow["protocol"] in candidates:
                candidates.remove(flow["protocol"])
                agree += 1
            else:
                got = candidates.pop(0)
                lines.append("  differs  %s expected %s got %s" % (flow["text"], flow["protocol"],
                                                                  got))
        extra = sum(len(v) for v in found.values())
        agree_total += agree
        flows_total += len(expected)
        print("%s: %d/%d flows agree%s" % (name, agree, len(expected),
                                            ", %d extra sensor flows" % extra if extra else ""))
        if args.verbose:
            for line in lines:
                print(line)
    ratio = agree_total / flows_total if flows_total else 0.0
    print("ndpi agreement: %d/%d flows (%.1f%%)" % (agree_total, flows_total, 100.0 * ratio))
    if failed_runs:
        print("sensor failed on: %s" % ", ".join(failed_runs))
        return 1
    if ratio < args.min_agreement:
        print("below --min-agreement %.3f" % args.min_agreement)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensor", help="sensor binary")
    parser.add_argument("--corpus", required=True, help="e.g. ../shared/corpora/ndpi")
    parser.add_argument("--workdir", help="where each run's eve.json goes")
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="expected-output folder")
    parser.add_argument("--min-agreement", type=float, default=0.95)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per pcap")
    parser.add_argument("--pcap", action="append", help="only this pcap (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list differing flows")
    parser.add_argument("--self-test", action="store_true", help="check the .out parser only")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.corpus, args.results)):
        print("ndpi_compare: skipped, no %s" % os.path.join(args.corpus, args.results))
        return 77
    try:
        if args.self_test:
            return self_test(args.corpus, args.results)
        if not args.sensor or not args.workdir:
            parser.error("--sensor and --workdir are required unless --self-test")
        return compare(args)
    except ParseError as err:
        print("ndpi_compare: %s" % err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
