#!/usr/bin/env python3
"""Measure a Python data profiler on the profiling benchmark's CSV, in-process.

    python bench/profile_whylogs.py FILE [--tool whylogs|tfdv] [--out PATH]

Installs nothing; run it with the interpreter of the venv that has the tool
(bench/profile.sh does). Prints one JSON object line:

  whylogs (default)  pandas.read_csv(FILE), then whylogs.log(df) with whylogs'
                     default schema (per column: counts, types, and by type
                     distribution via KLL, cardinality via HLL, frequent items),
                     then the profile view written to --out (whylogs' binary
                     format). read_s, profile_s (log + view), write_s and
                     total_s = their sum.
  tfdv               tfdv.generate_statistics_from_csv(FILE, output_path=--out)
                     with its default StatsOptions (an Apache Beam pipeline on
                     the in-process DirectRunner that reads and profiles the
                     CSV in one go): total_s; read_s and profile_s are null.

rows_per_s is rows / total_s. peak_rss_kib is the peak resident set size of
this process (resource.getrusage(RUSAGE_SELF).ru_maxrss, KiB on Linux), or of
a child process if one peaked higher. import_s (importing the tool and pandas)
is reported but not part of total_s. whylogs' usage statistics are switched
off (WHYLOGS_NO_ANALYTICS) before it is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")  # before whylogs is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quieter TensorFlow, if TFDV runs


def peak_rss_kib() -> int:
    """The larger of this process's and its waited-for children's peak RSS, KiB (Linux)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def run_whylogs(path: str, out: str) -> dict:
    """Read `path` with pandas, profile it with whylogs, write the profile to `out`."""
    t = time.perf_counter()
    import pandas as pd
    import whylogs
    from whylogs.core import configs as why_conf

    import_s = time.perf_counter() - t

    t0 = time.perf_counter()
    df = pd.read_csv(path)
    t1 = time.perf_counter()
    view = whylogs.log(df).view()
    t2 = time.perf_counter()
    with open(out, "wb") as f:
        f.write(view.serialize())
    t3 = time.perf_counter()

    # Sanity: every column profiled, every row counted, the metric set as expected.
    cols = view.get_columns()
    if len(cols) != df.shape[1]:
        raise SystemExit(f"whylogs profiled {len(cols)} columns, the CSV has {df.shape[1]}")
    metrics: dict[str, int] = {}
    for name, col in cols.items():
        n = col.get_metric("counts").n.value
        if n != len(df):
            raise SystemExit(f"whylogs counted {n} rows in column {name!r}, pandas read {len(df)}")
        for m in col.get_metric_names():
            metrics[m] = metrics.get(m, 0) + 1
    return {
        "tool": "whylogs",
        "version": whylogs.__version__,
        "libs": f"pandas {pd.__version__}, numpy {__import__('numpy').__version__}",
        "rows": int(len(df)),
        "columns": int(df.shape[1]),
        "import_s": import_s,
        "read_s": t1 - t0,
        "profile_s": t2 - t1,
        "write_s": t3 - t2,
        "total_s": t3 - t0,
        # metric name -> number of columns that have it
        "metrics": dict(sorted(metrics.items())),
        # sketch sizes of the default metric config
        "config": {
            "kll_k": why_conf.kll_k_large if why_conf.large_kll_k else why_conf.kll_k,
            "hll_lg_k": why_conf.hll_lg_k,
            "fi_lg_max_k": why_conf.fi_lg_max_k,
        },
    }


def run_tfdv(path: str, out: str) -> dict:
    """Profile `path` with tfdv.generate_statistics_from_csv, stats written to `out`."""
    t = time.perf_counter()
    import tensorflow_data_validation as tfdv

    import_s = time.perf_counter() - t

    t0 = time.perf_counter()
    stats = tfdv.generate_statistics_from_csv(data_location=path, output_path=out)
    t1 = time.perf_counter()

    ds = stats.datasets[0]
    return {
        "tool": "tfdv",
        "version": tfdv.__version__,
        "libs": "",
        "rows": int(ds.num_examples),
        "columns": len(ds.features),
        "import_s": import_s,
        "read_s": None,
        "profile_s": None,
        "write_s": None,
        "total_s": t1 - t0,
        "metrics": {},
        "config": {},
    }


def main(argv: list[str] | None = None) -> int:
    """Measure the chosen tool on FILE and print the result line; the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--tool", choices=["whylogs", "tfdv"], default="whylogs")
    p.add_argument("--out", help="where the tool writes its profile (default: a temporary file)")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kiln-profile-") as tmp:
        out = args.out or os.path.join(tmp, f"profile.{args.tool}.bin")
        result = (run_whylogs if args.tool == "whylogs" else run_tfdv)(args.file, out)
        result["out_bytes"] = os.path.getsize(out) if os.path.exists(out) else None
    result["peak_rss_kib"] = peak_rss_kib()
    result["rows_per_s"] = result["rows"] / result["total_s"]
    result["python"] = sys.version.split()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
