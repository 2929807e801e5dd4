#!/usr/bin/env python3
"""Derive a mixed numeric + categorical table from datasets/breast_cancer.csv.

Usage: make_data.py SRC.csv OUTDIR
Writes OUTDIR/train.csv (about 474 rows) and OUTDIR/holdout.csv (95 rows, every 6th row).
Deterministic: no randomness. Columns:
  8 numeric columns kept from the source, size_class (small/medium/large, tertiles of
  radius_mean), texture_class (smooth/rough, median of texture_mean), diagnosis (target).
A few cells are blanked (numeric and categorical) in both files.
"""
import csv
import sys

NUMERIC = [
    "perimeter_mean", "smoothness_mean", "compactness_mean", "concavity_mean",
    "symmetry_mean", "fractal_dimension_mean", "area_worst", "concave_points_worst",
]
CATEGORICAL = ["size_class", "texture_class"]
TARGET = "diagnosis"


def quantile(sorted_vals, q):
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    radius = sorted(float(r["radius_mean"]) for r in rows)
    texture = sorted(float(r["texture_mean"]) for r in rows)
    t1, t2 = quantile(radius, 1 / 3), quantile(radius, 2 / 3)
    tmed = quantile(texture, 0.5)
    out = []
    for i, r in enumerate(rows):
        rad, tex = float(r["radius_mean"]), float(r["texture_mean"])
        rec = {c: r[c] for c in NUMERIC}
        rec["size_class"] = "small" if rad < t1 else ("medium" if rad < t2 else "large")
        rec["texture_class"] = "smooth" if tex < tmed else "rough"
        rec[TARGET] = r[TARGET]
        # deterministic blanks: a few numeric and categorical cells
        if i % 37 == 5:
            rec["smoothness_mean"] = ""
        if i % 41 == 11:
            rec["area_worst"] = ""
        if i % 43 == 17:
            rec["size_class"] = ""
        if i % 47 == 23:
            rec["texture_class"] = ""
        out.append(rec)
    cols = NUMERIC + CATEGORICAL + [TARGET]
    train = [r for i, r in enumerate(out) if i % 6 != 5]
    hold = [r for i, r in enumerate(out) if i % 6 == 5]
    for name, part in (("train.csv", train), ("holdout.csv", hold)):
        with open(f"{outdir}/{name}", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
            w.writeheader()
            w.writerows(part)
    print(f"make_data: {len(train)} training rows, {len(hold)} held-out rows -> {outdir}")


if __name__ == "__main__":
    main()
