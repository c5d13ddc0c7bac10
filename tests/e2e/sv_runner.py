#!/usr/bin/env python3
"""Runs the sensor over the suricata-verify subset in ../shared/corpora/suricata-verify and
judges every `filter` check about alerts the way upstream's run.py does (exact count of the
EVE records for which every `match` key holds). Checks about other record types (flow, http,
dns, stats, fast.log, ...) are counted and reported as not judged.

Prints one PASS/FAIL/SKIP line per test (with the failing check and a diagnosis), then the
totals per tier of selection.tsv. With --require-tier-a-pass FILE, every test named there must
pass: the exit status is 1 when one of them does not (a regression), 0 otherwise; with
--require-tier-b-share F it is also 1 when less than F of the tier-B tests pass.

Exit status: 0 no regression, 1 regression, 2 bad usage or a broken corpus, 77 corpus absent.
Needs python3 and PyYAML (Debian python3-yaml), the YAML reader upstream's runner uses: test
expectations compare JSON values type-sensitively, so the YAML 1.1 typing must be the same.
"""

import argparse
import collections
import concurrent.futures
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write("sv_runner: needs PyYAML (Debian package python3-yaml)\n")
    sys.exit(2)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CORPUS = os.path.join(REPO_ROOT, "..", "shared", "corpora", "suricata-verify")

# The suricata-verify snapshot (2026) is Suricata's master branch after 8.0; tests written for
# `min-version: 9` encode that behaviour, so that is the version whose expectations we check.
DEFAULT_SURICATA_VERSION = "9.0.0"

# Suricata `--set` keys that mean the same thing for our sensor (see docs/user-guide.md). Any
# other --set is left out and listed in the test's notes.
PASSED_SET_KEYS = ("stream.midstream", "packet-alert-max")

# Our packet-alert-max range (the detector's per-packet match list holds 32).
PACKET_ALERT_MAX_RANGE = (1, 32)
PASSED_SET_PREFIXES = ("vars.address-groups.", "vars.port-groups.")

# Suricata settings that change what the expectations mean; reported when a test's
# suricata.yaml sets them, since our sensor has no equivalent.
SEMANTIC_SETTINGS = {
    "action-order": "rule action order is changed",
    "detect": "detection engine settings",
    "stream": "stream engine settings",
    "app-layer": "app-layer parser settings",
}

COMPARISON_SUFFIXES = ("__gt", "__gte", "__lt", "__lte")
STRING_SUFFIXES = ("__contains", "__find", "__startswith", "__endswith")

SID_RE = re.compile(r"(?:^|[;(\s])sid\s*:\s*(\d+)\s*;")
# sensor.log: "... rule skipped (unsupported): FILE:LINE[:COL]: unsupported keywords 'a', 'b'"
# for unsupported rules and "... rule skipped: FILE:LINE[:COL]: message" for rule errors.
SKIPPED_RE = re.compile(r"rule skipped(?: \((unsupported)\))?: (.*?):(\d+)(?::\d+)?: (.*)$")


class Unmet(Exception):
    """A requirement of a test or check that this run does not satisfy (upstream: skipped)."""


class CorpusError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Versions and requirements


