#!/usr/bin/env python3
"""Results and report of the accuracy benchmark (stdlib only).

Two subcommands, both normally called by bench/accuracy.sh:

  kiln-result  Turns one Kiln run (the JSON printed by `kiln train --json`
               and `kiln evaluate --json`, their exit codes and stderr, and
               the wall-clock start/end of `kiln train`) into one JSON line
               like those of bench/accuracy_sklearn.py fit, or a line with
               an "error" key when Kiln failed.

  report       Reads the JSON lines of all runs, summarises each data set
               (mean and min over seeds per method, the best method by mean,
               Kiln's mean training seconds) and writes or replaces the
               section between <!-- accuracy:start --> and
               <!-- accuracy:end --> of the output file, appending it at the
               end if the markers are missing. Everything outside the
               markers is left untouched.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import (  # noqa: E402
    ReportError, add_io_args, add_machine_args, add_provenance_args, close_section,
    json_lines, machine_line, markers, provenance_lines, read_text, run_subcommand,
    subcommand_parser, tail, write_report,
)

NAME = "accuracy"
START = markers(NAME)[0]

METHODS = [
    ("kiln", "Kiln (zero-config)"),
    ("sklearn_mlp", "sklearn MLP"),
    ("sklearn_hgb", "sklearn HistGB"),
]
SHORT = {"kiln": "Kiln", "sklearn_mlp": "sklearn MLP", "sklearn_hgb": "sklearn HistGB"}
METRIC_OF_TASK = {"classification": "accuracy", "regression": "rmse"}
HIGHER_IS_BETTER = {"accuracy": True, "rmse": False}
KILN_TASKS = {"classification": ("binary", "multiclass"), "regression": ("regression",)}


# --- kiln-result -------------------------------------------------------------

def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (Kiln pretty-prints one on stdout)."""
    i = text.find("{")
    if i == -1:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[i:])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def kiln_output(step: str, rc: int, json_path: str | None,
                stderr_path: str | None) -> tuple[dict[str, Any] | None, str]:
    """The JSON object printed by `kiln STEP --json`, or None and why there is none."""
    if rc != 0:
        return None, f"kiln {step} exited {rc}: {tail(read_text(stderr_path))}"
    obj = parse_json_object(read_text(json_path))
    if obj is None:
        return None, (f"kiln {step} printed no JSON object: "
                      f"{tail(read_text(json_path) + read_text(stderr_path))}")
    return obj, ""


def cmd_kiln_result(args: argparse.Namespace) -> int:
    """Print one Kiln run as a JSON result line (with an "error" key if it failed)."""
    row: dict[str, Any] = {
        "dataset": args.dataset,
        "seed": args.seed,
        "method": "kiln",
        "task": args.task,
    }
    split = parse_json_object(read_text(args.split)) or {}
    for k in ("train_rows", "test_rows"):
        if k in split:
            row[k] = split[k]
    metric = METRIC_OF_TASK[args.task]
    row["metric"] = metric
    try:
        row["train_wall_seconds"] = float(args.end) - float(args.start)
    except ValueError:
        pass

    def fail(msg: str) -> int:
        """Print the row with `msg` as its error; the exit code (0: a failed run is a result)."""
        row["error"] = msg
        print(json.dumps(row))
        return 0

    trained, why = kiln_output("train", args.train_rc, args.train_json, args.train_stderr)
    if trained is None:
        return fail(why)
    row["kiln_task"] = trained.get("task")
    for src, dst in (("epochs", "epochs"), ("best_epoch", "best_epoch"),
                     ("train_seconds", "kiln_train_seconds")):
        if src in trained:
            row[dst] = trained[src]
    if trained.get("notes"):
        row["notes"] = trained["notes"]
    ev, why = kiln_output("evaluate", args.eval_rc, args.eval_json, args.eval_stderr)
    if ev is None:
        return fail(why)
    row["eval"] = {k: v for k, v in ev.items() if k != "confusion_matrix"}
    if row["kiln_task"] not in KILN_TASKS[args.task]:
        return fail(f"Kiln treated the target as {row['kiln_task']!r}, expected {args.task}")
    v = ev.get(metric)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return fail(f"kiln evaluate gave no finite {metric}: {v!r}")
    row["value"] = float(v)
    print(json.dumps(row))
    return 0


