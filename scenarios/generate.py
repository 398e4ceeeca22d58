#!/usr/bin/env python3
"""Generate the Firebreak replay scenarios and their expected outcomes.

    python3 scenarios/generate.py            # write *.om, expected.json, README tables
    python3 scenarios/generate.py --check    # regenerate in memory, fail if any file differs

Writes, next to this file:
  memory-leak.om, cache-stampede.om, lock-contention.om, traffic-surge.om
      OpenMetrics text: one gauge family `firebreak_signal`, one series per
      (detector, namespace, workload), holding the value that detector computes
      (the replay has no PromQL engine).
  expected.json
      The outcome each playbook in ../playbooks must produce on its scenario,
      computed by `expect()` below from the written files and the playbook YAML.
  README.md (only the part between the EXPECTED markers)

Python 3 standard library only. Deterministic: a fixed seed per scenario and no
wall clock, so running it twice gives byte-identical files.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLAYBOOKS = os.path.join(ROOT, "playbooks")

FAMILY = "firebreak_signal"
LOOKBACK = 300  # seconds: a reading is at most this old
SEVERITIES = ["low", "medium", "high", "critical"]
GB = 1.0  # working-set values are kept in GB internally


# --------------------------------------------------------------------------
# small helpers


def ts(iso: str) -> int:
    """UTC ISO-8601 ('2026-03-02T00:00:00Z') to unix seconds."""
    return int(dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp())


def iso(t: int | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt(v: float, digits: int = 4) -> str:
    """Compact, exact-enough number: `digits` significant digits, never exponent form."""
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return str(int(round(v)))
    s = f"{v:.{digits}g}"
    if "e" in s:
        s = f"{v:.8f}".rstrip("0").rstrip(".")
    return s


class Noise:
    """Deterministic mild noise from a seeded PRNG (Python's Mersenne Twister,
    whose `random()` sequence is stable across Python 3 versions)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def uniform(self, spread: float) -> float:
        """Symmetric triangular noise in [-spread, spread]."""
        return (self.rng.random() + self.rng.random() - 1.0) * spread

    def rel(self, spread: float) -> float:
        """A multiplicative factor 1 ± spread."""
        return 1.0 + self.uniform(spread)


class Scenario:
    def __init__(self, name: str, namespace: str, start: str, end: str, step: int, story: str):
        self.name = name
        self.namespace = namespace
        self.start = ts(start)
        self.end = ts(end)
        self.step = step
        self.story = story
        # (detector, workload) -> list of (t, value)
        self.series: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.meta: dict = {}
        self.digits = 4

    def times(self):
        return range(self.start, self.end + 1, self.step)

    def add(self, detector: str, workload: str, t: int, value: float):
        self.series.setdefault((detector, workload), []).append((t, value))

    def render(self) -> str:
        out = [f"# TYPE {FAMILY} gauge", f"# HELP {FAMILY} {self.story}"]
        for (detector, workload) in sorted(self.series):
            samples = self.series[(detector, workload)]
            assert all(a[0] < b[0] for a, b in zip(samples, samples[1:])), (detector, workload)
            labels = f'detector="{detector}",namespace="{self.namespace}",workload="{workload}"'
            for t, v in samples:
                out.append(f"{FAMILY}{{{labels}}} {fmt(v, self.digits)} {t}")
        out.append("# EOF")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# the four stories


