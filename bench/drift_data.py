#!/usr/bin/env python3
"""Write the drift benchmark's CSVs: a 50,000-row reference and a 250,000-row current set, 20 columns.

    python bench/drift_data.py [--reference-rows N] [--current-rows N] [--seed S] [--dir DIR]

Both files go to DIR (default bench/.data/, git-ignored) as
drift_reference_<rows>x20_seed<S>.csv and drift_current_<rows>x20_seed<S+1>.csv:
the reference is drawn with numpy default_rng(S), the current set with
default_rng(S + 1) and, in a known subset of the columns, changed
distributions. A file is reused when its sidecar PATH.params.json records the
same parameters (rows, seed, role, layout version, numpy version) and size;
otherwise it is written through a temporary file and renamed into place.
Prints one JSON object line: both paths, rows, bytes and sha256, and the plan
of every column (kind, how the current set differs, and the intended size of
the change: none, mild, borderline or clear, against the 0.1 threshold of
the normed Wasserstein / Jensen-Shannon distances).

Columns (missing cells are empty; which level names get which frequency rank
is fixed by a constant seed, the same in both files):
  14 numeric   normal, lognormal, Poisson / negative-binomial / geometric
               counts, uniform, exponential, small- and large-magnitude
               sensors; 4 of them with 1-5% missing
   1 rating    1-5 (at most 5 distinct values: both tools compare it as a category)
   4 string    categorical, 5 / 50 / 300 / 2,000 levels, Zipf-like
               frequencies (one with 1% missing)
   1 yes/no
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import fmt_cells as _fmt  # noqa: E402
from bench_common import record_file, reusable_file, write_csv_columns  # noqa: E402

LAYOUT_VERSION = 2  # bump when the columns, their drift or their formatting change
N_COLS = 20
CHUNK = 50_000
NAMES_SEED = 12345  # fixes which level name has which frequency rank, in both files

# Column name -> (kind, intended change, how the current set differs).
# "intended" is the designed size of the change against the 0.1 distance
# threshold: none, mild (clearly below 0.1), borderline (within about 0.02 of
# it, either side) or clear (well above), for the population distributions;
# finite samples add noise (see "product").
PLAN: dict[str, tuple[str, str, str]] = {
    "age": ("numeric", "none", "same: rint(normal(41, 13)) clipped to 18-95"),
    "income": ("numeric", "clear", "lognormal(10.6, 0.65) -> lognormal(10.8, 0.65); 2% missing"),
    "score": ("numeric", "clear", "normal(0, 1) -> normal(0.3, 1)"),
    "temperature_c": ("numeric", "borderline", "normal(19.5, 7.8): mean + 0.115 sd"),
    "latency_ms": ("numeric", "borderline", "lognormal(3.2, 1.1) scaled by 1.14; 1% missing"),
    "clicks": ("numeric", "borderline", "poisson(3.4) -> poisson(3.62)"),
    "purchases": ("numeric", "none", "same: negative_binomial(2, 0.4); 5% missing"),
    "ratio": ("numeric", "none", "same: uniform(0, 1)"),
    "balance": ("numeric", "mild", "normal(1250, 4800): mean + 0.05 sd"),
    "rating": ("numeric", "clear", "1-5 shares (.06 .09 .20 .35 .30) -> (.12 .15 .25 .28 .20)"),
    "weight_kg": ("numeric", "borderline", "normal(72, 14.5): mean + 0.092 sd; 3% missing"),
    "sensor_a": ("numeric", "borderline", "normal(0, 1e-3): sd x 1.135"),
    "sensor_b": ("numeric", "none", "same: uniform(-1e6, 1e6)"),
    "visits": ("numeric", "clear", "geometric(0.08) -> geometric(0.07)"),
    "tenure_days": ("numeric", "borderline", "rint(exponential(400)); current: 15% from exponential(40)"),
    "device": ("categorical", "none", "same: 5 levels, Zipf 1.2"),
    "country": ("categorical", "clear", "50 levels, Zipf 1.1; current: 30% of rows from a reshuffled ranking"),
    "city": ("categorical", "borderline", "300 levels, Zipf 1.0, 1% missing; current: 13% from a reshuffled ranking"),
    "product": ("categorical", "none", "same: 2,000 levels, Zipf 0.9 (the sampling noise of so many rare levels alone gives a Jensen-Shannon distance near 0.08)"),
    "subscribed": ("categorical", "borderline", "yes/no, yes 70% -> 57%"),
}

# Levels of the categorical columns (Kiln counts values exactly up to 1,000 distinct values
# per column, with a frequent-items sketch beyond; it compares the 50 most frequent by name).
LEVELS = {"rating": 5, "device": 5, "country": 50, "city": 300, "product": 2000, "subscribed": 2}


def _level_names(prefix: str, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The names of `levels` levels in frequency-rank order, and a reshuffled ranking.

    Both orders come from NAMES_SEED, so they are the same in the reference and the
    current file."""
    names_rng = np.random.default_rng([NAMES_SEED, levels])
    names = np.array([f"{prefix}_{i:04d}" for i in range(levels)])
    ranked = names[names_rng.permutation(levels)]
    return ranked, ranked[names_rng.permutation(levels)]


def _zipf(rng: np.random.Generator, n: int, prefix: str, levels: int, s: float,
          reshuffled: float = 0.0) -> list[str]:
    """`n` draws from `levels` names with probability ∝ 1 / rank**s; a share `reshuffled`
    of them uses another (fixed) assignment of names to ranks."""
    p = 1.0 / np.arange(1, levels + 1) ** s
    p /= p.sum()
    ranked, other = _level_names(prefix, levels)
    rank = rng.choice(levels, size=n, p=p)
    moved = rng.random(n) < reshuffled
    return np.where(moved, other[rank], ranked[rank]).tolist()


