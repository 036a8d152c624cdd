"""make bench-capture's alternating part: one capture stays up while ghz
runs, and its programs in the traffic's path are detached and attached again by
turns, each turn a second or so (hoptap capture --alternate). Runs of
the same traffic minutes apart differ here by more than the effect
measured; a second from the next differs by a few percent. So each
"on" turn is held against the two "off" turns beside it, in the same
connections and the same few seconds.

A turn's first SETTLE seconds are left out of it: the capture reads the
ring every --update-interval, so the work of the last events of an "on"
turn is done at the start of the "off" turn after it.

  bench-alternate.py windows RUN.json CAPTURE.stderr SETTLE > RUN.windows
      ghz's calls (its JSON report's details) in each turn: calls/s
      (completions in the turn), p50 and p99 of the calls started in it.
      A turn within a second of the run's first call or half a second of
      its last is left out (connections starting, the run ending), and
      so are the calls ghz fails as it ends the run.
  bench-alternate.py report WORKDIR RATE CONFIG...
      ratios and verdicts per capture configuration, from WORKDIR's
      alt-KIND-CONFIG-N.windows (KIND sat or rate) and the captures'
      summaries, alt-KIND-CONFIG.capture.
"""
import bisect
from datetime import datetime, timezone
import glob
import json
import re
import statistics
import sys

from benchstats import capture_summary, judged, median_ci, verdict

med = statistics.median


def stamp(s):
    """ghz's RFC 3339 time (nanoseconds, Z) as seconds since the epoch."""
    s = s.rstrip("Z")
    whole, _, frac = s.partition(".")
    t = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0)


def quantile(sorted_xs, q):
    if not sorted_xs:
        return 0
    return sorted_xs[min(len(sorted_xs) - 1, int(q * len(sorted_xs)))]


def windows(run_json, capture_err, settle):
    details = json.load(open(run_json)).get("details") or []
    calls = sorted((stamp(x["timestamp"]), x["latency"] / 1e6) for x in details)
    if not calls:
        sys.exit(f"bench-alternate: {run_json} has no calls")
    starts = [c[0] for c in calls]
    ends = sorted(c[0] + c[1] / 1e3 for c in calls)
    first, last = starts[0], ends[-1]
    switches = []
    for line in open(capture_err):
        if line.startswith("alternate: "):
            _, state, ns = line.split()
            switches.append((int(ns) / 1e9, state))
    for i in range(len(switches) - 1):
        (t0, state), t1 = switches[i], switches[i + 1][0]
        a = t0 + settle
        if a >= t1 or t0 < first + 1 or t1 > last - 0.5:
            continue
        n = bisect.bisect_left(ends, t1) - bisect.bisect_left(ends, a)
        lat = sorted(c[1] for c in calls[bisect.bisect_left(starts, a):bisect.bisect_left(starts, t1)])
        print(json.dumps({"i": i, "state": state, "rps": n / (t1 - a), "p50": quantile(lat, 0.5),
                          "p99": quantile(lat, 0.99), "calls": len(lat)}))
    # ghz ends a timed run by closing its connections, failing the calls
    # then in flight ("transport is closing"): only calls that failed
    # before the run's last second count.
    errors = sum(1 for x in details if x.get("status") != "OK" and stamp(x["timestamp"]) < starts[-1] - 1)
    if errors:
        print(json.dumps({"failed": errors}))


def load(work, kind, cfg):
    """Each run's turns by switch index, and the run's failed calls."""
    runs, failed = [], 0
    # By name: configuration json's files are not json-niced's.
    own = re.compile(rf"alt-{kind}-{re.escape(cfg)}-\d+\.windows$")
    for path in sorted(p for p in glob.glob(f"{work}/alt-{kind}-{cfg}-*.windows") if own.search(p)):
        turns = {}
        for line in open(path):
            w = json.loads(line)
            if "failed" in w:
                failed += w["failed"]
            else:
                turns[w["i"]] = w
        runs.append(turns)
    return runs, failed


