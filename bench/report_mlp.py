#!/usr/bin/env python3
"""Write the MLP benchmark section of BENCHMARKS.md (stdlib only).

Reads the JSON lines printed by bench/mlp_torch.py ("framework": "pytorch")
and by `cargo run --release -p kiln-bench -- mlp` ("framework": "kiln"), one
object per line, takes the median of each metric per framework, and writes
or replaces the section between <!-- mlp:start --> and <!-- mlp:end --> in
the output file, creating the file with a short header if it is missing.
Everything outside the markers is left untouched.

Normally called by bench/run_mlp.sh.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import (  # noqa: E402
    ReportError, add_io_args, add_machine_args, add_provenance_args, close_section,
    json_lines, machine_line, markers, provenance_lines, write_report,
)

NAME = "mlp"
START = markers(NAME)[0]

# key, label, "higher"/"lower" is better (None: no ratio)
METRICS: list[tuple[str, str, str | None]] = [
    ("train_samples_per_s", "Training throughput (samples/s)", "higher"),
    ("infer_samples_per_s", "Inference throughput, batch 256 (samples/s)", "higher"),
    ("batch1_latency_ms_p50", "Batch-1 latency p50 (ms)", "lower"),
    ("batch1_latency_ms_p99", "Batch-1 latency p99 (ms)", "lower"),
    ("final_train_loss", "Final training loss (mean over last timed epoch)", None),
]
NUMERIC_KEYS = [m[0] for m in METRICS] + ["threads", "train_epochs"]
REQUIRED_KEYS = ["framework", "version"] + NUMERIC_KEYS
FRAMEWORKS = [("pytorch", "PyTorch"), ("kiln", "Kiln")]


def parse_results(text: str) -> dict[str, list[dict[str, Any]]]:
    """The result objects in the JSON lines `text`, checked, grouped by framework."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in FRAMEWORKS}
    for lineno, line, obj in json_lines(text):
        if not isinstance(obj, dict):
            raise ReportError(f"results line {lineno} is not a JSON object: {line[:200]}")
        missing = [k for k in REQUIRED_KEYS if k not in obj]
        if missing:
            raise ReportError(f"results line {lineno} lacks keys {missing}: {line[:200]}")
        fw = obj["framework"]
        if fw not in runs:
            raise ReportError(f"results line {lineno}: unknown framework {fw!r}")
        for k in NUMERIC_KEYS:
            v = obj[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ReportError(f"results line {lineno}: {k} is not a finite number: {v!r}")
        runs[fw].append(obj)
    return runs


def medians(objs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The per-metric medians of `objs` and their joined versions; None if there are none."""
    if not objs:
        return None
    out: dict[str, Any] = {k: statistics.median(o[k] for o in objs) for k in NUMERIC_KEYS}
    versions = sorted({str(o["version"]) for o in objs})
    out["version"] = ", ".join(versions)
    return out


def fmt(key: str, v: float | None) -> str:
    """Metric `key`'s value `v` as shown in the tables."""
    if v is None:
        return "n/a"
    if key.endswith("_per_s"):
        return f"{v:,.0f}"
    if key.startswith("batch1_latency"):
        return f"{v:.4f}" if v < 10 else f"{v:.2f}"
    if key == "final_train_loss":
        return f"{v:.4f}"
    return f"{v:g}"


def ratio_cell(key: str, better: str | None, torch_v: float | None, kiln_v: float | None) -> str:
    """The "Kiln / PyTorch" cell: the ratio and whether Kiln is faster."""
    if better is None:
        return "—"
    if torch_v is None or kiln_v is None or torch_v == 0:
        return "n/a"
    r = kiln_v / torch_v
    if round(r, 2) == 1:
        note = "about equal"
    elif (r > 1) == (better == "higher"):
        note = "Kiln faster"
    else:
        note = "Kiln slower"
    return f"{r:.2f}× ({better} is better; {note})"


def render(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> str:
    """The mlp section of BENCHMARKS.md, markers included."""
    med = {name: medians(objs) for name, objs in runs.items()}
    if args.skip_kiln:
        med["kiln"] = None
    t, k = med["pytorch"], med["kiln"]

    lines = [
        START,
        "## MLP: PyTorch vs Kiln (CPU)",
        "",
        "Same model, data and training setup in both frameworks: 20,000 synthetic rows × 64 "
        "features (numpy `default_rng(0)`: standard-normal features, label = argmax of features "
        "@ a random 64×10 matrix plus noise, 10 classes); Linear 64→256, ReLU, Dropout 0.1, "
        "Linear 256→256, ReLU, Dropout 0.1, Linear 256→10; cross-entropy; Adam (lr 1e-3); "
        "batch 256; 2 threads.",
        "",
        "| Metric | PyTorch | Kiln | Kiln / PyTorch |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label, better in METRICS:
        tv = t[key] if t else None
        kv = k[key] if k else None
        lines.append(f"| {label} | {fmt(key, tv)} | {fmt(key, kv)} | {ratio_cell(key, better, tv, kv)} |")
    lines.append("")
    lines.append(
        "Throughput: higher is better, so a ratio above 1 means Kiln is faster. "
        "Latency: lower is better, so a ratio below 1 means Kiln is faster."
    )
    lines.append("")

    n_t = len(runs["pytorch"])
    n_k = 0 if args.skip_kiln else len(runs["kiln"])
    if args.skip_kiln:
        how = f"median of {n_t} PyTorch-only runs (Kiln skipped: `KILN_BENCH_SKIP_KILN=1`)"
    elif n_t == n_k == args.runs:
        how = f"median of {args.runs} alternating runs (PyTorch, Kiln, PyTorch, Kiln, …)"
    else:
        how = (f"median of alternating runs ({n_t} PyTorch, {n_k} Kiln; "
               f"{args.runs} were requested)")
    epochs = ", ".join(
        f"{label} {int(m['train_epochs'])}" for (name, label) in FRAMEWORKS if (m := med[name])
    )
    threads = ", ".join(
        f"{label} {int(m['threads'])}" for (name, label) in FRAMEWORKS if (m := med[name])
    )
    versions = [f"PyTorch {t['version']} (Python {platform.python_version()})" if t else "PyTorch n/a"]
    if k:
        rustc = f", {args.rustc}" if args.rustc and args.rustc != "n/a" else ""
        versions.append(f"Kiln {k['version']}{rustc}")
    else:
        versions.append("Kiln n/a")

    lines += [
        f"- Method: {how}; each metric's median is taken separately. Training: 1 warm-up "
        f"epoch, then timed epochs over shuffled mini-batches ({epochs}), median of per-epoch "
        "samples/s. Inference: eval mode, no autograd, batch 256 over all 20,000 rows, "
        "1 warm-up pass then 5 timed passes, median. Batch-1 latency: one row, 100 warm-up "
        "calls then 1,000 timed calls.",
        machine_line(args),
        f"- Threads: {threads}",
        f"- Versions: {'; '.join(versions)}",
        *provenance_lines(args),
        "| Run | Framework | Train samples/s | Infer samples/s | p50 ms | p99 ms | Final loss |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in FRAMEWORKS:
        if name == "kiln" and args.skip_kiln:
            continue
        for i, o in enumerate(runs[name], 1):
            lines.append(
                f"| {i} | {label} | {fmt('train_samples_per_s', o['train_samples_per_s'])} "
                f"| {fmt('infer_samples_per_s', o['infer_samples_per_s'])} "
                f"| {fmt('batch1_latency_ms_p50', o['batch1_latency_ms_p50'])} "
                f"| {fmt('batch1_latency_ms_p99', o['batch1_latency_ms_p99'])} "
                f"| {fmt('final_train_loss', o['final_train_loss'])} |"
            )
    return close_section(lines, NAME)


def build_section(args: argparse.Namespace, text: str) -> str:
    """The mlp section for the JSON lines `text`, after checking both frameworks ran."""
    runs = parse_results(text)
    if not runs["pytorch"]:
        raise ReportError("no PyTorch results")
    if not args.skip_kiln and not runs["kiln"]:
        raise ReportError("no Kiln results (pass --skip-kiln if Kiln was not run)")
    return render(args, runs)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the mlp section; the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_io_args(p)
    p.add_argument("--runs", type=int, default=3, help="alternating runs requested")
    add_machine_args(p)
    p.add_argument("--rustc", default="n/a")
    add_provenance_args(p, "bash bench/run_mlp.sh")
    p.add_argument("--skip-kiln", action="store_true", help="Kiln was not run: show n/a")
    args = p.parse_args(argv)
    return write_report("report_mlp", NAME, args, lambda text: build_section(args, text))


if __name__ == "__main__":
    sys.exit(main())
