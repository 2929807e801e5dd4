#!/usr/bin/env python3
"""Write the profiling benchmark's CSV: 1,000,000 rows × 20 columns, seeded numpy.

    python bench/profile_data.py [PATH] [--rows N] [--seed S]

PATH defaults to bench/.data/profile_<rows>x20_seed<seed>.csv (bench/.data/ is
git-ignored). The file is reused when it exists and its sidecar PATH.params.json
records the same parameters (rows, seed, layout version, numpy version) and
size; otherwise it is written to a temporary file in the same folder and
renamed into place. Prints one JSON object line: path, rows, columns, bytes,
sha256 and whether the file was reused.

Columns (a realistic mix; missing cells are empty):
  14 numeric   normal, lognormal, Poisson / negative-binomial / geometric
               counts, uniform, a 1–5 rating, small- and large-magnitude
               sensors; 4 of them with 1–5% missing; floats written with
               %.6g (money with 2 decimals, weight with 1)
   4 string    categorical, 5 / 50 / 300 / 1000 levels, Zipf-like frequencies
               (one with 1% missing)
   1 yes/no    about 70% yes
   1 id        16 hex digits drawn from a pool of 750,000 ids (≈ 550,000
               distinct in 1,000,000 rows)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import fmt_cells as _fmt  # noqa: E402
from bench_common import record_file, reusable_file, write_csv_columns  # noqa: E402

LAYOUT_VERSION = 1  # bump when the columns or their formatting change
N_COLS = 20
CHUNK = 100_000


def _zipf_levels(rng: np.random.Generator, n: int, prefix: str, levels: int, s: float) -> list[str]:
    """`n` draws from `levels` names with probability ∝ 1 / rank**s."""
    p = 1.0 / np.arange(1, levels + 1) ** s
    p /= p.sum()
    names = np.array([f"{prefix}_{i:04d}" for i in range(levels)])
    # Shuffle which name gets which rank so the most frequent is not level 0.
    names = names[rng.permutation(levels)]
    return names[rng.choice(levels, size=n, p=p)].tolist()


def columns(rows: int, seed: int) -> list[tuple[str, list[str]]]:
    """The benchmark's 20 columns as (name, formatted cells), deterministic in `seed`."""
    rng = np.random.default_rng(seed)

    def missing(frac: float) -> np.ndarray:
        return rng.random(rows) < frac

    cols: list[tuple[str, list[str]]] = []
    # --- 14 numeric ----------------------------------------------------------
    cols.append(("age", _fmt(np.clip(np.rint(rng.normal(41, 13, rows)), 18, 95).astype(np.int64), "%d")))
    cols.append(("income", _fmt(rng.lognormal(10.6, 0.65, rows), "%.2f", missing(0.02))))
    cols.append(("score", _fmt(rng.normal(0.0, 1.0, rows), "%.6g")))
    cols.append(("temperature_c", _fmt(rng.normal(19.5, 7.8, rows), "%.6g")))
    cols.append(("latency_ms", _fmt(rng.lognormal(3.2, 1.1, rows), "%.6g", missing(0.01))))
    cols.append(("clicks", _fmt(rng.poisson(3.4, rows), "%d")))
    cols.append(("purchases", _fmt(rng.negative_binomial(2, 0.4, rows), "%d", missing(0.05))))
    cols.append(("ratio", _fmt(rng.random(rows), "%.6g")))
    cols.append(("balance", _fmt(rng.normal(1250.0, 4800.0, rows), "%.2f")))
    rating = rng.choice(np.arange(1, 6), size=rows, p=[0.06, 0.09, 0.2, 0.35, 0.3])
    cols.append(("rating", _fmt(rating, "%d")))
    cols.append(("weight_kg", _fmt(rng.normal(72.0, 14.5, rows), "%.1f", missing(0.03))))
    cols.append(("sensor_a", _fmt(rng.normal(0.0, 1e-3, rows), "%.6g")))
    cols.append(("sensor_b", _fmt(rng.uniform(-1e6, 1e6, rows), "%.6g")))
    cols.append(("visits", _fmt(rng.geometric(0.08, rows), "%d")))
    # --- 4 categorical -------------------------------------------------------
    cols.append(("device", _zipf_levels(rng, rows, "device", 5, 1.2)))
    cols.append(("country", _zipf_levels(rng, rows, "country", 50, 1.1)))
    city = _zipf_levels(rng, rows, "city", 300, 1.0)
    for i in np.flatnonzero(missing(0.01)).tolist():
        city[i] = ""
    cols.append(("city", city))
    cols.append(("product", _zipf_levels(rng, rows, "product", 1000, 0.9)))
    # --- yes/no --------------------------------------------------------------
    cols.append(("subscribed", np.where(rng.random(rows) < 0.7, "yes", "no").tolist()))
    # --- id-like -------------------------------------------------------------
    pool = rng.integers(0, 2**63 - 1, size=750_000, dtype=np.int64)
    ids = pool[rng.integers(0, pool.size, size=rows)]
    cols.append(("user_id", [f"{v:016x}" for v in ids.tolist()]))
    assert len(cols) == N_COLS
    return cols


def params(rows: int, seed: int) -> dict:
    """What identifies a generated file: reused only when all of this matches."""
    return {"rows": rows, "columns": N_COLS, "seed": seed,
            "layout_version": LAYOUT_VERSION, "numpy": np.__version__}


def write_csv(path: str, rows: int, seed: int) -> str:
    """Write the CSV to `path` (through a temporary file and rename); its sha256."""
    return write_csv_columns(path, columns(rows, seed), CHUNK, ".profile-data-")


def main(argv: list[str] | None = None) -> int:
    """Write (or reuse) the CSV and print its description; the exit code."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", help="output CSV (default bench/.data/profile_<rows>x20_seed<seed>.csv)")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.rows < 1:
        p.error("--rows must be positive")
    path = args.path or os.path.join(here, ".data", f"profile_{args.rows}x{N_COLS}_seed{args.seed}.csv")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    want = params(args.rows, args.seed)

    have = reusable_file(path, want)
    reused = have is not None
    if have is not None:
        digest = have["sha256"]
    else:
        print(f"profile_data: writing {path} ({args.rows:,} rows × {N_COLS} columns, seed {args.seed})",
              file=sys.stderr)
        digest = write_csv(path, args.rows, args.seed)
        record_file(path, want, digest)
    print(json.dumps({"path": path, "rows": args.rows, "columns": N_COLS, "seed": args.seed,
                      "bytes": os.path.getsize(path), "sha256": digest, "reused": reused}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