def memory_leak() -> Scenario:
    """risk/pricer, a 64 GB JVM: a release at 00:20 leaks into an unbounded
    position cache. The working set grows from 8 GB (a little faster each hour,
    faster during trading hours) past 48 GB the next morning and reaches the
    64 GB limit at 10:20 on day 2: OOMKilled. The pod comes back with the cache
    disabled (hotfix flag), flat at 8 GB. A Prometheus outage 12:58-13:09 on
    day 1 leaves a 13-minute hole in every series."""
    s = Scenario(
        "memory-leak", "risk", "2026-03-02T00:00:00Z", "2026-03-03T10:55:00Z", 60,
        "Memory leak in risk/pricer: 8 GB to the 64 GB limit over 34h, OOMKilled 2026-03-03T10:20Z.",
    )
    s.digits = 3  # 60 s samples for 34 h: keep the file under 600 KB
    n = Noise(20260302)
    limit = 64.0 * GB
    base = 8.0 * GB
    leak_start = ts("2026-03-02T00:20:00Z")
    oom = ts("2026-03-03T10:20:00Z")
    restart_back = ts("2026-03-03T10:23:00Z")  # first scrape of the new container
    gap = (ts("2026-03-02T12:58:00Z"), ts("2026-03-02T13:09:00Z"))  # inclusive, no samples

    def diurnal(t):  # leak rate follows load: busier 13:00-21:00 UTC (US/EU trading)
        hour = (t % 86400) / 3600.0
        return 1.0 + 0.2 * math.sin(2 * math.pi * (hour - 11.0) / 24.0)

    # Leak growth: rate ∝ (1 + 0.1·h since the leak started) · diurnal; scaled so
    # the working set reaches exactly the limit at `oom`.
    shape, acc = {}, 0.0
    for t in range(leak_start, oom + 1, s.step):
        shape[t] = acc
        h = (t - leak_start) / 3600.0
        acc += (1.0 + 0.1 * h) * diurnal(t) * s.step / 3600.0
    scale = (limit - base) / shape[oom]

    # (t, GB) samples actually scraped. The hour before the file starts is
    # healthy history too: the leak fit always sees a full window.
    ws_hist: list[tuple[int, float]] = [
        (t, base + n.uniform(0.15)) for t in range(s.start - 3600, s.start, s.step)]
    for t in s.times():
        if gap[0] <= t <= gap[1] or oom < t < restart_back:
            continue
        if t < leak_start:
            ws = base + n.uniform(0.15)
        elif t < oom:
            ws = base + scale * shape[t] + n.uniform(0.15)
        elif t == oom:
            ws = limit  # the scrape that saw the kill
        else:  # hotfixed pod, warming up to a flat 8 GB
            ws = base * (1 - 0.25 * math.exp(-(t - restart_back) / 180.0)) + n.uniform(0.15)
        ws = min(ws, limit)
        ws_hist.append((t, ws))
        ratio = ws / limit
        s.add("memory-pressure", "pricer", t, ratio)

        # memoryLeak: least-squares slope of the working set over the last hour
        # (the detector's `window`), hours until the limit at that slope,
        # clamped to [0, 720]; 720 (30 days) also stands for "not growing".
        window = [(u, w) for (u, w) in ws_hist if u > t - 3600]
        xs = [(u - t) / 3600.0 for u, _ in window]
        ys = [w for _, w in window]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0
        hours = (limit - ws) / slope if slope > 0 else 720.0
        s.add("memory-leak", "pricer", t, max(0.0, min(720.0, hours)))

        # p99 latency: GC pressure grows with heap occupancy; 50 ms at 8 GB,
        # ~800 ms at 48 GB, ~2.5 s at the limit; a cold JVM after the restart.
        if t <= oom:
            p99 = 0.05 * math.exp(4.436 * (ratio - 0.125))
        else:
            p99 = 0.05 + 0.35 * math.exp(-(t - restart_back) / 90.0)
        s.add("latency-p99", "pricer", t, p99 * n.rel(0.06))

    s.meta = {
        "damage": "OOMKilled: the working set reaches the 64 GB limit",
        "damage_at": oom,
        "notes": "Recorded before Firebreak ran here: no mitigation in the data.",
    }
    return s


def cache_stampede() -> Scenario:
    """catalog/product-api: the cache cluster is flushed at 19:55:00; every
    request goes to the database; p99 climbs from ~10 ms to the 5 s client
    timeout in ~20 s and 5xx (pool exhaustion, timeouts) follow within a
    minute. The cache is warm again from 20:02:30, and latency and errors decay
    over the next few minutes."""
    s = Scenario(
        "cache-stampede", "catalog", "2026-03-05T19:40:00Z", "2026-03-05T20:40:00Z", 5,
        "Cache stampede on catalog/product-api after a cache flush at 2026-03-05T19:55:00Z.",
    )
    n = Noise(20260305)
    flush = ts("2026-03-05T19:55:00Z")
    warm = ts("2026-03-05T20:02:30Z")
    for t in s.times():
        if t < flush:
            p99, err = 0.010, 0.0008
        elif t < warm:
            d = t - flush
            p99 = 0.010 + (4.95 - 0.010) * min(1.0, (d / 20.0) ** 2)
            err = 0.0008 + (0.31 - 0.0008) * min(1.0, max(0.0, (d - 5) / 55.0))
        else:
            d = t - warm
            p99 = 0.010 + 4.94 * math.exp(-d / 50.0)
            err = 0.0008 + 0.31 * math.exp(-d / 40.0)
        p99 = min(5.0, p99 * n.rel(0.05))  # the client timeout caps what is observed
        s.add("latency-p99", "product-api", t, p99)
        s.add("error-rate", "product-api", t, err * n.rel(0.08))
    s.meta = {
        "damage": "user-visible failures: error ratio reaches 5%",
        "damage_rule": ("error-rate", "product-api", "above", 0.05),
    }
    return s


