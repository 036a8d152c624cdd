"""Report of make bench-capture: medians of ghz's figures per mode, the
captures' own summaries, ratios against capture off, and the targets.

Usage: bench-capture-report.py WORKDIR ROUNDS RATE off CONFIG...
"""
import json
import re
import statistics
import sys

work, rounds, rate, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
med = statistics.median


def ghz(kind, r, cap):
    d = json.load(open(f"{work}/{kind}-{r}-{cap}.json"))
    lat = {x["percentage"]: x["latency"] / 1e6 for x in d.get("latencyDistribution") or []}
    ok = d.get("statusCodeDistribution", {}).get("OK", 0)
    return {"rps": d["rps"], "p50": lat.get(50, 0), "p99": lat.get(99, 0), "calls": d["count"], "ok": ok,
            "errors": d.get("errorDistribution") or {}}


def capture(kind, r, cap):
    text = open(f"{work}/{kind}-{r}-{cap}.json.capture").read()
    m = re.search(r"capture: (\d+) packets in ([\d.]+)(ms|s|m)?.*?(\d+) calls, (\d+) lost events, \d+ TCP gaps, "
                  r"cpu ([\d.]+)(µs|ms|s)", text)
    k = re.search(r"kernel: (\d+) packets copied, (\d+) lost", text)
    if not m or not k:
        sys.exit("bench-capture: cannot read the capture summary:\n" + text)
    elapsed = float(m.group(2)) * {"ms": 1e-3, "s": 1, "m": 60, None: 1}[m.group(3)]
    cpu = float(m.group(6)) * {"µs": 1e-6, "ms": 1e-3, "s": 1}[m.group(7)]
    return {"events": int(k.group(1)), "lost": int(k.group(2)) + int(m.group(5)), "calls": int(m.group(4)),
            "cpu": cpu, "elapsed": elapsed}


def verdict(ok):
    return "MET" if ok else "NOT MET"


print()
print(f"{'mode':<18} {'capture':<8} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} | "
      f"{'cpu ms/1k calls':>15} {'events/s':>9} {'lost':>5}")
res, errors = {}, []
for kind, label in (("sat", "saturation"), ("rate", f"fixed {rate}/s")):
    for cap in names:
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
            extra = f"{row['cpu_per_k']:>15.2f} {row['events_s']:>9.0f} {row['lost']:>5}"
        res[(kind, cap)] = row
        print(f"{label:<18} {cap:<8} {row['rps']:>9.0f} {row['p50']:>8.3f} {row['p99']:>8.3f} | {extra}")

for cap in names[1:]:
    on_s, off_s = res[("sat", cap)], res[("sat", "off")]
    on_r, off_r = res[("rate", cap)], res[("rate", "off")]
    sat_loss = 1 - on_s["rps"] / off_s["rps"]
    p99_inc = on_r["p99"] / off_r["p99"] - 1
    cpu = max(on_s["cpu_per_k"], on_r["cpu_per_k"])
    lost = on_s["lost"] + on_r["lost"]
    print()
    print(f"capture {cap}: ratios on/off: saturation calls/s {1 - sat_loss:.3f}, p50 {on_s['p50'] / off_s['p50']:.3f}, "
          f"p99 {on_s['p99'] / off_s['p99']:.3f}; fixed rate p50 {on_r['p50'] / off_r['p50']:.3f}, p99 {1 + p99_inc:.3f}")
    print(f"  throughput loss at saturation: {sat_loss * 100:6.2f} %   (target <= 2 %)   {verdict(sat_loss <= 0.02)}")
    print(f"  p99 increase at fixed rate:    {p99_inc * 100:6.2f} %   (target <= 5 %)   {verdict(p99_inc <= 0.05)}")
    print(f"  capture CPU per 1,000 calls:   {cpu:6.2f} ms  (target <= 5 ms)   {verdict(cpu <= 5)}")
    print(f"  lost events:                   {lost:6d}     (target 0)        {verdict(lost == 0)}")

print()
print(f"failed calls (all runs): {sum(r['failed'] for r in res.values())}")
for e in errors:
    print("  " + e)
