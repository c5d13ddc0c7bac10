#!/usr/bin/env python3
"""Rule-set coverage report: runs `sensor -T` over each public rule set in
../shared/corpora/rulesets/ and writes docs/rules.md (loaded / active rules, unsupported rules
by keyword, errors with examples, and the coverage targets).

`sensor -T` prints counts by the *first* unsupported keyword of each rule only. To show which
keywords block rules (every unsupported keyword of a rule, and which one alone would load it),
the script also replays an empty capture with the same rules and reads sensor.log, where the
sensor lists every skipped rule with all its unsupported keywords.

Exit status: 0 report written; 1 with --check-targets when a target is missed; 2 when the
sensor's output could not be understood (the format changed) or the sensor failed.
"""

import argparse
import collections
import datetime
import os
import re
import struct
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RULESETS = os.path.join(REPO_ROOT, "..", "shared", "corpora", "rulesets")

# (folder, title, target share of active rules that must load)
RULESETS = [
    ("et-open-2024-04-21_suricata-5.0-enhanced", "ET Open 2024 (Suricata 5.0 enhanced)", 0.90),
    ("snort3-community-rules_2024-02-28", "Snort 3 community 2024-02-28", 0.85),
    ("et-open-2017-05_snort-2.9.0", "ET Open 2017 (Snort 2.9.0)", 0.90),
]

EXAMPLES_PER_ERROR_KIND = 3
GREEDY_MAX_STEPS = 30


class ReportError(Exception):
    pass


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    return proc.returncode, proc.stdout, proc.stderr


def parse_load_report(text, rc):
    """Parses the text of `sensor -T`; checks that its counts add up."""
    lines = text.splitlines()
    result = {"unsupported_first": collections.OrderedDict(), "errors": []}
    section = None
    for line in lines:
        if m := re.match(r"^rule files: (\d+)$", line):
            result["files"] = int(m.group(1))
            section = None
        elif m := re.match(r"^rules: (\d+) seen, (\d+) loaded, (\d+) unsupported, (\d+) errors, "
                           r"(\d+) unclassified$", line):
            (result["seen"], result["loaded"], result["unsupported"], result["error_count"],
             result["unclassified"]) = map(int, m.groups())
            section = None
        elif line == "unsupported rules by first unsupported keyword:":
            section = "unsupported"
        elif line == "errors:":
            section = "errors"
        elif line.startswith("configuration "):
            result["verdict"] = line
            section = None
        elif line.startswith("hyperscan: "):
            # How the databases were built (compiled or from the cache): not a load figure.
            result["hyperscan"] = line
            section = None
        elif line.startswith("  ") and section == "unsupported":
            m = re.match(r"^  (.+): (\d+)$", line)
            if not m:
                raise ReportError(f"unexpected line in the unsupported section: {line!r}")
            result["unsupported_first"][m.group(1)] = int(m.group(2))
        elif line.startswith("  ") and section == "errors":
            result["errors"].append(line[2:])
        elif line.strip():
            raise ReportError(f"unexpected line in the load report: {line!r}")
    for key in ("files", "seen", "loaded", "unsupported", "error_count", "verdict"):
        if key not in result:
            raise ReportError(f"load report lacks '{key}'")
    if sum(result["unsupported_first"].values()) != result["unsupported"]:
        raise ReportError("unsupported counts by keyword do not add up to the total")
    if len(result["errors"]) != result["error_count"]:
        raise ReportError("number of error lines differs from the error count")
    if result["loaded"] + result["unsupported"] + result["error_count"] != result["seen"]:
        raise ReportError("loaded + unsupported + errors != rules seen")
    if (rc == 2) != (result["error_count"] > 0):
        raise ReportError(f"exit status {rc} does not fit {result['error_count']} error(s)")
    return result


def skipped_rules_from_log(log_path):
    """[(location, [keywords])] for rules skipped as unsupported, from sensor.log."""
    rules = []
    pattern = re.compile(r"rule skipped \(unsupported\): (\S+?:\d+(?::\d+)?): "
                         r"unsupported keywords? (.*)$")
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = pattern.search(line.rstrip("\n"))
            if m:
                keywords = re.findall(r"'([^']*)'", m.group(2))
                if not keywords:
                    raise ReportError(f"sensor.log: no keyword in {line.strip()!r}")
                rules.append((m.group(1), keywords))
    return rules