def lock_contention() -> Scenario:
    """inventory/stock-ledger (Argo Rollout): the canary step (20%) of a new
    version starts at 10:00:00. Its writes take a global advisory lock, so the
    stable pods queue behind it: throughput falls from 50k to ~2k ops/s and p99
    rises from 5 ms to ~850 ms within two minutes. The rollout is aborted at
    10:02:30 (what the playbook's rollback does), traffic returns to the stable
    ReplicaSet and the lock queue drains from 10:02:45."""
    s = Scenario(
        "lock-contention", "inventory", "2026-03-11T09:45:00Z", "2026-03-11T10:45:00Z", 10,
        "Lock contention in inventory/stock-ledger after a canary step at 2026-03-11T10:00:00Z; rollout aborted 10:02:30.",
    )
    n = Noise(20260311)
    canary = ts("2026-03-11T10:00:00Z")
    abort = ts("2026-03-11T10:02:30Z")
    drained = abort + 15
    for t in s.times():
        if t < canary:
            ops, p99 = 50000.0, 0.005
        elif t < drained:
            d = t - canary
            ops = 2000 + 48000 * math.exp(-d / 40.0)
            p99 = 0.005 + 0.845 * (1 - math.exp(-d / 40.0))
        else:
            d_bad = drained - canary
            ops0 = 2000 + 48000 * math.exp(-d_bad / 40.0)
            p0 = 0.005 + 0.845 * (1 - math.exp(-d_bad / 40.0))
            d = t - drained
            ops = 50000 - (50000 - ops0) * math.exp(-d / 30.0)
            p99 = 0.005 + (p0 - 0.005) * math.exp(-d / 30.0)
        s.add("throughput", "stock-ledger", t, ops * n.rel(0.02))
        s.add("latency-p99", "stock-ledger", t, p99 * n.rel(0.05))
    s.meta = {
        "damage": "order processing stalls: throughput below 10k ops/s (20% of normal)",
        "damage_rule": ("throughput", "stock-ledger", "below", 10000.0),
        "mitigation_in_recording": {"action": "rollback", "at": abort},
    }
    return s


