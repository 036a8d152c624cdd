"""Report of make bench-capture: medians of ghz's figures per mode, the
captures' own summaries, ratios against capture off, and the targets.

Each capture run's ratios are against the mean of the two capture-off runs
on either side of it (WORKDIR/order-KIND-ROUND lists the triples), so that
the machine's drift between runs cancels; the targets hold the median of
the rounds' ratios. The fixed rate has rounds of its own, RATE_ROUNDS.

The median comes with its distribution-free confidence interval (order
statistics of the rounds' ratios), and the capture-off runs are held to
the same test against each other (an A/A test: what the bench reports
when nothing changes). A verdict whose interval spans the target says
so: on this shared VM's noise it could go either way.

Usage: bench-capture-report.py WORKDIR ROUNDS RATE_ROUNDS RATE off CONFIG...
"""
import json
import statistics
import sys

from benchstats import capture_summary, judged, median_ci, verdict

work, names = sys.argv[1], sys.argv[5:]
rounds_of = {"sat": int(sys.argv[2]), "rate": int(sys.argv[3])}
rate = int(sys.argv[4])
med = statistics.median


def ghz(kind, r, cap):
    d = json.load(open(f"{work}/{kind}-{r}-{cap}.json"))
    lat = {x["percentage"]: x["latency"] / 1e6 for x in d.get("latencyDistribution") or []}
    ok = d.get("statusCodeDistribution", {}).get("OK", 0)
    return {"rps": d["rps"], "p50": lat.get(50, 0), "p99": lat.get(99, 0), "calls": d["count"], "ok": ok,
            "errors": d.get("errorDistribution") or {}}


def capture(kind, r, cap):
    return capture_summary(open(f"{work}/{kind}-{r}-{cap}.json.capture").read())


print()
print(f"{'mode':<18} {'capture':<10} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} | "
      f"{'cpu ms/1k calls':>15} {'events/s':>9} {'lost':>5} {'raised':>6}")

def triples(kind, r):
    return [line.split() for line in open(f"{work}/order-{kind}-{r}")]


def offs(kind, r):
    return sorted({t[0] for t in triples(kind, r)} | {t[2] for t in triples(kind, r)})


res, errors = {}, []
for kind, label in (("sat", "saturation"), ("rate", f"fixed {rate}/s")):
    rounds = rounds_of[kind]
    for cap in names:
        if cap == "off":
            g = [ghz(kind, r, o) for r in range(1, rounds + 1) for o in offs(kind, r)]
        else:
            g = [ghz(kind, r, cap) for r in range(1, rounds + 1)]
        row = {x: med([y[x] for y in g]) for x in ("rps", "p50", "p99")}
        row["failed"] = sum(y["calls"] - y["ok"] for y in g)
        for y in g:
            errors += [f"{label}, capture {cap}: {n} x {e}" for e, n in y["errors"].items()]
        extra = ""
        if cap != "off":
            c = [capture(kind, r, cap) for r in range(1, rounds + 1)]
            row["cpu_per_k"] = med([x["cpu"] * 1e6 / max(1, x["calls"]) for x in c])
            row["events_s"] = med([x["events"] / x["elapsed"] for x in c])
            row["lost"] = sum(x["lost"] for x in c)
            k = [x["kernel"] * 1e6 / max(1, x["calls"]) for x in c if x["kernel"] is not None]
            row["kernel_per_k"] = med(k) if len(k) == len(c) else None
            # Raises from the background by the priority guard, all runs.
            raises = [x["raises"] for x in c if x["raises"] is not None]
            extra = f"{row['cpu_per_k']:>15.2f} {row['events_s']:>9.0f} {row['lost']:>5} {sum(raises) if raises else '-':>6}"
        res[(kind, cap)] = row
        print(f"{label:<18} {cap:<10} {row['rps']:>9.0f} {row['p50']:>8.3f} {row['p99']:>8.3f} | {extra}")


def ratios(kind, cap, x):
    """The rounds' ratios of figure x: the capture run over the mean of
    the capture-off runs on either side of it."""
    out = []
    for r in range(1, rounds_of[kind] + 1):
        for before, c, after in triples(kind, r):
            if c == cap:
                off = (ghz(kind, r, before)[x] + ghz(kind, r, after)[x]) / 2
                out.append(ghz(kind, r, cap)[x] / off)
    return out