def keyword_analysis(skipped):
    needing = collections.Counter()
    alone = collections.Counter()
    for _, keywords in skipped:
        for k in set(keywords):
            needing[k] += 1
        if len(set(keywords)) == 1:
            alone[keywords[0]] += 1
    return needing, alone


def greedy_order(skipped, steps, stop_at):
    """Keywords in the order that loads the most rules at each step: [(keyword, newly loaded)],
    until stop_at rules are loaded (counting from zero) or `steps` keywords are listed."""
    remaining = [set(k) for _, k in skipped]
    supported = set()
    order = []
    loaded = 0
    for _ in range(steps):
        if loaded >= stop_at:
            break
        gain = collections.Counter()
        for kws in remaining:
            missing = kws - supported
            # A keyword's gain: rules that become loadable when it is added.
            if len(missing) == 1:
                gain[next(iter(missing))] += 1
        if not gain:
            # No single keyword completes a rule: take the one most rules need.
            need = collections.Counter(k for kws in remaining for k in kws - supported)
            if not need:
                break
            best, _ = need.most_common(1)[0]
            supported.add(best)
            order.append((best, 0))
            continue
        best, count = sorted(gain.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        supported.add(best)
        order.append((best, count))
        loaded += count
        remaining = [kws for kws in remaining if not kws <= supported]
    return order


def error_kinds(errors):
    """Groups error messages by their text with the location and quoted/variable names masked."""
    kinds = collections.OrderedDict()
    for e in errors:
        m = re.match(r"^(\S+?:\d+(?::\d+)?): (.*)$", e)
        message = m.group(2) if m else e
        kind = re.sub(r"'[^']*'", "'…'", message)
        kind = re.sub(r"\b\d+\b", "N", kind)
        kinds.setdefault(kind, []).append(e)
    return sorted(kinds.items(), key=lambda kv: -len(kv[1]))


def read_rulestats(rulesets_dir):
    """{folder: active rule count} from RULESTATS.md, as a cross-check of 'rules seen'."""
    counts = {}
    path = os.path.join(rulesets_dir, "RULESTATS.md")
    if not os.path.exists(path):
        return counts
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and cells[2].isdigit():
                counts[cells[0]] = int(cells[2])
    return counts


def pct(part, whole):
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def md_escape(text):
    return text.replace("|", "\\|")


def rel(path):
    return os.path.relpath(os.path.abspath(path), REPO_ROOT)


def shown_sensor_path(path):
    """The --sensor value for the report: a preset build (build/<preset>/...) as given, any
    other build as <sensor>, so that the report names no private folder of a machine."""
    relative = rel(path)
    presets = ("dev", "release", "tsan", "fuzz", "coverage")
    if any(relative.startswith(f"build/{p}/") for p in presets):
        return relative
    return "<sensor>"


def source_state():
    """'commit abc1234' or 'commit abc1234 with uncommitted changes', '' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if head.returncode != 0:
        return ""
    state = f"commit {head.stdout.strip()}"
    if dirty.returncode == 0 and dirty.stdout.strip():
        state += " with uncommitted changes"
    return state


def build_report(args):
    rulesets_dir = os.path.abspath(args.rulesets)
    if not os.path.isdir(rulesets_dir):
        raise ReportError(f"{rel(rulesets_dir)}: no rule sets here")
    sensor = os.path.abspath(args.sensor)
    rc, version, _ = run([sensor, "--version"], REPO_ROOT)
    version = version.strip() if rc == 0 else "unknown"
    rulestats = read_rulestats(rulesets_dir)

    results = []
    with tempfile.TemporaryDirectory(prefix="rules-report-") as tmp:
        empty = os.path.join(tmp, "empty.pcap")
        with open(empty, "wb") as f:
            # pcap global header only: magic, v2.4, thiszone, sigfigs, snaplen, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for folder, title, target in RULESETS:
            if not os.path.isdir(os.path.join(rulesets_dir, folder)):
                raise ReportError(f"{folder}: missing under {rel(rulesets_dir)}")
            # Relative -S so that messages name files as rulesets/<folder>/<file>.
            rc, out, err = run([sensor, "-T", "-S", folder], rulesets_dir)
            if rc not in (0, 2):
                raise ReportError(f"sensor -T -S {folder}: exit status {rc}: {err.strip()}")
            report = parse_load_report(out, rc)
            log_dir = os.path.join(tmp, folder)
            rc2, _, err2 = run([sensor, "-r", empty, "-S", folder, "-l", log_dir], rulesets_dir)
            if rc2 != 0:
                raise ReportError(f"replay of an empty capture with {folder}: exit status "
                                  f"{rc2}: {err2.strip()[-300:]}")
            skipped = skipped_rules_from_log(os.path.join(log_dir, "sensor.log"))
            if len(skipped) != report["unsupported"]:
                raise ReportError(f"{folder}: sensor.log lists {len(skipped)} unsupported rules, "
                                  f"-T counts {report['unsupported']}")
            first_from_log = collections.Counter(k[0] for _, k in skipped)
            if dict(first_from_log) != dict(report["unsupported_first"]):
                raise ReportError(f"{folder}: first keywords in sensor.log differ from -T")
            results.append({
                "folder": folder, "title": title, "target": target, "report": report,
                "skipped": skipped, "rulestats_active": rulestats.get(folder),
            })
    return version, results


def render(version, results, command, state):
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out = []
    w = out.append
    w("# Rule set coverage")
    w("")
    w(f"Generated by `{command}`")
    built = f" ({state})" if state else ""
    w(f"on {today} with `{version}`{built}.")
    w("Do not edit by hand: rerun the script after changing the rule engine. Rule sets:")
    w("`../shared/corpora/rulesets/` (see its README.md and RULESTATS.md). Numbers come from")
    w("`sensor -T -S <set>`; the keyword tables")
    w("marked *sensor.log* come from a replay of an empty capture with the same rules, whose")
    w("sensor.log lists every unsupported keyword of each skipped rule.")
    w("")
    w("A rule is *loaded* when the sensor accepts it for evaluation; *unsupported* when it uses")
    w("a keyword (or protocol) the sensor does not evaluate, so it is skipped rather than")
    w("evaluated wrongly; an *error* when it cannot be parsed or refers to something undefined.")
    w("Loading says nothing about matching: whether loaded rules fire where Suricata's do is")
    w("what the suricata-verify tests check (docs/suricata-verify.md).")
    w("")
    w("## Summary")
    w("")
    w("| rule set | files | active rules | loaded | unsupported | errors | target | met |")
    w("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        rep = r["report"]
        seen = rep["seen"]
        met = seen and rep["loaded"] / seen >= r["target"]
        unsupported = f"{rep['unsupported']:,} ({pct(rep['unsupported'], seen)})"
        w(f"| {r['title']} | {rep['files']} | {seen:,} | {rep['loaded']:,} "
          f"({pct(rep['loaded'], seen)}) | {unsupported} | {rep['error_count']:,} "
          f"| ≥ {r['target'] * 100:.0f}% | {'yes' if met else 'no'} |")
    w("")
    mismatch = [r for r in results if r["rulestats_active"] is not None
                and r["rulestats_active"] != r["report"]["seen"]]
    if mismatch:
        for r in mismatch:
            w(f"Note: RULESTATS.md counts {r['rulestats_active']:,} active rules in "
              f"`{r['folder']}`, the sensor saw {r['report']['seen']:,}.")
    else:
        w("The sensor's count of active rules equals RULESTATS.md for every set.")
    w("")
    for r in results:
        rep = r["report"]
        seen = rep["seen"]
        w(f"## {r['title']}")
        w("")
        w(f"Folder `{r['folder']}`: {rep['files']} rule files, {seen:,} active rules, "
          f"{rep['loaded']:,} loaded ({pct(rep['loaded'], seen)}), {rep['unsupported']:,} "
          f"unsupported, errors: {rep['error_count']:,}; {rep.get('unclassified', 0):,} loaded "
          f"rules have no Concept category. `sensor -T`: {rep['verdict']}.")
        w("")
        needed = max(0, int(-(-r["target"] * seen // 1)) - rep["loaded"])
        if needed:
            w(f"To reach the {r['target'] * 100:.0f}% target, {needed:,} more rules must load.")
            w("")
        if rep["unsupported_first"]:
            w("### Unsupported rules by first unsupported keyword (`sensor -T`)")
            w("")
            w("| keyword | rules | share of active |")
            w("|---|---:|---:|")
            for k, n in rep["unsupported_first"].items():
                w(f"| `{md_escape(k)}` | {n:,} | {pct(n, seen)} |")
            w("")
        needing, alone = keyword_analysis(r["skipped"])
        if needing:
            w("### Keywords that block rules (*sensor.log*)")
            w("")
            w("*needed by*: unsupported rules that use the keyword; *alone*: rules for which it")
            w("is the only unsupported keyword, so supporting it alone would load them.")
            w("")
            w("| keyword | needed by | alone |")
            w("|---|---:|---:|")
            for k, n in needing.most_common():
                w(f"| `{md_escape(k)}` | {n:,} | {alone.get(k, 0):,} |")
            w("")
            if needed:
                w("Order of support that loads the most rules at each step, up to the target")
                w("(*sensor.log*; a greedy estimate: it ignores how hard each keyword is):")
                w("")
                w("| step | keyword | rules loaded by it | loaded in total |")
                w("|---:|---|---:|---:|")
                total = rep["loaded"]
                order = greedy_order(r["skipped"], GREEDY_MAX_STEPS, needed)
                for i, (k, gain) in enumerate(order, 1):
                    total += gain
                    w(f"| {i} | `{md_escape(k)}` | {gain:,} | {total:,} ({pct(total, seen)}) |")
                w("")
        if rep["errors"]:
            w(f"### Errors ({rep['error_count']:,})")
            w("")
            w("With any error `sensor -T` exits 2 and calls the configuration not usable, so one")
            w("bad rule fails the check of the whole set.")
            w("")
            w("| message | rules | examples |")
            w("|---|---:|---|")
            for kind, items in error_kinds(rep["errors"]):
                examples = "<br>".join(f"`{md_escape(e)}`" for e in items[:EXAMPLES_PER_ERROR_KIND])
                w(f"| {md_escape(kind)} | {len(items):,} | {examples} |")
            w("")
    w("## Machine-readable output wanted from the sensor")
    w("")
    w("`sensor -T` prints text and counts each unsupported rule by its first unsupported")
    w("keyword only, which is why this script also replays an empty capture to read sensor.log.")
    w("A `sensor -T --report-json FILE` would make both unnecessary: one object with `files`,")
    w("`rules_seen`, `loaded`, `unclassified`, and `rules`: an array with one entry per rule that")
    w("did not load, `{\"file\", \"line\", \"column\", \"sid\", \"gid\", \"outcome\":")
    w("\"unsupported\"|\"error\", \"keywords\": [every unsupported keyword, in rule order],")
    w("\"message\"}`, plus the per-rule compile failures of the prefilter")
    w("(`CompiledRules::issues()`), which the text report does not show.")
    w("")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sensor", required=True, help="the sensor binary")
    p.add_argument("--rulesets", default=DEFAULT_RULESETS,
                   help="folder of rule sets (default: ../shared/corpora/rulesets)")
    p.add_argument("--output", default=os.path.join(REPO_ROOT, "docs", "rules.md"),
                   help="Markdown file to write (default: docs/rules.md)")
    p.add_argument("--check-targets", action="store_true",
                   help="exit 1 when a rule set loads less than its target")
    args = p.parse_args()

    command = f"python3 scripts/rules-report.py --sensor {shown_sensor_path(args.sensor)}"
    if os.path.abspath(args.rulesets) != os.path.abspath(DEFAULT_RULESETS):
        command += f" --rulesets {rel(args.rulesets)}"
    try:
        version, results = build_report(args)
    except (ReportError, OSError, subprocess.TimeoutExpired) as e:
        print(f"rules-report: {e}", file=sys.stderr)
        return 2
    text = render(version, results, command, source_state())
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    missed = []
    for r in results:
        rep = r["report"]
        share = rep["loaded"] / rep["seen"] if rep["seen"] else 0.0
        print(f"{r['title']}: {rep['loaded']:,}/{rep['seen']:,} loaded "
              f"({pct(rep['loaded'], rep['seen'])}), target {r['target'] * 100:.0f}%, "
              f"{rep['error_count']} error(s)")
        if share < r["target"]:
            missed.append(r["title"])
    print(f"wrote {rel(args.output)}")
    if args.check_targets and missed:
        print("targets missed: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