def traffic_surge() -> Scenario:
    """trading/broker-adapter at the US market open, Wednesday 2026-03-04
    (before US daylight saving time starts on 2026-03-08, so 09:30 New York is
    14:30 UTC). Offered order flow goes from ~300 req/s pre-open to ~6,000
    (20x) within 30 s; the broker handles ~2,500/s, so p99 climbs to ~2.8 s and
    ~22% of requests fail with 5xx. The rate limit (2,400 req/s) goes on at
    14:32:00; latency and errors recover within a minute while the offered load
    (counted before the limiter) decays to the normal session level (~800/s)
    by ~15:10. fx-adapter, the healthy neighbour, only sees the usual open bump
    (250 → ~620 req/s) and must not open an incident."""
    s = Scenario(
        "traffic-surge", "trading", "2026-03-04T14:10:00Z", "2026-03-04T15:50:00Z", 10,
        "US market open 2026-03-04T14:30:00Z (09:30 New York): 20x order flow on trading/broker-adapter.",
    )
    n = Noise(20260304)
    preopen = ts("2026-03-04T14:29:00Z")
    bell = ts("2026-03-04T14:30:00Z")
    peak_end = ts("2026-03-04T14:40:00Z")
    limited = ts("2026-03-04T14:32:00Z")
    for t in s.times():
        # broker-adapter offered load
        if t < preopen:
            rps = 300.0
        elif t < bell:
            rps = 300 + 150 * (t - preopen) / 60.0
        elif t < bell + 30:
            rps = 450 + (6000 - 450) * (t - bell) / 30.0
        elif t < peak_end:
            rps = 6000 - 800 * (t - bell - 30) / (peak_end - bell - 30)
        else:
            rps = 800 + 4400 * math.exp(-(t - peak_end) / 480.0)
        rps *= n.rel(0.04)
        # what the broker does with it
        if rps > 2500 and t < limited:
            overload = min(1.0, (rps - 2500) / 2500.0)
            p99 = 0.04 + 2.76 * overload
            err = 0.0005 + 0.22 * overload
        elif t < limited + 60 and t >= limited:
            f = math.exp(-(t - limited) / 20.0)  # queues drain after the limit
            p99 = 0.12 + 2.68 * f
            err = 0.004 + 0.216 * f
        elif t >= limited and rps > 1500:
            p99, err = 0.12, 0.004  # at the limit: the broker is busy but healthy
        else:
            p99, err = 0.04 + 0.02 * max(0.0, min(1.0, (rps - 300) / 1200.0)), 0.0005
        s.add("request-rate", "broker-adapter", t, rps)
        s.add("latency-p99", "broker-adapter", t, p99 * n.rel(0.06))
        s.add("error-rate", "broker-adapter", t, err * n.rel(0.1))

        # fx-adapter: the ordinary open bump
        if t < bell:
            fx = 250.0
        else:
            fx = 400 + 220 * math.exp(-(t - bell) / 900.0) * min(1.0, (t - bell) / 60.0 + 0.2)
        fx *= n.rel(0.05)
        s.add("request-rate", "fx-adapter", t, fx)
        s.add("latency-p99", "fx-adapter", t, (0.06 + 0.03 * (fx - 250) / 370.0) * n.rel(0.06))
        s.add("error-rate", "fx-adapter", t, 0.0008 * n.rel(0.2))
    s.meta = {
        "damage": "the broker is overwhelmed: 5xx ratio reaches 5%",
        "damage_rule": ("error-rate", "broker-adapter", "above", 0.05),
        "mitigation_in_recording": {"action": "rateLimit", "at": limited},
        "neighbours": ["fx-adapter"],
    }
    return s


SCENARIOS = [memory_leak, cache_stampede, lock_contention, traffic_surge]


# --------------------------------------------------------------------------
# reading back: OpenMetrics and the playbooks' YAML

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+) (\d+(?:\.\d+)?)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_openmetrics(text: str) -> dict[tuple, list[tuple[int, float]]]:
    """Parse the subset we write; checks the OpenMetrics rules that matter here
    (one family, series grouped, increasing timestamps, `# EOF` last)."""
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] == "# EOF", "must end with '# EOF\\n'"
    series: dict[tuple, list[tuple[int, float]]] = {}
    seen_done: set = set()
    current = None
    for line in lines[:-2]:
        if line.startswith("#"):
            assert line.startswith(f"# TYPE {FAMILY} gauge") or line.startswith(f"# HELP {FAMILY} "), line
            continue
        m = LINE.match(line)
        assert m, f"bad line: {line!r}"
        name, labels, value, t = m.groups()
        assert name == FAMILY, name
        lab = dict(LABEL.findall(labels))
        key = (lab["detector"], lab["namespace"], lab["workload"], lab.get("playbook"))
        if key != current:
            assert key not in seen_done, f"series {key} is not contiguous"
            if current is not None:
                seen_done.add(current)
            current = key
        samples = series.setdefault(key, [])
        t = int(float(t))
        assert not samples or samples[-1][0] < t, f"timestamps not increasing in {key}"
        samples.append((t, float(value)))
    return series


