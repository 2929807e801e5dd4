#!/usr/bin/env python3
"""Golden values for the kiln-stats crate, computed with numpy and scipy.

Regenerate from the workspace root (bench/.venv has numpy and scipy):

    bench/.venv/bin/python crates/kiln-stats/tests/golden/make_golden.py

This writes crates/kiln-stats/tests/golden/golden.json next to this script. The committed
golden.json was produced with numpy 2.4.6 and scipy 1.17.1 (the "generator" field of the JSON
records the versions of whichever run wrote it). Every random vector comes from a fixed numpy
seed, so a rerun with the same versions writes the same file.

What each expected value is computed with:
  * KS two-sample:    scipy.stats.ks_2samp(a, b) (method='auto': exact when max(m, n) <= 10000).
    Samples larger than that are not stored; they are built from a small integer rule that
    tests/golden.rs reproduces bit for bit (see `lattice` below).
  * kstwo:            scipy.stats.kstwo.sf(d, n), the distribution ks_2samp's asymptotic branch uses.
  * chi-squared:      scipy.stats.chisquare(f_obs, f_exp) with f_exp rescaled to f_obs's total
                      (scipy insists the totals agree; kiln-stats rescales the same way).
  * chi-squared drift on counts: kiln-stats' documented recipe (drop categories empty in both,
                      add 0.5 to every reference cell when one is empty, expected = reference
                      proportions x current total) done in numpy, then scipy.stats.chisquare.
  * z-test:           statsmodels' proportions_ztest formula (pooled, two-sided), written out in
                      numpy, with the p-value from scipy.stats.norm.sf.
  * Wasserstein:      scipy.stats.wasserstein_distance(a, b); the normed variant is Evidently's
                      wasserstein / max(numpy.std(reference), 0.001).
  * Jensen-Shannon:   scipy.spatial.distance.jensenshannon(p, q) (natural log).
  * PSI:              numpy, with exactly the formula kiln-stats implements: proportions, a zero
                      proportion replaced by 0.0001 (Evidently's floor), sum (c - r) * ln(c / r).
  * Binning:          numpy.quantile (default 'linear') deduplicated with numpy.unique for quantile
                      edges; numpy.linspace over the pooled [min, max] for equal-width edges; bin
                      index numpy.searchsorted(edges, x, side='left'), i.e. bins (e[k-1], e[k]].
  * Corrections:      Bonferroni min(1, p * m); Benjamini-Hochberg scipy.stats.false_discovery_control.
"""

import json
import math
import pathlib
import warnings

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

warnings.simplefilter("error")  # a scipy fallback warning (e.g. exact KS failing) must not pass silently

OUT = pathlib.Path(__file__).with_name("golden.json")
rng = np.random.default_rng(20240611)


def vec(x):
    """Input vectors are rounded to 6 decimals so their JSON text parses to the same doubles anywhere."""
    return [float(v) for v in np.round(np.asarray(x, dtype=float), 6)]


def lattice(n, mult, add, modulus, scale, offset):
    """x_i = offset + scale * (((mult * i + add) % modulus) / modulus), i = 0..n-1, in integer then IEEE
    double arithmetic (one division, one multiply, one add), which Rust reproduces exactly."""
    rule = dict(n=n, mult=mult, add=add, modulus=modulus, scale=scale, offset=offset)
    values = [offset + scale * (((mult * i + add) % modulus) / modulus) for i in range(n)]
    return rule, np.array(values)


def ks_case(name, a, b):
    a, b = vec(a), vec(b)
    res = stats.ks_2samp(a, b)
    return dict(name=name, a=a, b=b, statistic=float(res.statistic), p_value=float(res.pvalue))


