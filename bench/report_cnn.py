#!/usr/bin/env python3
"""Write the CNN benchmark section of BENCHMARKS.md (stdlib only).

Reads the JSON lines printed by bench/cnn_torch.py ("framework": "pytorch") and by
target/release/kiln-cnn ("framework": "kiln"), one object per line, for the models
"reference" (the 2-conv CNN) and "kiln" (Kiln's own CNN); takes the median of each metric
per framework and model, and writes or replaces the section between <!-- cnn:start --> and
<!-- cnn:end --> in the output file (appended at the end if the markers are missing; the
file is created with a short header if it is missing). Everything outside the markers is
left untouched.

Normally called by bench/cnn.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import (  # noqa: E402
    ReportError, add_io_args, add_machine_args, add_provenance_args, close_section, finite,
    json_lines, machine_line, markers, provenance_lines, write_report,
)

NAME = "cnn"
START = markers(NAME)[0]
TARGET_RATIO = 1.0  # the target: Kiln's training samples/s ≥ 1.0× PyTorch's

# key, label, "higher" is better (None: no ratio)
METRICS: list[tuple[str, str, str | None]] = [
    ("train_samples_per_s", "Training throughput (samples/s)", "higher"),
    ("infer_samples_per_s", "Inference throughput, batch 1,000 (samples/s)", "higher"),
    ("final_train_loss", "Final training loss (mean over last timed epoch)", None),
]
POSITIVE_KEYS = ["train_samples_per_s", "infer_samples_per_s", "threads", "rows", "batch",
                 "epochs"]
NUMERIC_KEYS = POSITIVE_KEYS + ["final_train_loss"]
REQUIRED_KEYS = ["framework", "version", "model"] + NUMERIC_KEYS
FRAMEWORKS = [("pytorch", "PyTorch"), ("kiln", "Kiln")]
MODELS = [("reference", "Reference 2-conv CNN"), ("kiln", "Kiln's CNN")]


def parse_results(text: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The result objects in the JSON lines `text`, checked, grouped by (model, framework)."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {
        (m, f): [] for m, _ in MODELS for f, _ in FRAMEWORKS
    }
    for lineno, line, obj in json_lines(text):
        if not isinstance(obj, dict):
            raise ReportError(f"results line {lineno} is not a JSON object: {line[:200]}")
        missing = [k for k in REQUIRED_KEYS if k not in obj]
        if missing:
            raise ReportError(f"results line {lineno} lacks keys {missing}: {line[:200]}")
        key = (obj["model"], obj["framework"])
        if key not in runs:
            raise ReportError(f"results line {lineno}: unknown model {obj['model']!r} "
                              f"or framework {obj['framework']!r}")
        for k in NUMERIC_KEYS:
            if not finite(obj[k]):
                raise ReportError(f"results line {lineno}: {k} is not a finite number: {obj[k]!r}")
        for k in POSITIVE_KEYS:
            if obj[k] <= 0:
                raise ReportError(f"results line {lineno}: {k} is not positive: {obj[k]!r}")
        if obj.get("params") is not None and not finite(obj["params"]):
            raise ReportError(f"results line {lineno}: params is not a number: {obj['params']!r}")
        runs[key].append(obj)
    return runs


def medians(objs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The per-metric medians of `objs` and their joined versions; None if there are none."""
    if not objs:
        return None
    out: dict[str, Any] = {k: statistics.median(o[k] for o in objs) for k in NUMERIC_KEYS}
    out["version"] = ", ".join(sorted({str(o["version"]) for o in objs}))
    out["python"] = ", ".join(sorted({str(o["python"]) for o in objs if o.get("python")}))
    return out


def distinct(objs: list[dict[str, Any]], key: str) -> list[Any]:
    """The distinct values of `key` in `objs` (compared as canonical JSON), in first-seen order."""
    seen: dict[str, Any] = {}
    for o in objs:
        if o.get(key) is not None:
            seen.setdefault(json.dumps(o[key], sort_keys=True), o[key])
    return list(seen.values())


def fmt(key: str, v: float | None) -> str:
    """Metric `key`'s value `v` as shown in the tables."""
    if v is None:
        return "n/a"
    if key.endswith("_per_s"):
        return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"
    if key == "final_train_loss":
        return f"{v:.4f}"
    return f"{v:g}"


def ratio(torch_v: float | None, kiln_v: float | None) -> float | None:
    if torch_v is None or kiln_v is None or torch_v == 0:
        return None
    return kiln_v / torch_v


def ratio_cell(better: str | None, torch_v: float | None, kiln_v: float | None) -> str:
    """The "Kiln / PyTorch" cell: the ratio and whether Kiln is faster."""
    if better is None:
        return "—"
    r = ratio(torch_v, kiln_v)
    if r is None:
        return "n/a"
    if round(r, 2) == 1:
        note = "about equal"
    elif (r > 1) == (better == "higher"):
        note = "Kiln faster"
    else:
        note = "Kiln slower"
    return f"{r:.2f}× ({better} is better; {note})"