def _strip_comment(line: str) -> str:
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _split_flow(s: str) -> list[str]:
    parts, depth, quote, cur = [], 0, None, ""
    for c in s:
        if quote:
            cur += c
            if c == quote:
                quote = None
            continue
        if c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += c
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _scalar(s: str):
    s = s.strip()
    if s.startswith("[") and s.endswith("]"):
        return [_scalar(p) for p in _split_flow(s[1:-1])]
    if s.startswith("{") and s.endswith("}"):
        out = {}
        for p in _split_flow(s[1:-1]):
            k, v = p.split(":", 1)
            out[k.strip()] = _scalar(v)
        return out
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return json.loads(s)  # YAML's double-quoted escapes are JSON's, for our purposes
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if s in ("true", "false"):
        return s == "true"
    if s in ("null", "~", ""):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def load_yaml(text: str):
    """A small block-YAML reader, enough for the playbooks in this repository
    (maps, lists, flow [..] and {..}, quoted scalars, comments, `>-` folded
    scalars). The Rust side uses a real YAML parser; this one only needs to
    read the numbers the expected outcomes depend on."""
    raw = text.split("\n")
    lines = []
    i = 0
    while i < len(raw):
        stripped = _strip_comment(raw[i])
        if stripped.strip():
            indent = len(stripped) - len(stripped.lstrip(" "))
            content = stripped.strip()
            if content.endswith(">-") or content.endswith("|"):
                # folded/literal block: gather more-indented lines
                block, j = [], i + 1
                while j < len(raw) and (not raw[j].strip() or len(raw[j]) - len(raw[j].lstrip(" ")) > indent):
                    block.append(raw[j].strip())
                    j += 1
                joiner = " " if content.endswith(">-") else "\n"
                head = content[: -2 if content.endswith(">-") else -1].rstrip()
                lines.append((indent, head + " " + json.dumps(joiner.join(b for b in block if b))))
                i = j
                continue
            lines.append((indent, content))
        i += 1

    def block(pos, indent):
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            return seq(pos, indent)
        return mapping(pos, indent)

    def seq(pos, indent):
        out = []
        while pos < len(lines) and lines[pos][0] == indent and (lines[pos][1].startswith("- ") or lines[pos][1] == "-"):
            item = lines[pos][1][2:].strip() if lines[pos][1] != "-" else ""
            if not item:
                value, pos = block(pos + 1, lines[pos + 1][0])
            elif re.match(r'^[^\'"\[{][^:]*:( |$)', item):
                lines[pos] = (indent + 2, item)
                value, pos = mapping(pos, indent + 2)
            else:
                value, pos = _scalar(item), pos + 1
            out.append(value)
        return out, pos

    def mapping(pos, indent):
        out = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
            content = lines[pos][1]
            key, _, rest = content.partition(":")
            key = key.strip().strip("'\"")
            rest = rest.strip()
            pos += 1
            if rest:
                out[key] = _scalar(rest)
            elif pos < len(lines) and (lines[pos][0] > indent or (lines[pos][0] == indent and lines[pos][1].startswith("- "))):
                out[key], pos = block(pos, lines[pos][0])
            else:
                out[key] = None
        return out, pos

    value, pos = block(0, lines[0][0])
    assert pos == len(lines), f"unparsed YAML from line {lines[pos]}"
    return value


UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(d) -> float:
    if d in (None, 0, "0"):
        return 0.0
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w)", d)
    assert "".join(a + b for a, b in parts) == d, f"bad duration {d!r}"
    return sum(int(a) * UNITS[b] for a, b in parts)


def load_playbook(name: str) -> dict:
    with open(os.path.join(PLAYBOOKS, f"{name}.yaml")) as f:
        return load_yaml(f.read())


# --------------------------------------------------------------------------
# expected outcome: the engine's semantics, stated once, computed here


class Level:
    """One severity of one detector: reached after `for` of crossing readings,
    left after `clearFor` of readings past threshold ∓ hysteresis."""

    def __init__(self, severity, threshold):
        self.severity = severity
        self.threshold = threshold
        self.active = False
        self.cross_since = None
        self.clear_since = None
        self.first_crossed = None
        self.reached = []  # times the level was reached
        self.left = []  # times the level was left