def ratios(runs, state, x, step):
    """Figure x of each turn in state over the mean of the turns step
    switches before and after it, in the same run: step 1 holds "on"
    against "off" beside it; step 2 "off" against "off" (the A/A test)."""
    out = []
    for turns in runs:
        for i, w in turns.items():
            before, after = turns.get(i - step), turns.get(i + step)
            if w["state"] != state or not before or not after:
                continue
            base = (before[x] + after[x]) / 2
            if base > 0:
                out.append(w[x] / base)
    return out


def summary(work, kind, cfg):
    """The alternating capture's summary (benchstats.capture_summary)."""
    return capture_summary(open(f"{work}/alt-{kind}-{cfg}.capture").read())


def line(label, vs, target, unit="%"):
    v = med(vs)
    lo, hi, conf = median_ci(vs)
    return f"  {label} {v:6.2f} {unit}   (target <= {target} {unit})   {judged(v, lo, hi, target, unit, conf)}   [{len(vs)} turns]"


def report(work, rate, cfgs):
    print()
    print("capture off and on by turns within each run (--alternate): every \"on\" turn against the \"off\" turns beside it")
    print("(the throughput and p99 verdicts to go by: the rounds above hold runs seconds to minutes apart, which differ by more)")
    failed = 0
    for cfg in cfgs:
        sat, f1 = load(work, "sat", cfg)
        fixed, f2 = load(work, "rate", cfg)
        failed += f1 + f2
        r = {(k, x): ratios(runs, "on", x, 1) for k, runs in (("sat", sat), ("rate", fixed)) for x in ("rps", "p50", "p99")}
        if not r[("sat", "rps")] or not r[("rate", "p99")]:
            sys.exit(f"bench-alternate: capture {cfg}: no turn has turns beside it; runs too short for the turns?")
        m = {k: med(v) for k, v in r.items()}
        sums = [summary(work, k, cfg) for k in ("sat", "rate")]
        n_lost = sum(x["lost"] for x in sums)
        print()
        print(f"capture {cfg}, alternating: ratios on/off (median of the turns): saturation calls/s {m[('sat', 'rps')]:.3f}, "
              f"p50 {m[('sat', 'p50')]:.3f}, p99 {m[('sat', 'p99')]:.3f}; fixed {rate}/s calls/s {m[('rate', 'rps')]:.3f}, "
              f"p50 {m[('rate', 'p50')]:.3f}, p99 {m[('rate', 'p99')]:.3f}")
        print(line("throughput loss at saturation:", [(1 - v) * 100 for v in r[("sat", "rps")]], 2))
        print(line("p99 increase at fixed rate:   ", [(v - 1) * 100 for v in r[("rate", "p99")]], 5))
        print(f"  lost events:                   {n_lost:6d}     (target 0)        {verdict(n_lost == 0)}")
        # Against the rounds' figure: the "on" turns decoded as much per
        # call as a capture that was never off (each turn starts with a
        # gap in every connection, decoded from there as a capture that
        # joined mid-way).
        print("  capture CPU per 1,000 calls decoded: " + ", ".join(
            f"{x['cpu'] * 1e6 / max(1, x['calls']):.2f} ms {label}" for x, label in zip(sums, ("at saturation", "at the fixed rate")))
            + " (the off turns' idle reads included)")
        aa_s = [(1 - v) * 100 for v in ratios(sat, "off", "rps", 2)]
        aa_p = [(v - 1) * 100 for v in ratios(fixed, "off", "p99", 2)]
        for label, vs in (("throughput loss at saturation", aa_s), ("p99 increase at fixed rate   ", aa_p)):
            if vs:
                lo, hi, conf = median_ci(vs)
                print(f"  A/A, off against off: {label}: {med(vs):6.2f} %   interval {lo:.2f} to {hi:.2f} % ({conf * 100:.0f} %)")
    print()
    print(f"failed calls (alternating runs): {failed}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "windows":
        windows(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) >= 5 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