def describe_kiln_arch(arch: dict[str, Any] | None) -> str:
    """Kiln's CNN in words, from the "arch" object of its runs."""
    if not isinstance(arch, dict) or not all(
            k in arch for k in ("stages", "convs_per_stage", "hidden", "dropout")):
        return "shape not recorded"
    stages = ", ".join(str(s) for s in arch["stages"])
    n = arch["convs_per_stage"]
    text = (f"stages of {stages} channels, each {n} × [Conv 3×3 (padding 1, no bias), batch "
            f"norm, ReLU] then 2×2 max pool; flatten, dropout {arch['dropout']:g}; ")
    if arch["hidden"]:
        text += f"Linear →{arch['hidden']}, ReLU, dropout {arch['dropout']:g}; "
    return text + "Linear →10"


def params_note(objs: list[dict[str, Any]], what: str) -> str:
    """" (N parameters...)" from the runs' "params", or nothing when not recorded."""
    values = distinct(objs, "params")
    if len(values) != 1:
        return ""
    return f" ({int(values[0]):,} {what})"


def consistency_warnings(runs: dict[tuple[str, str], list[dict[str, Any]]],
                         skip_kiln: bool) -> list[str]:
    """Differences between the runs that make the comparison unfair, in words."""
    out: list[str] = []
    every = [o for objs in runs.values() for o in objs
             if not (skip_kiln and o["framework"] == "kiln")]
    for key, what in (("rows", "images"), ("batch", "batch sizes"), ("epochs", "timed epochs")):
        values = distinct(every, key)
        if len(values) > 1:
            out.append(f"the runs used different {what}: {', '.join(str(v) for v in values)}")
    for model, label in MODELS:
        both = runs[(model, "pytorch")] + ([] if skip_kiln else runs[(model, "kiln")])
        for key, what in (("arch", "architectures"), ("params", "parameter counts")):
            values = distinct(both, key)
            if len(values) > 1:
                shown = "; ".join(json.dumps(v, sort_keys=True) for v in values)
                out.append(f"{label}: the runs have different {what} ({shown})")
    return out


