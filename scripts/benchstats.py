"""Statistics shared by make bench-capture's reports: verdicts, and the
median's confidence interval, free of any assumption about the noise's
distribution."""
from math import comb


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