# --- report ------------------------------------------------------------------

def parse_results(text: str) -> list[dict[str, Any]]:
    """The result rows in the JSON lines `text`, checked."""
    rows = []
    for lineno, _line, obj in json_lines(text):
        if not isinstance(obj, dict):
            raise ReportError(f"results line {lineno} is not a JSON object")
        missing = [k for k in ("dataset", "seed", "method", "task", "metric") if k not in obj]
        if missing:
            raise ReportError(f"results line {lineno} lacks keys {missing}")
        if obj["method"] not in SHORT:
            raise ReportError(f"results line {lineno}: unknown method {obj['method']!r}")
        if "error" not in obj:
            v = obj.get("value")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ReportError(f"results line {lineno}: value is not a finite number: {v!r}")
        rows.append(obj)
    return rows


def fmt(v: float | None) -> str:
    """A score as shown in the tables (4 decimals, or n/a)."""
    return "n/a" if v is None else f"{v:.4f}"


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per data set (in first-seen order): each method's stats, the best, Kiln's gap and time."""
    datasets: list[str] = []
    for r in rows:
        if r["dataset"] not in datasets:
            datasets.append(r["dataset"])
    out = []
    for name in datasets:
        rs = [r for r in rows if r["dataset"] == name]
        metric = rs[0]["metric"]
        task = rs[0]["task"]
        seeds = sorted({r["seed"] for r in rs})
        d: dict[str, Any] = {"dataset": name, "task": task, "metric": metric, "seeds": seeds,
                             "methods": {}, "rows": rs}
        for m, _ in METHODS:
            ok = [r for r in rs if r["method"] == m and "error" not in r]
            bad = [r for r in rs if r["method"] == m and "error" in r]
            vals = [r["value"] for r in ok]
            d["methods"][m] = {
                "n": len(vals),
                "failed": len(bad),
                "mean": statistics.fmean(vals) if vals else None,
                "min": min(vals) if vals else None,
                "max": max(vals) if vals else None,
            }
        kiln_times = [r["train_wall_seconds"] for r in rs
                      if r["method"] == "kiln" and "train_wall_seconds" in r and "error" not in r]
        d["kiln_seconds"] = statistics.fmean(kiln_times) if kiln_times else None
        # Best by mean, among methods that scored every seed; ties at the shown
        # precision are all named.
        hib = HIGHER_IS_BETTER[metric]
        complete = {m: s["mean"] for m, s in d["methods"].items()
                    if s["n"] == len(seeds) and s["mean"] is not None}
        if complete:
            top = max(complete.values()) if hib else min(complete.values())
            d["best"] = [m for m, v in complete.items() if round(v, 4) == round(top, 4)]
            k = complete.get("kiln")
            d["kiln_gap"] = None if k is None else (top - k if hib else k - top)
        else:
            d["best"] = []
            d["kiln_gap"] = None
        tr = [r.get("train_rows") for r in rs if r.get("train_rows") is not None]
        te = [r.get("test_rows") for r in rs if r.get("test_rows") is not None]
        d["train_rows"] = tr[0] if tr else None
        d["test_rows"] = te[0] if te else None
        out.append(d)
    return out


def cell(s: dict[str, Any], seeds: int) -> str:
    """A summary-table cell: mean / min of one method, noting failed seeds."""
    if s["mean"] is None:
        return f"failed ({s['failed']}/{seeds})"
    txt = f"{fmt(s['mean'])} / {fmt(s['min'])}"
    if s["n"] < seeds:
        txt += f" ({s['n']} of {seeds} seeds; {s['failed']} failed)"
    return txt


def render(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    """The accuracy section of BENCHMARKS.md, markers included."""
    summary = summarise(rows)
    versions = json.loads(args.versions) if args.versions else {}
    n_seeds = len({r["seed"] for r in rows})
    seed_list = sorted({r["seed"] for r in rows})
    seed_txt = (f"{seed_list[0]}–{seed_list[-1]}" if seed_list == list(range(seed_list[0], seed_list[-1] + 1))
                and len(seed_list) > 1 else ", ".join(map(str, seed_list)))
    lines = [
        START,
        "## Accuracy: Kiln (zero-config) vs scikit-learn MLP and HistGradientBoosting",
        "",
        "Test-set scores on the same 80/20 splits, mean / min over "
        f"{n_seeds} seed{'s' if n_seeds != 1 else ''} ({seed_txt}). Accuracy: higher is better. "
        "RMSE: lower is better (so its min is the best seed; the worst is in the per-run "
        "table). \"Kiln behind best by\" is how far Kiln's mean is from the best mean, in the "
        "metric's units (— where Kiln is best).",
        "",
        "| Data set | Train / test rows | Metric | Kiln mean / min | sklearn MLP mean / min "
        "| sklearn HistGB mean / min | Best (by mean) | Kiln behind best by | Kiln train s (mean) |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for d in summary:
        m = d["methods"]
        best = ", ".join(SHORT[b] for b in d["best"]) or "n/a"
        gap = d["kiln_gap"]
        gap_txt = "n/a" if gap is None else ("—" if "kiln" in d["best"] else fmt(gap))
        rows_txt = (f"{d['train_rows']} / {d['test_rows']}"
                    if d["train_rows"] is not None else "n/a")
        secs = "n/a" if d["kiln_seconds"] is None else f"{d['kiln_seconds']:.1f}"
        metric = "accuracy" if d["metric"] == "accuracy" else "RMSE"
        lines.append(
            f"| {d['dataset']} | {rows_txt} | {metric} | {cell(m['kiln'], len(d['seeds']))} "
            f"| {cell(m['sklearn_mlp'], len(d['seeds']))} | {cell(m['sklearn_hgb'], len(d['seeds']))} "
            f"| {best} | {gap_txt} | {secs} |"
        )
    lines.append("")

    # Things worth a look, found in the results (not written by hand).
    notes = []
    for d in summary:
        km = d["methods"]["kiln"]
        if km["failed"]:
            errs = sorted({r["error"] for r in d["rows"] if r["method"] == "kiln" and "error" in r})
            notes.append(f"{d['dataset']}: {km['failed']} Kiln run(s) failed: " + "; ".join(errs))
        mlp_nc = [r["seed"] for r in d["rows"]
                  if r["method"] == "sklearn_mlp" and r.get("converged") is False]
        if mlp_nc:
            notes.append(f"{d['dataset']}: sklearn MLP hit max_iter without converging "
                         f"(seeds {', '.join(map(str, mlp_nc))}).")
    if n_seeds != args.seeds:
        notes.insert(0, f"{args.seeds} seeds were requested, results hold {n_seeds}.")
    if notes:
        lines.append("Notes from this run:")
        lines.append("")
        lines += [f"- {n}" for n in notes]
        lines.append("")

    py = versions.get("python", platform.python_version())
    lines += [
        "- Method: for each data set and seed, sklearn's `train_test_split(test_size=0.2, "
        "random_state=seed)` (stratified on the target for classification, plain for "
        "regression; `winequality-red` `quality` is regression for every method) writes a "
        "train CSV and a test CSV, and all three methods train on the same train file and are "
        "scored on the same test file (accuracy, or RMSE for regression). Kiln runs "
        "`kiln train train.csv --target T --config CFG --seed seed` then `kiln evaluate`, "
        "zero-config except CFG's `[data] test_fraction = 0.0, valid_fraction = 0.2`, so it "
        "trains on all of the train file minus 20% kept for its early stopping; scikit-learn "
        "fits `make_pipeline(StandardScaler(), MLPClassifier(random_state=seed, max_iter=2000))` "
        "(MLPRegressor for regression) and `HistGradientBoostingClassifier(random_state=seed)` "
        "(Regressor), otherwise defaults, on every column but the target. Kiln train seconds "
        "are the wall time of the whole `kiln train` command (reading the CSV, training, "
        "writing the model and report).",
        machine_line(args),
        f"- Versions: {args.kiln_version}; scikit-learn {versions.get('sklearn', 'n/a')}, "
        f"pandas {versions.get('pandas', 'n/a')}, numpy {versions.get('numpy', 'n/a')} "
        f"(Python {py})",
        *provenance_lines(args),
        "| Data set | Seed | Metric | Kiln | sklearn MLP | sklearn HistGB | Kiln train s "
        "| Kiln epochs (best) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in summary:
        for seed in d["seeds"]:
            by = {r["method"]: r for r in d["rows"] if r["seed"] == seed}

            def v(m: str) -> str:
                """Method `m`'s score for this seed, "failed" or "n/a"."""
                r = by.get(m)
                if r is None:
                    return "n/a"
                return "failed" if "error" in r else fmt(r["value"])

            k = by.get("kiln", {})
            secs = f"{k['train_wall_seconds']:.1f}" if "train_wall_seconds" in k else "n/a"
            ep = (f"{k['epochs']} ({k['best_epoch']})"
                  if "epochs" in k and "best_epoch" in k else "n/a")
            metric = "accuracy" if d["metric"] == "accuracy" else "RMSE"
            lines.append(f"| {d['dataset']} | {seed} | {metric} | {v('kiln')} "
                         f"| {v('sklearn_mlp')} | {v('sklearn_hgb')} | {secs} | {ep} |")
    return close_section(lines, NAME)