def ks_cases():
    out = []
    out.append(ks_case("equal sizes, same distribution", rng.normal(size=100), rng.normal(size=100)))
    out.append(ks_case("unequal sizes, small shift", rng.normal(size=80), rng.normal(0.3, 1, size=130)))
    out.append(ks_case("integers, heavy ties", rng.poisson(3.0, size=200), rng.poisson(3.5, size=150)))
    out.append(ks_case("equal sizes, heavy ties", rng.integers(0, 5, size=50), rng.integers(0, 5, size=50)))
    out.append(ks_case("large shift, tiny p", rng.normal(size=500), rng.normal(1.0, 1, size=400)))
    out.append(ks_case("large shift, equal sizes, tiny p", rng.normal(size=300), rng.normal(1.2, 1, size=300)))
    out.append(ks_case("3 vs 5", rng.normal(size=3), rng.normal(size=5)))
    out.append(ks_case("1 vs 4", rng.normal(size=1), rng.normal(size=4)))
    out.append(ks_case("disjoint 4 vs 6", rng.uniform(0, 1, size=4), rng.uniform(2, 3, size=6)))
    same = rng.normal(size=40)
    out.append(ks_case("identical samples", same, same))
    out.append(ks_case("300 vs 3000", rng.exponential(1.0, size=300), rng.exponential(1.1, size=3000)))
    out.append(ks_case("10000 vs 600, last exact size", rng.normal(size=10000), rng.normal(0.05, 1, size=600)))
    out.append(ks_case("2000 vs 2000", rng.normal(size=2000), rng.standard_t(10, size=2000)))
    return out


def ks_generated_cases():
    specs = [
        ("12000 vs 11000, asymptotic, mild difference",
         (12000, 7919, 13, 10007, 1.0, 0.0), (11000, 104729, 7, 9973, 1.02, -0.01)),
        ("20000 vs 60, asymptotic with n_eff <= 140",
         (20000, 7919, 3, 19997, 1.0, 0.0), (60, 31, 5, 61, 1.0, 0.05)),
        ("15000 vs 3000, asymptotic, tiny p",
         (15000, 7919, 1, 14983, 1.0, 0.0), (3000, 104729, 11, 2999, 1.0, 0.2)),
        ("10001 vs 1, asymptotic with n_eff = 1",
         (10001, 7919, 0, 10007, 1.0, 0.0), (1, 1, 0, 2, 1.0, 0.0)),
        ("200000 vs 150000, asymptotic, large n_eff",
         (200000, 7919, 17, 199999, 1.0, 0.0), (150000, 104729, 5, 149993, 1.01, 0.0)),
        ("30000 vs 700, asymptotic, ties",
         (30000, 37, 2, 101, 10.0, 0.0), (700, 41, 3, 103, 10.0, 0.3)),
    ]
    out = []
    for name, ra, rb in specs:
        rule_a, a = lattice(*ra)
        rule_b, b = lattice(*rb)
        res = stats.ks_2samp(a, b)
        out.append(dict(name=name, a=rule_a, b=rule_b, statistic=float(res.statistic), p_value=float(res.pvalue)))
    return out


def kstwo_cases():
    ns = [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 2000, 6000, 20000, 100000, 100001, 500000, 1000000, 1000001, 3000000]
    nx2 = [0.05, 0.3, 0.6, 0.754, 0.76, 1.0, 1.5, 2.0, 2.19, 2.21, 3.0, 3.99, 4.01, 8.0, 20.0, 100.0, 300.0, 369.0, 371.0]
    out = []
    for n in ns:
        ds = {0.0, 1.0, 0.3 / n, 0.75 / n, 1.0 / n, 0.5, 0.6, 0.9, 0.999}
        if n > 1:
            ds |= {1.0 - 1.5 / n, 1.0 - 0.5 / n}
        ds |= {math.sqrt(v / n) for v in nx2 if v / n < 1.0}
        for d in sorted(ds):
            out.append(dict(n=n, d=d, sf=float(stats.kstwo.sf(d, n))))
    return out


def chi_squared_cases():
    cases = [
        ([16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]),
        ([43, 52, 54, 40], [50, 50, 50, 50]),  # totals differ: expected is rescaled
        ([10, 0, 7], [6, 6, 5]),
        ([120, 30], [75, 75]),
        ([900, 50, 50, 1000], [500.5, 500.5, 500.5, 500.5]),
        (list(rng.poisson(40, size=12)), list(rng.uniform(20, 60, size=12))),
    ]
    out = []
    for obs, exp in cases:
        obs = np.asarray(vec(obs))
        exp = np.asarray(vec(exp))
        res = stats.chisquare(obs, exp * (obs.sum() / exp.sum()))
        out.append(dict(observed=vec(obs), expected=vec(exp), statistic=float(res.statistic), p_value=float(res.pvalue)))
    return out