def parse_version(text):
    """'8', '7.0', '8.0.5', 7.0 (a YAML float) -> (major, minor, patch), None where absent."""
    m = re.match(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
    if not m:
        raise CorpusError(f"bad version {text!r}")
    return tuple(None if g is None else int(g) for g in m.groups())


def version_cmp(a, b):
    """Compares with absent parts counting as 0: 9 == 9.0.0."""
    a0 = tuple(x or 0 for x in a)
    b0 = tuple(x or 0 for x in b)
    return (a0 > b0) - (a0 < b0)


def version_matches(have, want):
    """`version: 4.0` matches 4.0.x: absent parts of `want` are wildcards."""
    return all(w is None or h == w for h, w in zip(have, want))


def check_requires(requires, version, test_dir):
    """Raises Unmet for the first requirement this run does not meet."""
    if not requires:
        return
    if not isinstance(requires, dict):
        raise CorpusError(f"requires is not a mapping: {requires!r}")
    for key, value in requires.items():
        if key == "min-version":
            if version_cmp(version, parse_version(value)) < 0:
                raise Unmet(f"requires min-version {value}")
        elif key == "lt-version":
            if version_cmp(version, parse_version(value)) >= 0:
                raise Unmet(f"requires lt-version {value}")
        elif key == "gt-version":
            if version_cmp(version, parse_version(value)) <= 0:
                raise Unmet(f"requires gt-version {value}")
        elif key == "version":
            if not version_matches(version, parse_version(value)):
                raise Unmet(f"only for version {value}")
        elif key in ("features", "not-features"):
            # Suricata build features (HAVE_LUA, ...) do not exist for our sensor.
            if key == "features" and value:
                raise Unmet(f"requires Suricata build features {value}")
        elif key == "env":
            for name in value or []:
                if name not in os.environ:
                    raise Unmet(f"requires env var {name}")
        elif key == "files":
            for name in value or []:
                if not os.path.exists(os.path.join(test_dir, name)) and not os.path.exists(name):
                    raise Unmet(f"requires file {name}")
        elif key == "os":
            if not platform.system().lower().startswith(str(value).lower()):
                raise Unmet(f"requires os {value}")
        elif key == "arch":
            if not platform.machine().lower().startswith(str(value).lower()):
                raise Unmet(f"requires arch {value}")
        elif key == "pcap":
            pass  # handled with the pcap discovery
        else:
            # script, lambda, config: Suricata-specific probes we cannot evaluate.
            raise Unmet(f"cannot evaluate requirement '{key}'")


# ---------------------------------------------------------------------------------------------
# Matching EVE records (upstream run.py semantics)


def find_value(path, record):
    """Walks a dotted path with optional [N] indexes; None when absent.
    A trailing __len yields the length (-1 for values without one); a trailing string or
    comparison operator stops the walk and yields the value it applies to."""
    obj = record
    for part in path.split("."):
        if part == "__len":
            try:
                return len(obj)
            except TypeError:
                return -1
        if part in STRING_SUFFIXES or part in COMPARISON_SUFFIXES:
            break
        m = re.match(r"^(.*)\[(\d+)\]$", part)
        name, index = (m.group(1), int(m.group(2))) if m else (part, None)
        if not isinstance(obj, dict) or name not in obj:
            return None
        obj = obj[name]
        if index is not None:
            try:
                obj = obj[index]
            except (IndexError, KeyError, TypeError):
                return None
    return obj


def key_holds(key, expected, record):
    """Whether one `match` entry holds for one record."""
    if key in ("has-key", "not-has-key"):
        paths = expected if isinstance(expected, list) else [expected]
        present = [find_value(p, record) is not None for p in paths]
        return all(present) if key == "has-key" else not any(present)
    value = find_value(key, record)
    last = key.rsplit(".", 1)[-1]
    if last == "__find":
        return value is not None and str(value).find(str(expected)) >= 0
    if last == "__contains":
        try:
            return value is not None and expected in value
        except TypeError:
            return False
    if last == "__startswith":
        return value is not None and str(value).startswith(str(expected))
    if last == "__endswith":
        return value is not None and str(value).endswith(str(expected))
    if last in COMPARISON_SUFFIXES:
        numeric = (int, float)
        if isinstance(value, bool) or isinstance(expected, bool):
            return False
        if not isinstance(value, numeric) or not isinstance(expected, numeric):
            return False
        return {
            "__gt": value > expected,
            "__gte": value >= expected,
            "__lt": value < expected,
            "__lte": value <= expected,
        }[last]
    # Python equality, as upstream: type-sensitive between strings and numbers (1 != "1").
    return value == expected


def record_matches(match, record):
    return all(key_holds(k, v, record) for k, v in match.items())


def is_alert_check(check):
    """A filter check is about alerts when it selects event_type alert, or (without an
    event_type) when it asks for alert.* values; the same rule selection.tsv counts by."""
    if "filter" not in check:
        return False
    match = check["filter"].get("match") or {}
    if "event_type" in match:
        return match["event_type"] == "alert"
    return any(k == "alert" or k.startswith("alert.") for k in match
               if k not in ("has-key", "not-has-key"))


def short(value, limit=160):
    text = json.dumps(value, sort_keys=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Test inputs


def read_selection(corpus):
    path = os.path.join(corpus, "selection.tsv")
    if not os.path.exists(path):
        raise CorpusError(f"{path}: missing")
    rows = {}
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for n, line in enumerate(f, 2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                raise CorpusError(f"{path}:{n}: {len(fields)} columns, expected {len(header)}")
            row = dict(zip(header, fields))
            rows[row["test"]] = row
    return rows


def discover_tests(corpus):
    """Every folder under tests/ with a test.yaml, not descending into a test's subfolders."""
    root = os.path.join(corpus, "tests")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if "test.yaml" in filenames:
            found.append(os.path.relpath(dirpath, root))
            dirnames[:] = []
    return sorted(found)


def load_yaml(path):
    with open(path, "rb") as f:
        return yaml.safe_load(f)


def load_suricata_yaml(path, depth=0):
    """A test's suricata.yaml with its `include:` files merged (later keys override)."""
    if depth > 8:
        raise CorpusError(f"{path}: include nesting too deep")
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: not a mapping")
    merged = {}
    includes = data.get("include")
    for inc in includes if isinstance(includes, list) else ([includes] if includes else []):
        inc_path = os.path.join(os.path.dirname(path), str(inc))
        if not os.path.exists(inc_path):
            raise CorpusError(f"{path}: include {inc} not found")
        merged.update(load_suricata_yaml(inc_path, depth + 1))
    for k, v in data.items():
        if k != "include":
            merged[k] = v
    return merged


def find_pcap(test_dir, config):
    if "pcap" in config:
        if config["pcap"] is False:
            return None
        path = os.path.normpath(os.path.join(test_dir, str(config["pcap"]).strip()))
        if not os.path.exists(path):
            raise CorpusError(f"pcap {config['pcap']} not found")
        return path
    found = sorted(glob.glob(os.path.join(test_dir, "*.pcap")) +
                   glob.glob(os.path.join(test_dir, "*.pcapng")))
    if len(found) > 1:
        raise CorpusError(f"more than one pcap: {[os.path.basename(p) for p in found]}")
    return found[0] if found else None


def find_rules(test_dir, config, version, workdir):
    """(path or None, note). `rules:` in test.yaml is inline rule text or a file name."""
    if "rules" in config:
        rules = str(config["rules"])
        candidate = os.path.join(test_dir, rules.strip())
        if "\n" not in rules.strip() and os.path.exists(candidate):
            return candidate
        path = os.path.join(workdir, "inline.rules")
        with open(path, "w", encoding="utf-8") as f:
            f.write(rules)
        return path
    plain, versioned = [], []
    for path in sorted(glob.glob(os.path.join(test_dir, "*.rules"))):
        m = re.match(r"^min(\d+(?:\.\d+)*)\.rules$", os.path.basename(path))
        if m:
            want = parse_version(m.group(1))
            if version_cmp(version, want) >= 0:
                versioned.append((want, path))
        else:
            plain.append(path)
    if versioned:
        return max(versioned)[1]
    if len(plain) > 1:
        raise CorpusError(f"more than one rules file: {[os.path.basename(p) for p in plain]}")
    return plain[0] if plain else None


def map_args(raw_args, notes):
    """Suricata args -> our sensor's args; what has no equivalent is dropped and noted."""
    words = []
    for item in raw_args or []:
        words.extend(str(item).split())
    out = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-k" and i + 1 < len(words):
            out += ["-k", words[i + 1]]
            i += 2
            continue
        if w == "--set" and i + 1 < len(words):
            setting = words[i + 1]
            key = setting.split("=", 1)[0]
            if key in PASSED_SET_KEYS or key.startswith(PASSED_SET_PREFIXES):
                out += ["--set", setting]
            else:
                notes.append(f"ignored arg --set {setting} (no equivalent setting)")
            i += 2
            continue
        if re.match(r"^[A-Z_]+=", w):  # EXTERNAL_NET=any style var override
            name, value = w.split("=", 1)
            out += ["--set", f"vars.address-groups.{name}={value}"]
            i += 1
            continue
        notes.append(f"ignored arg {w}")
        i += 1
    return out


def yaml_bool(value):
    """YAML 1.1 truth of a setting as Suricata reads it (yes/no/true/false/on/off)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "true", "on", "1")


def map_suricata_yaml(cfg, notes):
    """vars.address-groups / vars.port-groups, packet-alert-max and the EVE options we share
    -> --set; every other top-level key is noted."""
    out = []
    variables = cfg.get("vars") or {}
    for group in ("address-groups", "port-groups"):
        for name, value in (variables.get(group) or {}).items():
            out += ["--set", f"vars.{group}.{name}={value}"]
    passed = {"vars"}
    if "packet-alert-max" in cfg:
        value = cfg["packet-alert-max"]
        low, high = PACKET_ALERT_MAX_RANGE
        if isinstance(value, int) and low <= value <= high:
            out += ["--set", f"packet-alert-max={value}"]
            passed.add("packet-alert-max")
        else:
            notes.append(f"setting that changes the expectations: packet-alert-max: {value} "
                         f"(ours allows {low}..{high})")
    eve_args, eve = eve_settings(cfg)
    out += eve_args
    ignored = sorted(k for k in cfg if k not in passed)
    semantic = [f"{k}: {SEMANTIC_SETTINGS[k]}" for k in ignored if k in SEMANTIC_SETTINGS]
    semantic += eve
    if ignored:
        notes.append("ignored suricata.yaml settings: " + ", ".join(ignored))
    for s in semantic:
        notes.append("setting that changes the expectations: " + s)
    return out


def eve_settings(cfg):
    """EVE output options -> (our --set arguments, notes on the ones that change what Suricata
    writes in alert records and that we cannot follow). IPv6 addresses are written in full
    unless `ipv6-compress: yes`, as Suricata does, so that setting is always passed."""
    args = []
    found = []
    compress = False
    for output in cfg.get("outputs") or []:
        if not isinstance(output, dict) or "eve-log" not in output:
            continue
        eve = output["eve-log"] or {}
        if eve.get("ipv6-compress") is not None:
            compress = yaml_bool(eve.get("ipv6-compress"))
        for t in eve.get("types") or []:
            if isinstance(t, dict) and "alert" in t and isinstance(t["alert"], dict):
                alert = t["alert"]
                if "verdict" in alert:
                    args += ["--set", f"eve.alert.verdict={str(yaml_bool(alert['verdict'])).lower()}"]
                if "packet" in alert:
                    args += ["--set", f"eve.alert.packet={str(yaml_bool(alert['packet'])).lower()}"]
                if "payload" in alert:
                    args += ["--set", f"eve.alert.payload={str(yaml_bool(alert['payload'])).lower()}"]
                if "metadata" in alert:
                    args += ["--set",
                             f"eve.alert.metadata={str(yaml_bool(alert['metadata'])).lower()}"]
                for opt in ("http", "tagged-packets"):
                    if opt in alert:
                        found.append(f"eve-log.alert.{opt}: {alert[opt]}")
    args += ["--set", f"eve.ipv6-compress={str(compress).lower()}"]
    return args, found


def rules_by_line(path):
    """{first line of a rule: sid} for a rules file (backslash continuations joined)."""
    result = {}
    if not path or not os.path.exists(path):
        return result
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        start = i + 1
        text = lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + lines[i]
        m = SID_RE.search(text)
        if m and not text.lstrip().startswith("#"):
            result[start] = int(m.group(1))
        i += 1
    return result


def all_sids(path):
    return set(rules_by_line(path).values())


def skipped_rules(log_path, rules_path):
    """{sid: reason} for the rules the sensor's log says it skipped."""
    by_line = rules_by_line(rules_path)
    skipped = {}
    if not os.path.exists(log_path):
        return skipped
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = SKIPPED_RE.search(line.rstrip("\n"))
            if not m:
                continue
            kind, file_name, lineno, message = m.groups()
            kind = kind or "error"
            sid = by_line.get(int(lineno))
            label = f"{os.path.basename(file_name)}:{lineno}: {message}"
            skipped[sid if sid is not None else f"line {lineno}"] = (kind, label)
    return skipped


# ---------------------------------------------------------------------------------------------
# Diagnosis of a failed check


def sid_of(match):
    if "alert.signature_id" in match:
        return match["alert.signature_id"]
    alert = match.get("alert")
    if isinstance(alert, dict):
        return alert.get("signature_id")
    return None


def run_context(log_dir, records):
    """What the sensor saw, for checks that found no alert: flows by app_proto and drops,
    e.g. '; flows: http 1; the sensor dropped 3 of 10 packets (bad_tcp_data_offset 3)'."""
    apps = collections.Counter(r.get("app_proto", "none") for r in records
                               if r.get("event_type") == "flow")
    text = ""
    if apps:
        text = "; flows: " + ", ".join(f"{k} {v}" for k, v in apps.most_common())
    else:
        text = "; no flow record"
    return text + drop_summary(log_dir)


def drop_summary(log_dir):
    """'; the sensor dropped 3 of 10 packets (bad_tcp_data_offset 3)' or ''."""
    try:
        with open(os.path.join(log_dir, "stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
        dropped = stats["decode"]["dropped"]
        total = stats["decode"]["dropped_total"]
        packets = stats["capture"]["packets"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if not total:
        return ""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1]))
    return f"; the sensor dropped {total} of {packets} packets ({reasons})"


def diagnose(match, expected, got, alerts, skipped, rule_sids, drops=""):
    """A short reason why a check's count differs, in terms a developer can act on."""
    sid = sid_of(match)
    if sid is not None and sid in skipped:
        kind, label = skipped[sid]
        return f"sid {sid} not loaded ({kind}): {label}"
    if sid is not None and rule_sids and sid not in rule_sids:
        return f"sid {sid} is not in the test's rules file"
    if got > expected:
        pool = [a for a in alerts if record_matches(match, a)]
        pcaps = sorted({a.get("pcap_cnt") for a in pool if a.get("pcap_cnt") is not None})
        where = f" at pcap_cnt {pcaps[:12]}" if pcaps else ""
        if sid is None:
            sids = sorted({find_value("alert.signature_id", a) for a in pool}, key=str)
            return f"fired {got} times, expected {expected} (sids {sids}){where}"
        return f"sid {sid} fired {got} times, expected {expected}{where}"
    # Too few: find the first key that rules out the records that are otherwise candidates.
    pool = [a for a in alerts if sid is None or find_value("alert.signature_id", a) == sid]
    if not pool:
        if sid is None:
            not_loaded = [f"sid {s}: {v[1]}" for s, v in skipped.items()]
            reason = "; ".join(not_loaded[:3]) if not_loaded else "all rules loaded"
            return f"no alert at all, expected {expected} ({reason}){drops}"
        return f"sid {sid} never fired, expected {expected}{drops}"
    remaining = pool
    for key, value in match.items():
        if key in ("event_type", "alert.signature_id"):
            continue
        kept = [a for a in remaining if key_holds(key, value, a)]
        if len(kept) < expected or not kept:
            if key in ("has-key", "not-has-key"):
                return f"{len(remaining)} candidate alert(s) fail {key}: {value}"
            seen = []
            for a in remaining:
                v = find_value(key, a)
                if v not in seen:
                    seen.append(v)
            if all(v is None for v in seen):
                return f"field {key} is not written by the sensor (expected {short(value)})"
            if isinstance(value, dict) and all(isinstance(v, dict) for v in seen if v):
                diffs = dict_differences(value, next(v for v in seen if v))
                return f"{key}: {diffs}"
            return f"{key}: expected {short(value)}, sensor wrote {short(seen[:4])}"
        remaining = kept
    return f"{len(remaining)} matching alert(s), expected {expected}"


def dict_differences(expected, actual):
    parts = []
    for k, v in expected.items():
        if k not in actual:
            parts.append(f"missing {k}")
        elif actual[k] != v:
            parts.append(f"{k} {short(actual[k], 60)} != {short(v, 60)}")
    extra = [k for k in actual if k not in expected]
    if extra:
        parts.append("extra keys " + ",".join(extra) + " (whole-object comparison)")
    return "; ".join(parts) if parts else "equal"


# ---------------------------------------------------------------------------------------------
# Running one test


class Result:
    def __init__(self, name, tier):
        self.name = name
        self.tier = tier
        self.status = "FAIL"  # PASS, FAIL, SKIP, ERROR
        self.reason = ""
        self.failures = []  # (check number, text)
        self.judged = 0
        self.skipped_checks = 0
        self.other_checks = 0
        self.notes = []
        self.not_loaded = {}
        self.vacuous_checks = 0  # passed with count 0 only because their rules were not loaded
        self.command = []

    @property
    def vacuous(self):
        return self.status == "PASS" and self.vacuous_checks == self.judged

    def to_json(self):
        return {
            "test": self.name,
            "tier": self.tier,
            "status": self.status,
            "reason": self.reason,
            "failures": [{"check": n, "text": t} for n, t in self.failures],
            "judged_alert_checks": self.judged,
            "skipped_checks": self.skipped_checks,
            "other_checks_not_judged": self.other_checks,
            "vacuous": self.vacuous,
            "rules_not_loaded": {str(k): v[1] for k, v in self.not_loaded.items()},
            "notes": self.notes,
            "command": self.command,
        }


def run_test(name, tier, args):
    res = Result(name, tier)
    test_dir = os.path.join(args.corpus, "tests", name)
    out_dir = os.path.join(args.workdir, name)
    try:
        config = load_yaml(os.path.join(test_dir, "test.yaml")) or {}
        check_requires(config.get("requires"), args.version, test_dir)
        if "command" in config:
            raise Unmet("custom command tests are not supported")
        if "ips" in os.path.basename(name):
            raise Unmet("IPS-mode test (--simulate-ips)")
        pcap = find_pcap(test_dir, config)
        if pcap is None:
            raise Unmet("no pcap")
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(out_dir)
        rules = find_rules(test_dir, config, args.version, out_dir)
        if rules is None:
            raise Unmet("no rules file (upstream runs with --disable-detection)")
        for key in ("count", "retry", "pre-check", "setup", "skip"):
            if key in config:
                res.notes.append(f"ignored test.yaml key '{key}'")

        cmd = [args.sensor, "-r", pcap, "-S", rules, "-l", os.path.join(out_dir, "output")]
        cmd += ["--set", f"rules-data-dir={args.rules_data_dir}"]
        yaml_path = os.path.join(test_dir, "suricata.yaml")
        cmd += map_suricata_yaml(
            load_suricata_yaml(yaml_path) if os.path.exists(yaml_path) else {}, res.notes)
        cmd += map_args(config.get("args"), res.notes)
        res.command = cmd
        with open(os.path.join(out_dir, "stdout.txt"), "w") as so, \
                open(os.path.join(out_dir, "stderr.txt"), "w") as se:
            try:
                proc = subprocess.run(cmd, stdout=so, stderr=se, timeout=args.timeout)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                res.status, res.reason = "ERROR", f"sensor ran past {args.timeout} s"
                return res
        want_rc = config.get("exit-code", 0)
        log_dir = os.path.join(out_dir, "output")
        if rc != want_rc:
            with open(os.path.join(out_dir, "stderr.txt"), errors="replace") as f:
                tail = f.read().strip().splitlines()[-1:] or [""]
            res.failures.append((0, f"exit status {rc}, expected {want_rc}: {tail[0][:240]}"))
            if not os.path.exists(os.path.join(log_dir, "eve.json")):
                res.status = "ERROR"
                res.reason = "no eve.json written"
                return res

        res.not_loaded = skipped_rules(os.path.join(log_dir, "sensor.log"), rules)
        rule_sids = all_sids(rules)
        judge_checks(config.get("checks") or [], log_dir, test_dir, rule_sids, res, args)
    except Unmet as e:
        res.status, res.reason = "SKIP", str(e)
        return res
    except (CorpusError, yaml.YAMLError, OSError) as e:
        res.status, res.reason = "ERROR", str(e)
        return res
    if res.failures:
        res.status = "FAIL"
    elif res.judged == 0:
        res.status = "SKIP"
        res.reason = "no alert check left to judge"
    else:
        res.status = "PASS"
    return res


def judge_checks(checks, log_dir, test_dir, rule_sids, res, args):
    records_cache = {}

    def records(filename):
        if filename not in records_cache:
            path = os.path.join(log_dir, filename)
            if not os.path.exists(path):
                records_cache[filename] = CorpusError(f"{filename} does not exist")
            else:
                parsed = []
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        try:
                            parsed.append(json.loads(line))
                        except json.JSONDecodeError as e:
                            records_cache[filename] = CorpusError(f"{filename}:{n}: not JSON: {e}")
                            break
                    else:
                        records_cache[filename] = parsed
        return records_cache[filename]

    for number, check in enumerate(checks, 1):
        if not isinstance(check, dict):
            raise CorpusError(f"check {number} is not a mapping")
        if not is_alert_check(check):
            res.other_checks += 1
            continue
        spec = check["filter"]
        try:
            check_requires(spec.get("requires"), args.version, test_dir)
        except Unmet as e:
            res.skipped_checks += 1
            res.notes.append(f"check {number} skipped: {e}")
            continue
        res.judged += 1
        match = spec.get("match") or {}
        if "count" not in spec:
            res.failures.append((number, "filter check without count"))
            continue
        recs = records(spec.get("filename", "eve.json"))
        if isinstance(recs, CorpusError):
            res.failures.append((number, str(recs)))
            continue
        got = sum(1 for r in recs if record_matches(match, r))
        expected = spec["count"]
        if got == expected:
            if expected == 0 and check_is_vacuous(match, res.not_loaded, rule_sids):
                res.vacuous_checks += 1
            continue
        alerts = [r for r in recs if r.get("event_type") == "alert"]
        why = diagnose(match, expected, got, alerts, res.not_loaded, rule_sids,
                       run_context(log_dir, recs))
        res.failures.append(
            (number, f"expected {expected}, got {got} for {short(match)}: {why}"))


def check_is_vacuous(match, not_loaded, rule_sids):
    """A count-0 check proves nothing when the rule it is about was not loaded."""
    sid = sid_of(match)
    if sid is not None:
        return sid in not_loaded
    return all(s in not_loaded for s in rule_sids)


# ---------------------------------------------------------------------------------------------


def read_name_list(path):
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sensor", required=True, help="the sensor binary")
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="suricata-verify folder (default: ../shared/corpora/suricata-verify)")
    p.add_argument("--workdir", required=True, help="output folders go here, one per test")
    p.add_argument("--tier", choices=["A", "B"], help="run only the tests of this tier")
    p.add_argument("--test", action="append", default=[], metavar="NAME",
                   help="run only this test (path under tests/); repeatable")
    p.add_argument("--require-tier-a-pass", metavar="FILE",
                   help="tests that must pass; exit 1 when one of them does not")
    p.add_argument("--require-tier-b-share", type=float, metavar="FRACTION",
                   help="exit 1 when fewer than this share of the tier-B tests run pass "
                        "(the issue's target: 0.8)")
    p.add_argument("--suricata-version", default=DEFAULT_SURICATA_VERSION,
                   help="Suricata version whose expectations are checked (requires: ...)")
    p.add_argument("--rules-data-dir",
                   help="rules-data-dir for the sensor (default: a copy of rules/data with "
                        "the corpus etc/classification.config, as upstream passes it)")
    p.add_argument("--jobs", type=int, default=1, help="tests run in parallel")
    p.add_argument("--timeout", type=int, default=300, help="seconds per sensor run")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print notes (ignored args/settings) and the command of every test")
    args = p.parse_args()

    args.corpus = os.path.abspath(args.corpus)
    if not os.path.isdir(os.path.join(args.corpus, "tests")):
        print(f"sv_runner: {args.corpus}: no suricata-verify corpus here, skipping")
        return 77
    if not os.access(args.sensor, os.X_OK):
        print(f"sv_runner: {args.sensor}: not an executable", file=sys.stderr)
        return 2
    args.sensor = os.path.abspath(args.sensor)
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    try:
        args.version = parse_version(args.suricata_version)
        selection = read_selection(args.corpus)
        args.rules_data_dir = prepare_rules_data(args)
    except (CorpusError, OSError) as e:
        print(f"sv_runner: {e}", file=sys.stderr)
        return 2

    discovered = discover_tests(args.corpus)
    missing_rows = [t for t in discovered if t not in selection]
    if missing_rows:
        print(f"sv_runner: tests without a selection.tsv row: {missing_rows}", file=sys.stderr)
        return 2
    names = discovered
    if args.test:
        unknown = [t for t in args.test if t not in selection]
        if unknown:
            print(f"sv_runner: unknown test(s): {unknown}", file=sys.stderr)
            return 2
        names = [t for t in names if t in args.test]
    if args.tier:
        names = [t for t in names if selection[t]["tier"] == args.tier]
    absent = [t for t in args.test if t not in discovered]
    if absent:
        print(f"sv_runner: listed in selection.tsv but not in tests/: {absent}", file=sys.stderr)
        return 2

    must_pass = []
    if args.require_tier_a_pass:
        must_pass = read_name_list(args.require_tier_a_pass)
        bad = [t for t in must_pass if t not in selection]
        if bad:
            print(f"sv_runner: {args.require_tier_a_pass}: unknown test(s) {bad}", file=sys.stderr)
            return 2

    print(f"sv_runner: {len(names)} test(s), Suricata version {args.suricata_version} "
          f"expectations, sensor {args.sensor}")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_test, n, selection[n]["tier"], args) for n in names]
        results = []
        for fut in futures:
            res = fut.result()
            results.append(res)
            print_result(res, selection[res.name], args.verbose)
            sys.stdout.flush()

    print()
    for tier in ("A", "B"):
        tier_results = [r for r in results if r.tier == tier]
        if not tier_results:
            continue
        passed = sum(1 for r in tier_results if r.status == "PASS")
        skipped = sum(1 for r in tier_results if r.status == "SKIP")
        vacuous = sum(1 for r in tier_results if r.vacuous)
        notes = []
        if vacuous:
            notes.append(f"{vacuous} of them only vacuously")
        if skipped:
            notes.append(f"{skipped} skipped")
        extra = f" ({', '.join(notes)})" if notes else ""
        print(f"tier {tier}: {passed}/{len(tier_results)} passed{extra}")
    passed = sum(1 for r in results if r.status == "PASS")
    print(f"total: {passed}/{len(results)} passed")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([r.to_json() for r in results], f, indent=1)
            f.write("\n")

    rc = 0
    if must_pass:
        by_name = {r.name: r for r in results}
        regressions = [t for t in must_pass if t in by_name and by_name[t].status != "PASS"]
        for t in regressions:
            print(f"REGRESSION: {t} is in {os.path.basename(args.require_tier_a_pass)} "
                  f"but {by_name[t].status}")
        new = [r.name for r in results
               if r.status == "PASS" and r.tier == "A" and r.name not in must_pass]
        for t in new:
            print(f"new pass: {t} (add it to {os.path.basename(args.require_tier_a_pass)})")
        if regressions:
            rc = 1
        else:
            checked = sum(1 for t in must_pass if t in by_name)
            print(f"regression gate: {checked} required test(s) pass")
    tier_b = [r for r in results if r.tier == "B"]
    if args.require_tier_b_share is not None and tier_b:
        share = sum(1 for r in tier_b if r.status == "PASS") / len(tier_b)
        if share < args.require_tier_b_share:
            print(f"TIER B BELOW TARGET: {100 * share:.0f}% of tier B passed, "
                  f"{100 * args.require_tier_b_share:.0f}% required")
            rc = 1
        else:
            print(f"tier B gate: {100 * share:.0f}% passed "
                  f"(at least {100 * args.require_tier_b_share:.0f}% required)")
    return rc