def build_section(args: argparse.Namespace, text: str) -> str:
    """The accuracy section for the JSON lines `text`."""
    rows = parse_results(text)
    if not rows:
        raise ReportError("no results")
    return render(args, rows)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the accuracy section of --output from --results."""
    return write_report("report_accuracy", NAME, args, lambda text: build_section(args, text))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; the exit code."""
    p, sub = subcommand_parser(__doc__)

    k = sub.add_parser("kiln-result", help="one Kiln run as a JSON line")
    k.add_argument("--dataset", required=True)
    k.add_argument("--seed", type=int, required=True)
    k.add_argument("--task", choices=list(METRIC_OF_TASK), required=True)
    k.add_argument("--split", help="JSON printed by accuracy_sklearn.py split")
    k.add_argument("--train-json", required=True)
    k.add_argument("--train-stderr")
    k.add_argument("--train-rc", type=int, default=0)
    k.add_argument("--eval-json", required=True)
    k.add_argument("--eval-stderr")
    k.add_argument("--eval-rc", type=int, default=0)
    k.add_argument("--start", required=True, help="wall clock before kiln train (s)")
    k.add_argument("--end", required=True, help="wall clock after kiln train (s)")
    k.set_defaults(func=cmd_kiln_result)

    r = sub.add_parser("report", help="write the section of BENCHMARKS.md")
    add_io_args(r)
    r.add_argument("--seeds", type=int, default=5, help="seeds requested")
    add_machine_args(r)
    r.add_argument("--kiln-version", default="kiln n/a")
    r.add_argument("--versions", default="", help="JSON from accuracy_sklearn.py versions")
    add_provenance_args(r, "bash bench/accuracy.sh")
    r.set_defaults(func=cmd_report)

    return run_subcommand(p, argv)


if __name__ == "__main__":
    sys.exit(main())
