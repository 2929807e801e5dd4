"""Exact column statistics of the team's shared data sets as pandas computes them.

Writes expected.json beside this script; tests/pandas_agreement.rs checks Kiln's profile
against it. Regenerate (needs pandas; the benchmark venv has it):

    bench/.venv/bin/python crates/kiln-profile/tests/pandas/make_expected.py
"""

import json
import pathlib

import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
SHARED = HERE.parents[3].parent / "shared" / "datasets"
FILES = ["breast_cancer.csv", "wine.csv", "iris.csv", "digits.csv", "winequality-red.csv"]

out = {"pandas": pd.__version__, "files": {}}
for name in FILES:
    df = pd.read_csv(SHARED / name)
    cols = {}
    for c in df.columns:
        s = df[c]
        entry = {
            "count": int(len(s)),
            "missing": int(s.isna().sum()),
            "distinct": int(s.nunique(dropna=True)),
        }
        if pd.api.types.is_numeric_dtype(s):
            entry.update(
                min=float(s.min()),
                max=float(s.max()),
                mean=float(s.mean()),
                std=float(s.std()),
            )
        cols[c] = entry
    out["files"][name] = {"rows": int(len(df)), "columns": cols}
(HERE / "expected.json").write_text(json.dumps(out, indent=1) + "\n")
print("wrote", HERE / "expected.json")