def render(args: argparse.Namespace, runs: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """The cnn section of BENCHMARKS.md, markers included."""
    med = {key: medians(objs) for key, objs in runs.items()}
    if args.skip_kiln:
        for model, _ in MODELS:
            med[(model, "kiln")] = None
    every = [o for objs in runs.values() for o in objs]
    rows = distinct(every, "rows")
    batch = distinct(every, "batch")
    rows_text = f"{int(rows[0]):,}" if len(rows) == 1 else "/".join(f"{int(r):,}" for r in rows)
    batch_text = str(batch[0]) if len(batch) == 1 else "/".join(str(b) for b in batch)
    kiln_runs = runs[("kiln", "pytorch")] + runs[("kiln", "kiln")]
    kiln_archs = distinct(runs[("kiln", "kiln")] or kiln_runs, "arch")
    ref_runs = runs[("reference", "pytorch")] + runs[("reference", "kiln")]

    lines = [
        START,
        "## CNN: PyTorch vs Kiln (CPU)",
        "",
        f"Same images, models and training setup in both frameworks: the first {rows_text} "
        "Fashion-MNIST training images (28×28 grey), pixels standardised with the subset's "
        "mean and standard deviation; cross-entropy; Adam (lr 1e-3, no weight decay); "
        f"batch {batch_text}, the last partial batch kept; 2 threads. Models:",
        "",
        "- **Reference 2-conv CNN**: Conv 3×3 1→32, ReLU, Conv 3×3 32→64, ReLU, 2×2 max pool, "
        "Linear 9,216→128, ReLU, Linear 128→10; no dropout, no batch norm"
        + params_note(ref_runs, "parameters") + ".",
        "- **Kiln's CNN** (`kiln_model::ConvShape::default()`, the `[image]` section of "
        "`kiln config`, rebuilt layer for layer in PyTorch): "
        + describe_kiln_arch(kiln_archs[0] if kiln_archs else None)
        + params_note(kiln_runs, "parameters and batch-norm statistics") + ".",
        "",
        "| Model | Metric | PyTorch | Kiln | Kiln / PyTorch |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for model, mlabel in MODELS:
        t, k = med[(model, "pytorch")], med[(model, "kiln")]
        for key, label, better in METRICS:
            tv = t[key] if t else None
            kv = k[key] if k else None
            lines.append(f"| {mlabel} | {label} | {fmt(key, tv)} | {fmt(key, kv)} "
                         f"| {ratio_cell(better, tv, kv)} |")
    lines += [
        "",
        "Throughput: higher is better, so a ratio above 1 means Kiln is faster.",
        "",
    ]

    # Target verdict.
    verdicts = []
    met_all = True
    for model, mlabel in MODELS:
        t, k = med[(model, "pytorch")], med[(model, "kiln")]
        r = ratio(t["train_samples_per_s"] if t else None, k["train_samples_per_s"] if k else None)
        if r is None:
            verdicts.append(f"{mlabel}: not measured")
            met_all = False
        else:
            ok = r >= TARGET_RATIO
            met_all = met_all and ok
            verdicts.append(f"{mlabel}: {r:.2f}× ({'met' if ok else 'not met'})")
    measured = not args.skip_kiln and all(
        med[(m, "kiln")] and med[(m, "pytorch")] for m, _ in MODELS)
    overall = ("met" if met_all else "not met") if measured else "not measured"
    lines += [
        f"**Target** (Kiln ≥ {TARGET_RATIO:.1f}× PyTorch's training throughput): "
        f"**{overall}** — {'; '.join(verdicts)}.",
        "",
    ]

    warnings = consistency_warnings(runs, args.skip_kiln)
    for w in warnings:
        print(f"report_cnn: warning: {w}", file=sys.stderr)
        lines += [f"**Warning:** {w}.", ""]

    counts = {key: len(objs) for key, objs in runs.items()}
    if args.skip_kiln:
        how = (f"median of {counts[('reference', 'pytorch')]} + {counts[('kiln', 'pytorch')]} "
               "PyTorch-only runs (reference, Kiln's CNN; Kiln skipped: `KILN_BENCH_SKIP_KILN=1`)")
    elif all(n == args.runs for n in counts.values()):
        how = (f"median of {args.runs} alternating runs per model (PyTorch, Kiln, PyTorch, "
               "Kiln, …)")
    else:
        shown = ", ".join(
            f"{ml} {fl} {counts[(m, f)]}" for m, ml in MODELS for f, fl in FRAMEWORKS)
        how = f"median of alternating runs ({shown}; {args.runs} per model were requested)"
    epochs = ", ".join(
        f"{fl} {int(m['epochs'])}" for f, fl in FRAMEWORKS
        if (m := next((med[(mod, f)] for mod, _ in MODELS if med[(mod, f)]), None))
    )
    threads = ", ".join(
        f"{fl} {int(m['threads'])}" for f, fl in FRAMEWORKS
        if (m := next((med[(mod, f)] for mod, _ in MODELS if med[(mod, f)]), None))
    )
    torch_med = next((med[(m, "pytorch")] for m, _ in MODELS if med[(m, "pytorch")]), None)
    kiln_med = next((med[(m, "kiln")] for m, _ in MODELS if med[(m, "kiln")]), None)
    if torch_med:
        python = f" (Python {torch_med['python']})" if torch_med["python"] else ""
        versions = [f"PyTorch {torch_med['version']}{python}"]
    else:
        versions = ["PyTorch n/a"]
    if kiln_med:
        rustc = f", {args.rustc}" if args.rustc and args.rustc != "n/a" else ""
        versions.append(f"Kiln {kiln_med['version']}{rustc}")
    else:
        versions.append("Kiln n/a")

    lines += [
        f"- Method: {how}; each metric's median is taken separately. Training: 1 warm-up "
        f"epoch, then timed epochs ({epochs}) over mini-batches reshuffled (seeded) every "
        "epoch, median of per-epoch samples/s (images / epoch wall time). Inference: eval mode "
        "(batch norm's running statistics, no dropout), no autograd, batches of 1,000 over all "
        "the images, 1 warm-up pass then 3 timed passes, median. Kiln trains its CNN with "
        "`kiln_train::fit::run_epoch` (constant learning rate, no augmentation) and the "
        "reference model with a plain burn loop (`bench/kiln-bench/src/bin/kiln-cnn.rs`).",
        machine_line(args),
        f"- Threads: {threads}",
        f"- Versions: {'; '.join(versions)}",
        *provenance_lines(args),
        "| Run | Model | Framework | Train samples/s | Infer samples/s | Final loss |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for model, mlabel in MODELS:
        for f, flabel in FRAMEWORKS:
            if f == "kiln" and args.skip_kiln:
                continue
            for i, o in enumerate(runs[(model, f)], 1):
                lines.append(
                    f"| {i} | {mlabel} | {flabel} "
                    f"| {fmt('train_samples_per_s', o['train_samples_per_s'])} "
                    f"| {fmt('infer_samples_per_s', o['infer_samples_per_s'])} "
                    f"| {fmt('final_train_loss', o['final_train_loss'])} |"
                )
    return close_section(lines, NAME)


def build_section(args: argparse.Namespace, text: str) -> str:
    """The cnn section for the JSON lines `text`, after checking both frameworks ran."""
    runs = parse_results(text)
    for model, label in MODELS:
        if not runs[(model, "pytorch")]:
            raise ReportError(f"no PyTorch results for the {label}")
        if not args.skip_kiln and not runs[(model, "kiln")]:
            raise ReportError(f"no Kiln results for the {label} "
                              "(pass --skip-kiln if Kiln was not run)")
    return render(args, runs)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the cnn section; the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_io_args(p)
    p.add_argument("--runs", type=int, default=3, help="alternating runs requested per model")
    add_machine_args(p)
    p.add_argument("--rustc", default="n/a")
    add_provenance_args(p, "bash bench/cnn.sh")
    p.add_argument("--skip-kiln", action="store_true", help="Kiln was not run: show n/a")
    args = p.parse_args(argv)
    return write_report("report_cnn", NAME, args, lambda text: build_section(args, text))


if __name__ == "__main__":
    sys.exit(main())
