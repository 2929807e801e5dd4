#!/usr/bin/env python3
"""One Evidently drift report on the drift benchmark's CSVs; prints one JSON result line.

    python bench/drift_evidently.py REFERENCE.csv CURRENT.csv --numerical a,b,... --categorical c,d,...

What a user would time: both CSVs loaded with pandas.read_csv and wrapped in
evidently.Dataset with an explicit DataDefinition (the numerical and the
categorical columns given, so Evidently treats each column with the type Kiln
infers), then Report([DataDriftPreset()]).run(current, reference) and the
snapshot's results read back (snapshot.dict()). Python start-up and the
imports are timed separately (import_s) and are not part of total_s; the
caller measures the whole process (wall clock, peak RSS) with /usr/bin/time.

DataDriftPreset's defaults choose the test per column (Evidently's
legacy stattests registry): with more than 1,000 reference values, the normed
Wasserstein distance for numerical columns (Jensen-Shannon distance when the
two sets together have at most 5 distinct values) and the Jensen-Shannon
distance for categorical ones, each with threshold 0.1, drift when the
distance is >= the threshold.

The JSON line: tool, version, libs, python, rows, reference_rows, columns,
import_s, read_s (read_csv and Dataset), report_s (run), results_s (dict),
total_s (read + report + results), peak_rss_self_kib, and "columns": per
column {column, type, test, score, threshold, drift}.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
import evidently  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

_IMPORT_S = time.perf_counter() - _T0

# "ValueDrift(column=age,method=Wasserstein distance (normed),threshold=0.1)"
VALUE_DRIFT = re.compile(r"^ValueDrift\(column=(?P<column>.*),method=(?P<method>.*),threshold=(?P<threshold>[^,]*)\)$")
TEST_NAMES = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensen_shannon",
              "K-S p_value": "ks", "chi-square p_value": "chi_squared", "Z-test p_value": "z_test"}
P_VALUE_TESTS = {"ks", "chi_squared", "z_test"}


def per_column(snapshot: dict, types: dict[str, str]) -> list[dict]:
    """The ValueDrift metrics of a snapshot's dict as {column, type, test, score, threshold, drift}."""
    out = []
    for m in snapshot.get("metrics", []):
        cfg = m.get("config") or {}
        if not str(cfg.get("type", "")).endswith("ValueDrift"):
            continue
        match = VALUE_DRIFT.match(m.get("metric_name", ""))
        method = cfg.get("method") or (match and match["method"]) or ""
        column = cfg.get("column") or (match and match["column"])
        threshold = cfg.get("threshold")
        if threshold is None and match:
            threshold = float(match["threshold"])
        test = TEST_NAMES.get(method, method)
        score = float(m["value"])
        # Evidently's verdicts: a distance drifts when >= threshold, a p-value when < threshold.
        drift = score < threshold if test in P_VALUE_TESTS else score >= threshold
        out.append({"column": column, "type": types.get(column, "?"), "test": test,
                    "method": method, "score": score, "threshold": threshold, "drift": bool(drift)})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the report and print its result line; the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference")
    p.add_argument("current")
    p.add_argument("--numerical", required=True, help="comma-separated numerical columns")
    p.add_argument("--categorical", required=True, help="comma-separated categorical columns")
    args = p.parse_args(argv)
    numerical = [c for c in args.numerical.split(",") if c]
    categorical = [c for c in args.categorical.split(",") if c]
    types = {**{c: "numerical" for c in numerical}, **{c: "categorical" for c in categorical}}
    warnings.filterwarnings("ignore")

    t0 = time.perf_counter()
    reference = pd.read_csv(args.reference)
    current = pd.read_csv(args.current)
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    ref_ds = Dataset.from_pandas(reference, data_definition=definition)
    cur_ds = Dataset.from_pandas(current, data_definition=definition)
    t1 = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur_ds, reference_data=ref_ds)
    t2 = time.perf_counter()
    result = snapshot.dict()
    t3 = time.perf_counter()

    columns = per_column(result, types)
    if len(columns) != len(types):
        print(f"drift_evidently: expected {len(types)} ValueDrift metrics, found {len(columns)}",
              file=sys.stderr)
        return 1
    print(json.dumps({
        "tool": "evidently",
        "version": evidently.__version__,
        "libs": f"pandas {pd.__version__}, numpy {np.__version__}, scipy {scipy.__version__}",
        "python": platform.python_version(),
        "rows": len(current),
        "reference_rows": len(reference),
        "columns_n": reference.shape[1],
        "import_s": _IMPORT_S,
        "read_s": t1 - t0,
        "report_s": t2 - t1,
        "results_s": t3 - t2,
        "total_s": t3 - t0,
        "peak_rss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "columns": columns,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