def prepare_rules_data(args):
    """Upstream passes etc/classification.config to every test; our sensor reads it from
    rules-data-dir, which also holds concept-map.tsv, so a mixed copy is made."""
    if args.rules_data_dir:
        return os.path.abspath(args.rules_data_dir)
    ours = os.path.join(REPO_ROOT, "rules", "data")
    theirs = os.path.join(args.corpus, "etc", "classification.config")
    target = os.path.join(args.workdir, "rules-data")
    if os.path.exists(target):
        shutil.rmtree(target)
    shutil.copytree(ours, target)
    if os.path.exists(theirs):
        # concept-map.tsv names classtypes Suricata's file lacks (coin-mining, ...): keep ours
        # for those, take Suricata's text and priority for every classtype it defines.
        with open(theirs, encoding="utf-8") as f:
            text = f.read()
        defined = set(re.findall(r"^config classification:\s*([^,\s]+)", text, re.M))
        with open(os.path.join(ours, "classification.config"), encoding="utf-8") as f:
            extra = [line for line in f
                     if (m := re.match(r"^config classification:\s*([^,\s]+)", line))
                     and m.group(1) not in defined]
        with open(os.path.join(target, "classification.config"), "w", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")
            f.write("# classtypes of rules/data/classification.config missing above\n")
            f.writelines(extra)
    return target


def print_result(res, row, verbose):
    other = res.other_checks
    info = f"{res.judged} alert check(s)"
    if other:
        info += f", {other} other not judged"
    if res.skipped_checks:
        info += f", {res.skipped_checks} skipped"
    expected_alert_checks = int(row.get("n_alert_checks") or 0)
    if res.status in ("PASS", "FAIL") and res.judged + res.skipped_checks != expected_alert_checks:
        info += f"; selection.tsv counts {expected_alert_checks} alert checks"
    if res.vacuous:
        info += "; vacuous: every check expects no alert from a rule that was not loaded"
    line = f"{res.status:5} [{res.tier}] {res.name} ({info})"
    if res.reason:
        line += f": {res.reason}"
    print(line)
    for number, text in res.failures:
        print(f"        {'check ' + str(number) if number else 'run'}: {text}")
    if res.status == "FAIL" and res.not_loaded:
        shown = list(res.not_loaded.items())[:4]
        for sid, (_, label) in shown:
            print(f"        not loaded: sid {sid}: {label}")
        if len(res.not_loaded) > len(shown):
            print(f"        not loaded: {len(res.not_loaded) - len(shown)} more rule(s)")
    if verbose or res.status == "FAIL":
        for note in res.notes:
            print(f"        note: {note}")
    if verbose and res.command:
        print("        command: " + " ".join(res.command))


if __name__ == "__main__":
    sys.exit(main())