class DetectorState:
    def __init__(self, spec: dict, interval: float):
        self.name = spec["name"]
        self.comparison = spec.get("comparison") or ("below" if "memoryLeak" in spec else "above")
        self.for_ = seconds(spec.get("for"))
        self.hysteresis = float(spec.get("hysteresis") or 0.0)
        cf = spec.get("clearFor")
        self.clear_for = seconds(cf) if cf is not None else max(self.for_, interval)
        th = spec.get("thresholds") or {}
        self.levels = [Level(s, float(th[s])) for s in SEVERITIES if s in th]
        self.no_data = []  # [start, end] evaluation times without a reading

    def crosses(self, v, thr):
        return v >= thr if self.comparison == "above" else v <= thr

    def clears(self, v, thr):
        return v < thr - self.hysteresis if self.comparison == "above" else v > thr + self.hysteresis

    def step(self, t, v):
        if v is None:
            # No data: neither healthy nor firing. Levels keep their state; the
            # streaks towards reaching or leaving a level start over.
            if self.no_data and self.no_data[-1][1] is None:
                pass
            else:
                self.no_data.append([t, None])
            for lv in self.levels:
                lv.cross_since = lv.clear_since = None
            return
        if self.no_data and self.no_data[-1][1] is None:
            self.no_data[-1][1] = t
        for lv in self.levels:
            if self.crosses(v, lv.threshold) and lv.first_crossed is None:
                lv.first_crossed = t
            if not lv.active:
                if self.crosses(v, lv.threshold):
                    if lv.cross_since is None:
                        lv.cross_since = t
                    if t - lv.cross_since >= self.for_:
                        lv.active, lv.clear_since = True, None
                        lv.reached.append(t)
                else:
                    lv.cross_since = None
            else:
                if self.clears(v, lv.threshold):
                    if lv.clear_since is None:
                        lv.clear_since = t
                    if t - lv.clear_since >= self.clear_for:
                        lv.active, lv.cross_since = False, None
                        lv.left.append(t)
                else:
                    lv.clear_since = None

    def severity(self):
        active = [lv.severity for lv in self.levels if lv.active]
        return max(active, key=SEVERITIES.index) if active else None


def reading(samples, times, t):
    """Latest sample at or before t, if no older than LOOKBACK."""
    i = bisect.bisect_right(times, t) - 1
    if i < 0 or t - times[i] > LOOKBACK:
        return None
    return samples[i][1]


def actions_for(spec: dict, severity: str, done: set) -> list[dict]:
    """Reaching a severity runs its actions and those of every lower severity
    that have not run yet, lowest first."""
    out = []
    for s in SEVERITIES[: SEVERITIES.index(severity) + 1]:
        if s in done:
            continue
        done.add(s)
        for a in (spec.get("actions") or {}).get(s) or []:
            kind = next(k for k in a if k not in ("keep", "dryRun"))
            out.append({"severity": s, "action": kind, "keep": bool(a.get("keep"))})
    return out