def columns(rows: int, seed: int, current: bool) -> list[tuple[str, list[str]]]:
    """The benchmark's 20 columns as (name, formatted cells), deterministic in `seed`;
    with the planned changes when `current`."""
    rng = np.random.default_rng(seed)
    d = current  # shorthand: apply the drift

    def missing(frac: float) -> np.ndarray:
        return rng.random(rows) < frac

    cols: list[tuple[str, list[str]]] = []
    add: Callable[[str, list[str]], None] = lambda name, cells: cols.append((name, cells))
    add("age", _fmt(np.clip(np.rint(rng.normal(41, 13, rows)), 18, 95).astype(np.int64), "%d"))
    add("income", _fmt(rng.lognormal(10.8 if d else 10.6, 0.65, rows), "%.2f", missing(0.02)))
    add("score", _fmt(rng.normal(0.3 if d else 0.0, 1.0, rows), "%.6g"))
    add("temperature_c", _fmt(rng.normal(19.5 + (0.115 * 7.8 if d else 0.0), 7.8, rows), "%.6g"))
    add("latency_ms", _fmt(rng.lognormal(3.2, 1.1, rows) * (1.14 if d else 1.0), "%.6g", missing(0.01)))
    add("clicks", _fmt(rng.poisson(3.62 if d else 3.4, rows), "%d"))
    add("purchases", _fmt(rng.negative_binomial(2, 0.4, rows), "%d", missing(0.05)))
    add("ratio", _fmt(rng.random(rows), "%.6g"))
    add("balance", _fmt(rng.normal(1250.0 + (0.05 * 4800.0 if d else 0.0), 4800.0, rows), "%.2f"))
    shares = [0.12, 0.15, 0.25, 0.28, 0.20] if d else [0.06, 0.09, 0.2, 0.35, 0.3]
    add("rating", _fmt(rng.choice(np.arange(1, 6), size=rows, p=shares), "%d"))
    add("weight_kg", _fmt(rng.normal(72.0 + (0.092 * 14.5 if d else 0.0), 14.5, rows), "%.1f", missing(0.03)))
    add("sensor_a", _fmt(rng.normal(0.0, 1.135e-3 if d else 1e-3, rows), "%.6g"))
    add("sensor_b", _fmt(rng.uniform(-1e6, 1e6, rows), "%.6g"))
    add("visits", _fmt(rng.geometric(0.07 if d else 0.08, rows), "%d"))
    tenure = rng.exponential(400.0, rows)
    if d:
        newcomers = rng.random(rows) < 0.15
        tenure = np.where(newcomers, rng.exponential(40.0, rows), tenure)
    add("tenure_days", _fmt(np.rint(tenure).astype(np.int64), "%d"))
    add("device", _zipf(rng, rows, "device", 5, 1.2))
    add("country", _zipf(rng, rows, "country", 50, 1.1, 0.30 if d else 0.0))
    city = _zipf(rng, rows, "city", 300, 1.0, 0.13 if d else 0.0)
    for i in np.flatnonzero(missing(0.01)).tolist():
        city[i] = ""
    add("city", city)
    add("product", _zipf(rng, rows, "product", 2000, 0.9))
    add("subscribed", np.where(rng.random(rows) < (0.57 if d else 0.70), "yes", "no").tolist())
    assert [name for name, _ in cols] == list(PLAN), "PLAN and the columns disagree"
    return cols


def params(rows: int, seed: int, role: str) -> dict:
    """What identifies a generated file: reused only when all of this matches."""
    return {"rows": rows, "columns": N_COLS, "seed": seed, "role": role,
            "layout_version": LAYOUT_VERSION, "numpy": np.__version__}


def ensure(path: str, rows: int, seed: int, role: str) -> dict:
    """Write (or reuse) one file; its description."""
    want = params(rows, seed, role)
    have = reusable_file(path, want)
    if have is not None:
        return {"path": path, "rows": rows, "seed": seed, "bytes": have["bytes"],
                "sha256": have["sha256"], "reused": True}
    print(f"drift_data: writing {path} ({rows:,} rows × {N_COLS} columns, seed {seed})",
          file=sys.stderr)
    digest = write_csv_columns(path, columns(rows, seed, current=(role == "current")), CHUNK,
                               ".drift-data-")
    meta = record_file(path, want, digest)
    return {"path": path, "rows": rows, "seed": seed, "bytes": meta["bytes"],
            "sha256": digest, "reused": False}


def main(argv: list[str] | None = None) -> int:
    """Write (or reuse) both CSVs and print their description; the exit code."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference-rows", type=int, default=50_000)
    p.add_argument("--current-rows", type=int, default=250_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", default=os.path.join(here, ".data"))
    args = p.parse_args(argv)
    if args.reference_rows < 1 or args.current_rows < 1:
        p.error("row counts must be positive")
    os.makedirs(args.dir, exist_ok=True)
    ref = ensure(os.path.join(args.dir, f"drift_reference_{args.reference_rows}x{N_COLS}_seed{args.seed}.csv"),
                 args.reference_rows, args.seed, "reference")
    cur = ensure(os.path.join(args.dir, f"drift_current_{args.current_rows}x{N_COLS}_seed{args.seed + 1}.csv"),
                 args.current_rows, args.seed + 1, "current")
    print(json.dumps({
        "reference": ref, "current": cur, "columns": N_COLS,
        "plan": {name: {"kind": kind, "intended": intended, "change": change,
                        **({"levels": LEVELS[name]} if name in LEVELS else {})}
                 for name, (kind, intended, change) in PLAN.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
