"""What make bench-capture's reports share: verdicts, the median's
confidence interval, free of any assumption about the noise's
distribution, and the figures of a capture's summary."""
from math import comb
import re
import sys


def verdict(ok):
    return "MET" if ok else "NOT MET"


def median_ci(values, level=0.95):
    """The interval of order statistics that holds the true median with at
    least probability level (or as near as the rounds allow), and that
    probability: for n values, [x(k), x(n+1-k)] misses it with
    probability 2 P(Binomial(n, 1/2) < k)."""
    xs, n = sorted(values), len(values)
    if n == 0:
        return 0, 0, 0
    k = 1
    cdf = [sum(comb(n, i) for i in range(j)) / 2 ** n for j in range(n + 2)]
    for j in range(1, n // 2 + 1):
        if 2 * cdf[j] <= 1 - level:
            k = j
    return xs[k - 1], xs[n - k], 1 - 2 * cdf[k]


def judged(value, lo, hi, target, unit, conf):
    """A target's verdict on the median, with the interval, and whether
    the interval spans the target."""
    v = verdict(value <= target)
    note = f"interval {lo:.2f} to {hi:.2f} {unit} ({conf * 100:.0f} %)"
    if lo <= target < hi:
        note += ": spans the target, within this machine's noise"
    return f"{v:<8} {note}"


def capture_summary(text):
    """The figures of a hoptap capture's summary (its standard error):
    kernel events copied, events lost (kernel and decoder), calls, CPU
    and elapsed seconds, the guard's raises and, with --bpf-stats, the
    programs' seconds (None where the summary has none)."""
    m = re.search(r"capture: (\d+) packets? in ([\d.]+)(ms|s|m)?.*?(\d+) calls?, (\d+) lost events?, \d+ TCP gaps?, "
                  r"cpu ([\d.]+)(µs|ms|s)", text)
    k = re.search(r"kernel: (\d+) packets copied, (\d+) lost", text)
    if not m or not k:
        sys.exit("bench-capture: cannot read the capture summary:\n" + text)
    elapsed = float(m.group(2)) * {"ms": 1e-3, "s": 1, "m": 60, None: 1}[m.group(3)]
    cpu = float(m.group(6)) * {"µs": 1e-6, "ms": 1e-3, "s": 1}[m.group(7)]
    p = re.search(r"raised to niceness \d+ (\d+) times", text)
    # --bpf-stats: the programs' run time, spent in the peers' own path.
    b = re.search(r"kernel: programs .*?: ([\d.]+)(µs|ms|s) in all", text)
    kernel = float(b.group(1)) * {"µs": 1e-6, "ms": 1e-3, "s": 1}[b.group(2)] if b else None
    return {"events": int(k.group(1)), "lost": int(k.group(2)) + int(m.group(5)), "calls": int(m.group(4)),
            "cpu": cpu, "elapsed": elapsed, "raises": int(p.group(1)) if p else None, "kernel": kernel}