def expect(scn: Scenario, series: dict) -> dict:
    pb = load_playbook(scn.name)
    spec = pb["spec"]
    name, ns = pb["metadata"]["name"], pb["metadata"]["namespace"]
    assert ns == scn.namespace
    interval = seconds(spec.get("interval") or "15s")
    all_times = [t for samples in series.values() for t, _ in samples]
    t0, t_end = min(all_times), max(all_times)
    result = {"playbook": f"{ns}/{name}", "interval_seconds": interval, "evaluations": {
        "first": iso(t0), "last": iso(t0 + int((t_end - t0) // interval) * int(interval))}, "workloads": {}}

    for wl in spec["target"]["names"]:
        dets = [DetectorState(d, interval) for d in spec["detectors"]]
        data = {}
        for d in dets:
            keys = [k for k in series if k[0] == d.name and k[1] == ns and k[2] == wl and k[3] in (None, name)]
            assert len(keys) == 1, f"{scn.name}: need exactly one series for {d.name}/{wl}, found {keys}"
            samples = series[keys[0]]
            data[d.name] = (samples, [t for t, _ in samples])
        incidents, inc = [], None
        t = t0
        while t <= t_end:
            for d in dets:
                d.step(t, reading(*data[d.name], t))
            sevs = [d.severity() for d in dets]
            sev = max((s for s in sevs if s), key=SEVERITIES.index, default=None)
            if inc is None and sev:
                inc = {"opened_at": t, "timeline": [(t, sev)], "done": set(), "actions": []}
                for a in actions_for(spec, sev, inc["done"]):
                    inc["actions"].append({"at": iso(t), **a})
            elif inc is not None and sev is None:
                inc["resolved_at"] = t
                incidents.append(inc)
                inc = None
            elif inc is not None and sev != inc["timeline"][-1][1]:
                inc["timeline"].append((t, sev))
                for a in actions_for(spec, sev, inc["done"]):
                    inc["actions"].append({"at": iso(t), **a})
            t += interval
        if inc is not None:
            inc["resolved_at"] = None
            incidents.append(inc)

        detectors = {}
        for d in dets:
            detectors[d.name] = {
                "comparison": d.comparison,
                "levels": {lv.severity: {
                    "threshold": lv.threshold,
                    "first_crossed": iso(lv.first_crossed),
                    "reached": [iso(x) for x in lv.reached],
                    "left": [iso(x) for x in lv.left],
                } for lv in d.levels},
                "no_data": [[iso(a), iso(b)] for a, b in d.no_data],
            }
        out_inc = []
        for inc in incidents:
            timeline = [{"at": iso(a), "severity": s} for a, s in inc["timeline"]]
            reverted = [a for a in inc["actions"] if a["action"] in ("rateLimit", "circuitBreaker", "scale") and not a["keep"]]
            out_inc.append({
                "opened_at": iso(inc["opened_at"]),
                "first_severity": inc["timeline"][0][1],
                "max_severity": max((s for _, s in inc["timeline"]), key=SEVERITIES.index),
                "timeline": timeline,
                "resolved_at": iso(inc["resolved_at"]),
                "actions": inc["actions"],
                "reverted_on_resolve": [a["action"] for a in reverted] if inc["resolved_at"] else [],
            })
        result["workloads"][wl] = {"incidents": out_inc, "detectors": detectors}
    return result


def damage(scn: Scenario, series: dict) -> int:
    if "damage_at" in scn.meta:
        return scn.meta["damage_at"]
    det, wl, cmp, thr = scn.meta["damage_rule"]
    samples = series[(det, scn.namespace, wl, None)]
    for t, v in samples:
        if (v >= thr) if cmp == "above" else (v < thr):
            return t
    raise AssertionError("no damage in " + scn.name)


def summarize(scn: Scenario, full: dict, series: dict) -> dict:
    pb = load_playbook(scn.name)
    spec = pb["spec"]
    main = next(w for w in spec["target"]["names"] if w not in scn.meta.get("neighbours", []))
    incs = full["workloads"][main]["incidents"]
    assert len(incs) == 1, f"{scn.name}: expected one incident on {main}, got {len(incs)}"
    inc = incs[0]
    dmg = damage(scn, series)
    opened = ts(inc["opened_at"])
    lead = dmg - opened
    out = {
        "playbook": full["playbook"],
        "namespace": scn.namespace,
        "workload": main,
        "interval_seconds": full["interval_seconds"],
        "opened_at": inc["opened_at"],
        "first_severity": inc["first_severity"],
        "max_severity": inc["max_severity"],
        "severity_timeline": inc["timeline"],
        "resolved_at": inc["resolved_at"],
        "damage": scn.meta["damage"],
        "damage_at": iso(dmg),
        "lead_time_seconds": lead,
        "min_lead_time_hours": math.floor(lead / 3600) if lead >= 3600 else None,
        "actions": inc["actions"],
        "reverted_on_resolve": inc["reverted_on_resolve"],
        "no_incident": [w for w in spec["target"]["names"] if w != main],
    }
    for w in out["no_incident"]:
        assert not full["workloads"][w]["incidents"], f"{scn.name}: neighbour {w} opened an incident"
    # Guardrails must not change the outcome above (so the numbers hold whatever
    # the engine's exact escalateAfter rule): the incident is over, or critical,
    # before escalateAfter could fire; and the action budget is not exhausted.
    g = spec.get("guardrails") or {}
    if g.get("escalateAfter"):
        end = ts(inc["resolved_at"]) if inc["resolved_at"] else max(t for s in series.values() for t, _ in s)
        assert end - opened < seconds(g["escalateAfter"]), f"{scn.name}: escalateAfter would fire"
    if g.get("budget"):
        assert len(inc["actions"]) <= int(g["budget"]["maxActions"]), f"{scn.name}: budget exceeded"
    rec = scn.meta.get("mitigation_in_recording")
    if rec:
        at = next((a["at"] for a in inc["actions"] if a["action"] == rec["action"]), None)
        assert at and ts(at) <= rec["at"], f"{scn.name}: {rec['action']} would run at {at}, after the recording applied it"
        out["mitigation_in_recording"] = {"action": rec["action"], "at": iso(rec["at"]), "engine_at": at}
    out["detectors"] = full["workloads"][main]["detectors"]
    return out


# --------------------------------------------------------------------------
# README tables


def hm(t: str | None) -> str:
    return "—" if t is None else t.replace("T", " ").replace("Z", "")


def markdown(name: str, e: dict) -> str:
    rows = [f"### {name}", "",
            f"Playbook `{e['playbook']}`, workload `{e['workload']}`, evaluated every {e['interval_seconds']:g}s.", "",
            "| detector | severity | threshold | first crossed | reached (after `for`) | left (after `clearFor`) |",
            "|---|---|---|---|---|---|"]
    for dname, d in e["detectors"].items():
        cmp = "≤" if d["comparison"] == "below" else "≥"
        for sev, lv in d["levels"].items():
            rows.append(f"| {dname} | {sev} | {cmp} {lv['threshold']:g} | {hm(lv['first_crossed'])} | "
                        f"{', '.join(hm(x) for x in lv['reached']) or '—'} | {', '.join(hm(x) for x in lv['left']) or '—'} |")
    rows += ["", "| time (UTC) | incident |", "|---|---|"]
    tl = e["severity_timeline"]
    for i, step in enumerate(tl):
        if i == 0:
            what = f"**opened** at {step['severity']}"
        else:
            prev = SEVERITIES.index(tl[i - 1]["severity"])
            what = ("escalated" if SEVERITIES.index(step["severity"]) > prev else "de-escalated") + f" to {step['severity']}"
        acts = [a["action"] + (" (keep)" if a["keep"] else "") for a in e["actions"] if a["at"] == step["at"]]
        if acts:
            what += "; runs " + ", ".join(acts)
        rows.append(f"| {hm(step['at'])} | {what} |")
    rows.append(f"| {hm(e['resolved_at'])} | **resolved**" +
                (f"; reverts {', '.join(e['reverted_on_resolve'])}" if e["reverted_on_resolve"] else "") + " |")
    lead = e["lead_time_seconds"]
    lead_s = f"{abs(lead) / 3600:.1f} h" if abs(lead) >= 3600 else f"{abs(lead)} s"
    rows += ["", f"Damage: {e['damage']} at **{hm(e['damage_at'])}**; incident opened {lead_s} "
             f"{'before' if lead >= 0 else 'after'} it."]
    if e.get("mitigation_in_recording"):
        m = e["mitigation_in_recording"]
        rows.append(f"The recording applied `{m['action']}` at {hm(m['at'])}; the playbook runs it at {hm(m['engine_at'])}.")
    for w in e["no_incident"]:
        rows.append(f"`{w}` (healthy neighbour) must open **no** incident.")
    nd = [(k, v["no_data"]) for k, v in e["detectors"].items() if v["no_data"]]
    if nd:
        spans = sorted({(a, b) for _, lst in nd for a, b in lst})
        rows.append("No data (every detector): " + ", ".join(f"{hm(a)} – {hm(b)}" for a, b in spans) +
                    " (first evaluation without a reading – first evaluation with one again); nothing changes state.")
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------


def main(argv):
    check = "--check" in argv
    outputs: dict[str, str] = {}
    expected, tables = {}, []
    for make in SCENARIOS:
        scn = make()
        text = scn.render()
        assert len(text.encode()) < 600_000, f"{scn.name}.om is {len(text)} bytes"
        outputs[os.path.join(HERE, f"{scn.name}.om")] = text
        series = parse_openmetrics(text)
        full = expect(scn, series)
        e = summarize(scn, full, series)
        expected[scn.name] = e
        tables.append(markdown(scn.name, e))
    outputs[os.path.join(HERE, "expected.json")] = json.dumps(expected, indent=2) + "\n"

    readme_path = os.path.join(HERE, "README.md")
    if os.path.exists(readme_path):
        with open(readme_path) as f:
            readme = f.read()
        begin, end = "<!-- BEGIN EXPECTED (generated by generate.py) -->", "<!-- END EXPECTED -->"
        if begin in readme and end in readme:
            head, rest = readme.split(begin, 1)
            _, tail = rest.split(end, 1)
            outputs[readme_path] = head + begin + "\n\n" + "\n".join(tables) + "\n" + end + tail

    bad = 0
    for path, text in outputs.items():
        if check:
            try:
                with open(path) as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                bad += 1
                print(f"out of date: {os.path.relpath(path, ROOT)}", file=sys.stderr)
        else:
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ROOT)} ({len(text.encode())} bytes)")
    if not check:
        for name, e in expected.items():
            print(f"{name:16} opened {e['opened_at']} {e['first_severity']:>8} -> max {e['max_severity']:<8} "
                  f"resolved {e['resolved_at']}  damage {e['damage_at']} lead {e['lead_time_seconds']}s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
