#!/usr/bin/env python3
"""The scikit-learn side of the accuracy benchmark (bench/accuracy.sh).

Two subcommands, both normally called by bench/accuracy.sh:

  split  Splits one data set 80/20 into train.csv and test.csv with
         sklearn's train_test_split(test_size=0.2, random_state=SEED),
         stratified on the target for classification, plain for regression.
         The files keep the original header and the original cell text
         (the table is read as strings and written back unchanged), so Kiln
         and scikit-learn read exactly the same bytes.

  fit    Fits two scikit-learn models on train.csv (features = every column
         but the target) and scores them on test.csv:
           - make_pipeline(StandardScaler(), MLPClassifier(random_state=SEED,
             max_iter=2000))   (MLPRegressor for regression; otherwise defaults)
           - HistGradientBoostingClassifier(random_state=SEED)
             (HistGradientBoostingRegressor for regression; otherwise defaults)
         Prints one JSON object per model on stdout: accuracy for
         classification, RMSE for regression, plus fit seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import run_subcommand, subcommand_parser  # noqa: E402

TASKS = ("classification", "regression")
MLP_MAX_ITER = 2000


def cmd_split(args: argparse.Namespace) -> int:
    """Write train.csv and test.csv of one seed's split and print its sizes as JSON."""
    # Strings in, strings out: no float re-formatting, no NA guessing.
    df = pd.read_csv(args.data, dtype=str, keep_default_na=False)
    if args.target not in df.columns:
        print(f"accuracy_sklearn: {args.data} has no column {args.target!r}", file=sys.stderr)
        return 1
    stratify = df[args.target] if args.task == "classification" else None
    train, test = train_test_split(
        df, test_size=0.2, random_state=args.seed, stratify=stratify
    )
    os.makedirs(args.out, exist_ok=True)
    train.to_csv(os.path.join(args.out, "train.csv"), index=False)
    test.to_csv(os.path.join(args.out, "test.csv"), index=False)
    print(json.dumps({
        "rows": len(df),
        "features": len(df.columns) - 1,
        "train_rows": len(train),
        "test_rows": len(test),
        "classes": int(df[args.target].nunique()) if args.task == "classification" else None,
    }))
    return 0


def load(path: str, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """The features and the target column of the CSV file at `path`."""
    df = pd.read_csv(path)
    return df.drop(columns=[target]), df[target]


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit and score the MLP and HistGB models, printing one JSON result line each."""
    x_train, y_train = load(args.train, args.target)
    x_test, y_test = load(args.test, args.target)
    non_numeric = [c for c in x_train.columns if not pd.api.types.is_numeric_dtype(x_train[c])]
    if non_numeric:
        print(f"accuracy_sklearn: non-numeric feature columns {non_numeric}; "
              "this benchmark expects numeric features", file=sys.stderr)
        return 1
    classification = args.task == "classification"
    if classification:
        # Labels as text on both sides, so "5" and 5 cannot disagree.
        y_train, y_test = y_train.astype(str), y_test.astype(str)
        mlp, hgb = MLPClassifier, HistGradientBoostingClassifier
    else:
        y_train, y_test = y_train.astype(float), y_test.astype(float)
        mlp, hgb = MLPRegressor, HistGradientBoostingRegressor
    models = [
        ("sklearn_mlp", make_pipeline(StandardScaler(),
                                      mlp(random_state=args.seed, max_iter=MLP_MAX_ITER))),
        ("sklearn_hgb", hgb(random_state=args.seed)),
    ]
    for method, model in models:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            t0 = time.perf_counter()
            model.fit(x_train, y_train)
            fit_s = time.perf_counter() - t0
        pred = model.predict(x_test)
        row: dict = {
            "dataset": args.dataset,
            "seed": args.seed,
            "method": method,
            "task": args.task,
            "train_rows": len(x_train),
            "test_rows": len(x_test),
            "fit_seconds": fit_s,
        }
        if classification:
            row["metric"] = "accuracy"
            row["value"] = float(accuracy_score(y_test, pred))
        else:
            row["metric"] = "rmse"
            row["value"] = float(math.sqrt(mean_squared_error(y_test, np.asarray(pred, float))))
        est = model[-1] if hasattr(model, "steps") else model
        if hasattr(est, "n_iter_"):
            row["n_iter"] = int(est.n_iter_)
        row["converged"] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        print(json.dumps(row))
    return 0


def cmd_version(_args: argparse.Namespace) -> int:
    """Print the versions of scikit-learn, pandas, numpy and Python as JSON."""
    print(json.dumps({
        "sklearn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }))
    return 0


def add_data_command(sub: argparse._SubParsersAction, name: str, help_text: str,
                     func: Callable[[argparse.Namespace], int],
                     inputs: list[tuple[str, str | None]],
                     outputs: list[tuple[str, str | None]]) -> None:
    """Add subcommand `name`: required options `inputs`, --target/--task/--seed, then `outputs`."""
    c = sub.add_parser(name, help=help_text)
    for flag, flag_help in inputs:
        c.add_argument(flag, required=True, help=flag_help)
    c.add_argument("--target", required=True)
    c.add_argument("--task", choices=TASKS, required=True)
    c.add_argument("--seed", type=int, required=True)
    for flag, flag_help in outputs:
        c.add_argument(flag, required=True, help=flag_help)
    c.set_defaults(func=func)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; the exit code."""
    p, sub = subcommand_parser(__doc__)
    add_data_command(sub, "split", "write train.csv and test.csv", cmd_split,
                     [("--data", None)], [("--out", "folder for train.csv and test.csv")])
    add_data_command(sub, "fit", "fit and score the scikit-learn models", cmd_fit,
                     [("--train", None), ("--test", None)],
                     [("--dataset", "name recorded in the results")])
    v = sub.add_parser("versions", help="print library versions as JSON")
    v.set_defaults(func=cmd_version)
    return run_subcommand(p, argv)


if __name__ == "__main__":
    sys.exit(main())