def fmt(rs):
    return " ".join(f"{v:.3f}" for v in rs)


for cap in names[1:]:
    on_s, on_r = res[("sat", cap)], res[("rate", cap)]
    r = {(k, x): ratios(k, cap, x) for k in ("sat", "rate") for x in ("rps", "p50", "p99")}
    m = {key: med(v) for key, v in r.items()}
    sat_loss = 1 - m[("sat", "rps")]
    p99_inc = m[("rate", "p99")] - 1
    lo_s, hi_s, conf_s = median_ci([(1 - v) * 100 for v in r[("sat", "rps")]])
    lo_p, hi_p, conf_p = median_ci([(v - 1) * 100 for v in r[("rate", "p99")]])
    cpu = max(on_s["cpu_per_k"], on_r["cpu_per_k"])
    lost = on_s["lost"] + on_r["lost"]
    print()
    print(f"capture {cap}: ratios on/off (median of the rounds, each run against the capture-off runs beside it): "
          f"saturation calls/s {m[('sat', 'rps')]:.3f}, p50 {m[('sat', 'p50')]:.3f}, p99 {m[('sat', 'p99')]:.3f}; "
          f"fixed rate p50 {m[('rate', 'p50')]:.3f}, p99 {m[('rate', 'p99')]:.3f}")
    print(f"  per round: saturation calls/s {fmt(r[('sat', 'rps')])}; fixed rate p99 {fmt(r[('rate', 'p99')])}")
    print(f"  throughput loss at saturation: {sat_loss * 100:6.2f} %   (target <= 2 %)   {judged(sat_loss * 100, lo_s, hi_s, 2, '%', conf_s)}")
    print(f"  p99 increase at fixed rate:    {p99_inc * 100:6.2f} %   (target <= 5 %)   {judged(p99_inc * 100, lo_p, hi_p, 5, '%', conf_p)}")
    print(f"  capture CPU per 1,000 calls:   {cpu:6.2f} ms  (target <= 5 ms)   {verdict(cpu <= 5)}")
    print(f"  lost events:                   {lost:6d}     (target 0)        {verdict(lost == 0)}")
    if on_s["kernel_per_k"] is not None and on_r["kernel_per_k"] is not None:
        print(f"  kernel programs per 1,000 calls: {on_s['kernel_per_k']:.2f} ms at saturation, {on_r['kernel_per_k']:.2f} ms at the fixed rate "
              f"(--bpf-stats: in the peers' own path, on top of the capture's CPU)")

# The A/A test: each capture-off run but the first and last of a round
# against the two capture-off runs two places beside it (a capture run
# between), as a capture run is against its neighbours. These runs are
# further apart, so this noise is if anything larger.
def null_ratios(kind, x):
    out = []
    for r in range(1, rounds_of[kind] + 1):
        seq = [triples(kind, r)[0][0]] + [t[2] for t in triples(kind, r)]
        for i in range(1, len(seq) - 1):
            off = (ghz(kind, r, seq[i - 1])[x] + ghz(kind, r, seq[i + 1])[x]) / 2
            out.append(ghz(kind, r, seq[i])[x] / off)
    return out


# With one capture a round has only the two capture-off runs around it,
# none between two others.
if len(names) > 2:
    aa_s = [(1 - v) * 100 for v in null_ratios("sat", "rps")]
    aa_p = [(v - 1) * 100 for v in null_ratios("rate", "p99")]
    print()
    print("capture off against capture off (the A/A test: the bench's noise, what it reports when nothing changes):")
    for label, vs in (("throughput loss at saturation", aa_s), ("p99 increase at fixed rate   ", aa_p)):
        lo, hi, conf = median_ci(vs)
        print(f"  {label}: {med(vs):6.2f} %   interval {lo:.2f} to {hi:.2f} % ({conf * 100:.0f} %); "
              f"runs {min(vs):.1f} to {max(vs):.1f} %")

print()
print(f"failed calls (all runs): {sum(r['failed'] for r in res.values())}")
for e in errors:
    print("  " + e)