def chi_squared_counts_cases():
    cases = [
        ([120, 80, 50, 30], [60, 45, 20, 25]),
        ([500, 300, 200, 0], [40, 30, 20, 10]),  # a new category in current
        ([300, 200, 100], [0, 50, 70]),  # a category that disappeared
        ([40, 0, 60, 10], [20, 0, 25, 5]),  # a category empty in both: dropped
        ([100, 200, 300], [10, 20, 30]),  # identical proportions
        ([1000, 1], [0, 500]),
    ]
    out = []
    for ref, cur in cases:
        ref = np.asarray(ref, dtype=float)
        cur = np.asarray(cur, dtype=float)
        keep = (ref > 0) | (cur > 0)
        r, c = ref[keep], cur[keep]
        if np.any(r == 0):
            r = r + 0.5
        expected = r / r.sum() * c.sum()
        res = stats.chisquare(c, expected)
        out.append(dict(reference=vec(ref), current=vec(cur), statistic=float(res.statistic), p_value=float(res.pvalue)))
    return out


def chi_squared_homogeneity_cases():
    cases = [
        ([120, 80, 50, 30], [60, 45, 20, 25]),
        ([500, 300, 200, 0], [40, 30, 20, 10]),  # a new category in current
        ([300, 200, 100], [0, 50, 70]),  # a category that disappeared
        ([40, 0, 60, 10], [20, 0, 25, 5]),  # a category empty in both: dropped
        ([100, 200, 300], [10, 20, 30]),  # identical proportions
        ([121, 100, 96, 83], [60, 69, 74, 97]),
    ]
    out = []
    for ref, cur in cases:
        ref = np.asarray(ref, dtype=float)
        cur = np.asarray(cur, dtype=float)
        keep = (ref > 0) | (cur > 0)
        res = stats.chi2_contingency(np.vstack([ref[keep], cur[keep]]), correction=False)
        out.append(dict(reference=vec(ref), current=vec(cur), statistic=float(res.statistic), p_value=float(res.pvalue)))
    return out


def z_test_cases():
    cases = [(50, 100, 60, 100), (430, 1000, 210, 400), (3, 250, 4, 300), (0, 50, 5, 60), (9990, 10000, 9000, 10000), (1, 3, 2, 5)]
    out = []
    for rs, rn, cs, cn in cases:
        p1, p2 = rs / rn, cs / cn
        pooled = (rs + cs) / (rn + cn)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / rn + 1 / cn))
        p = 2 * stats.norm.sf(abs(z))
        out.append(dict(ref_successes=rs, ref_n=rn, cur_successes=cs, cur_n=cn, statistic=float(z), p_value=float(p)))
    return out


def wasserstein_cases():
    cases = [
        (rng.normal(size=50), rng.normal(0.5, 1.5, size=70)),
        (rng.integers(0, 6, size=100), rng.integers(1, 7, size=80)),
        (rng.exponential(2.0, size=1000), rng.exponential(2.5, size=1500)),
        ([1.0], [4.0, 6.0]),
        ([3.0, 3.0, 3.0], [3.0, 3.5]),  # constant reference: std 0, Evidently divides by 0.001
        (rng.normal(100, 5, size=30), rng.normal(100, 5, size=30)),
    ]
    out = []
    for a, b in cases:
        a, b = vec(a), vec(b)
        d = stats.wasserstein_distance(a, b)
        normed = d / max(np.std(a), 0.001)
        out.append(dict(a=a, b=b, distance=float(d), normed=float(normed)))
    return out


def js_cases():
    cases = [
        ([0.1, 0.4, 0.5], [0.3, 0.3, 0.4]),
        ([10, 0, 30, 60], [25, 25, 0, 50]),
        ([1, 2, 3, 4, 5], [50, 40, 30, 20, 10]),
        ([1, 0], [0, 1]),
        ([5, 5, 5], [1, 1, 1]),
        (list(rng.poisson(30, size=20)), list(rng.poisson(33, size=20))),
    ]
    cases = [(vec(p), vec(q)) for p, q in cases]
    return [dict(p=p, q=q, distance=float(distance.jensenshannon(p, q))) for p, q in cases]


def psi_value(ref, cur):
    """PSI exactly as kiln-stats computes it: proportions, zeros floored at 0.0001, no renormalisation."""
    r = np.asarray(ref, dtype=float)
    c = np.asarray(cur, dtype=float)
    r, c = r / r.sum(), c / c.sum()
    r = np.where(r == 0, 0.0001, r)
    c = np.where(c == 0, 0.0001, c)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_cases():
    cases = [
        ([0.1, 0.2, 0.3, 0.4], [0.15, 0.25, 0.25, 0.35]),
        ([100, 200, 300, 0], [90, 180, 310, 20]),
        ([10, 20, 30], [10, 20, 30]),
        ([5, 0, 5], [0, 10, 0]),
        (list(rng.poisson(100, size=10)), list(rng.poisson(90, size=10))),
    ]
    cases = [(vec(r), vec(c)) for r, c in cases]
    return [dict(reference=r, current=c, psi=psi_value(r, c)) for r, c in cases]


def bin_index_counts(values, edges):
    idx = np.searchsorted(np.asarray(edges), np.asarray(values), side="left")
    return [float(v) for v in np.bincount(idx, minlength=len(edges) + 1)]


def binning_cases():
    cases = [
        ("normal vs shifted normal", rng.normal(size=1000), rng.normal(0.3, 1.1, size=700), 10),
        ("few distinct values", rng.integers(0, 4, size=500), rng.integers(0, 5, size=300), 10),
        ("skewed", rng.lognormal(0, 1, size=2000), rng.lognormal(0.1, 1, size=2500), 20),
    ]
    out = []
    for name, ref, cur, bins in cases:
        ref, cur = np.array(vec(ref)), np.array(vec(cur))
        q_edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
        q_ref, q_cur = bin_index_counts(ref, q_edges), bin_index_counts(cur, q_edges)
        pooled = np.concatenate([ref, cur])
        h_edges = np.linspace(pooled.min(), pooled.max(), bins + 1)[1:-1]
        h_ref, h_cur = bin_index_counts(ref, h_edges), bin_index_counts(cur, h_edges)
        out.append(dict(
            name=name, reference=[float(v) for v in ref], current=[float(v) for v in cur], bins=bins,
            quantile_edges=[float(e) for e in q_edges], quantile_reference_counts=q_ref,
            quantile_current_counts=q_cur, psi=psi_value(q_ref, q_cur),
            histogram_edges=[float(e) for e in h_edges], histogram_reference_counts=h_ref,
            histogram_current_counts=h_cur, jensen_shannon=float(distance.jensenshannon(h_ref, h_cur)),
        ))
    return out


def adjust_cases():
    cases = [
        [0.01, 0.04, 0.03, 0.5, 0.2, 0.04, 0.001, 0.9, 1.0, 0.06],
        list(rng.uniform(0, 1, size=20)),
        [0.0, 0.0001, 0.02, 0.02, 0.02, 0.7],
        [0.3],
    ]
    out = []
    for ps in cases:
        ps = np.asarray(vec(ps))
        out.append(dict(
            p_values=[float(p) for p in ps],
            bonferroni=[float(p) for p in np.minimum(1.0, ps * len(ps))],
            benjamini_hochberg=[float(p) for p in stats.false_discovery_control(ps, method="bh")],
        ))
    return out


def main():
    golden = dict(
        generator=dict(
            script="crates/kiln-stats/tests/golden/make_golden.py",
            command="bench/.venv/bin/python crates/kiln-stats/tests/golden/make_golden.py",
            numpy=np.__version__,
            scipy=scipy.__version__,
            seed=20240611,
        ),
        ks=ks_cases(),
        ks_generated=ks_generated_cases(),
        kstwo=kstwo_cases(),
        chi_squared=chi_squared_cases(),
        chi_squared_counts=chi_squared_counts_cases(),
        chi_squared_homogeneity=chi_squared_homogeneity_cases(),
        z_test=z_test_cases(),
        wasserstein=wasserstein_cases(),
        jensen_shannon=js_cases(),
        psi=psi_cases(),
        binning=binning_cases(),
        adjust=adjust_cases(),
    )
    OUT.write_text(json.dumps(golden, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
