#!/usr/bin/env python3
"""Results and report of the drift benchmark (stdlib only).

Three subcommands, all normally called by bench/drift.sh:

  time-child   Runs a command and writes "WALL_S MAXRSS_KIB" to --output, the
               format of `/usr/bin/time -f '%e %M' -o FILE`, from the wall
               clock and resource.getrusage(RUSAGE_CHILDREN).ru_maxrss; used
               where /usr/bin/time is missing. Exits with the command's code.

  result       Turns one run into one JSON line: for --tool kiln, a
               `kiln validate CURRENT --reference REFERENCE --json` run (exit
               code 0, or 1 when it found drift; its JSON on stdout); for
               --tool evidently, a bench/drift_evidently.py run (its JSON
               line). Adds the process's wall clock and peak RSS from the time
               file. A failed run is an error (exit 1): there is no number to
               report.

  report       Reads the JSON lines of all runs (tools "kiln", "evidently"),
               takes the median of each metric per tool, compares the
               per-column tests, scores and verdicts, and writes or replaces
               the section between <!-- drift:start --> and <!-- drift:end -->
               of the output file, appending it at the end if the markers are
               missing. Everything outside the markers is left untouched.
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
    ReportError, add_io_args, add_machine_args, add_provenance_args, add_time_child,
    close_section, finite, fmt_mib, fmt_s, json_lines, machine_line, markers,
    parse_tool_results, provenance_lines, ratio_cell, read_data_json, read_results, read_text,
    run_subcommand, run_times, subcommand_parser, tail, tool_medians, write_report,
)

NAME = "drift"
START = markers(NAME)[0]
TARGET_SPEEDUP = 20.0  # the target: Kiln ≥ 20× Evidently's speed, same verdicts
SAMPLE_ROWS = 4096  # kiln-profile's SAMPLE_ROWS: rows in each file's bottom-k sample
CATEGORIES_COMPARED = 50  # kiln-profile drift.rs: categories compared by name
EXACT_LIMIT = 1000  # kiln-profile column.rs: values counted exactly up to this many

TOOLS = [("kiln", "Kiln"), ("evidently", "Evidently")]
LABEL = dict(TOOLS)
NUMERIC_KEYS = ["rows", "total_s", "process_s", "peak_rss_kib"]
OPTIONAL_KEYS = ["import_s", "read_s", "report_s"]


# --- result ------------------------------------------------------------------

def kiln_columns(report: dict) -> list[dict[str, Any]]:
    """The per-feature results of `kiln validate --json` as {column, type, test, score, ...}."""
    drift = report.get("drift")
    if not isinstance(drift, dict) or not isinstance(drift.get("features"), list):
        raise ValueError("its JSON has no drift.features (was --reference given?)")
    out = []
    for f in drift["features"]:
        t = f["test"]
        labels = (f.get("shares") or {}).get("labels") or []
        out.append({
            "column": f["column"], "type": f["type"], "test": t["test"],
            "score": t["statistic"], "p_value": t.get("adjusted_p_value"),
            "threshold": t["threshold"], "drift": bool(f["drift"]),
            "categories": len(labels) if t["test"] in ("jensen_shannon", "chi_squared", "z_test") else None,
            "pooled": "(other)" in labels,
        })
    for s in drift.get("skipped") or []:
        out.append({"column": s["column"], "type": None, "test": None, "score": None,
                    "threshold": None, "drift": None, "skipped": s.get("reason", "")})
    return out


def cmd_result(args: argparse.Namespace) -> int:
    """Print one run as a JSON result line; 1 (and why, on stderr) if it failed."""
    def fail(msg: str) -> int:
        print(f"report_drift result ({args.tool}): {msg}", file=sys.stderr)
        return 1

    # kiln validate exits 1 when it finds an error-level anomaly, drift included.
    ok_codes = (0, 1) if args.tool == "kiln" else (0,)
    if args.rc not in ok_codes:
        return fail(f"exited {args.rc}: {tail(read_text(args.stderr))}")
    try:
        wall, time_wall, maxrss = run_times(args)
    except ValueError as e:
        return fail(str(e))
    text = read_text(args.out)
    try:
        if args.tool == "kiln":
            report = json.loads(text)
            columns = kiln_columns(report)
            line = {
                "tool": "kiln", "version": args.version, "libs": "", "python": "",
                "rows": report.get("rows") or args.rows, "reference_rows": args.reference_rows,
                "import_s": None, "read_s": None, "report_s": None,
                # Kiln's whole job is its process: read both CSVs, profile, compare, print.
                "total_s": wall,
                "drifted": (report.get("drift") or {}).get("drifted"),
                "columns": columns,
            }
        else:
            lines = [l for l in text.splitlines() if l.strip().startswith("{")]
            if not lines:
                raise ValueError("no JSON line on stdout")
            line = json.loads(lines[-1])
            line["drifted"] = sum(1 for c in line["columns"] if c["drift"])
    except (ValueError, KeyError, TypeError) as e:
        return fail(f"cannot read its results in {args.out}: {e}: {tail(text)}; "
                    f"stderr: {tail(read_text(args.stderr))}")
    line.update({"process_s": wall, "time_e_s": time_wall, "peak_rss_kib": maxrss, "exit_code": args.rc})
    print(json.dumps(line))
    return 0


def cmd_kiln_columns(args: argparse.Namespace) -> int:
    """Print the per-column results of one untimed `kiln validate --json` run as a JSON line."""
    text = read_text(args.out)
    if args.rc not in (0, 1):
        print(f"report_drift kiln-columns: kiln exited {args.rc}: {tail(text)}", file=sys.stderr)
        return 1
    try:
        columns = kiln_columns(json.loads(text))
    except (ValueError, KeyError, TypeError) as e:
        print(f"report_drift kiln-columns: cannot read {args.out}: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"tool": "kiln-sample", "label": args.label, "columns": columns}))
    return 0


# --- report ------------------------------------------------------------------

def check_columns(lineno: int, obj: dict[str, Any]) -> None:
    """Raise ReportError if the result object `obj` has no per-column results."""
    if not isinstance(obj["columns"], list) or not obj["columns"]:
        raise ReportError(f"results line {lineno}: no per-column results")


def parse_results(text: str) -> dict[str, list[dict[str, Any]]]:
    """The result objects in the JSON lines `text`, checked, grouped by tool."""
    return parse_tool_results(text, TOOLS, NUMERIC_KEYS, OPTIONAL_KEYS,
                              required=["tool", "version", "columns"], check=check_columns)


def medians(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-metric medians of `objs`, their versions and libraries."""
    return tool_medians(objs, NUMERIC_KEYS, OPTIONAL_KEYS)


def fmt_score(v: float | None) -> str:
    """A distance as shown in the column table."""
    return "n/a" if v is None else f"{v:.4f}"


def kiln_basis(k: dict[str, Any], plan: dict[str, Any]) -> str:
    """What Kiln computed its score from, for the column table."""
    if k.get("test") is None:
        return f"skipped: {k.get('skipped', '')}"
    if k["test"] in ("wasserstein", "ks"):
        return "every value"
    levels = (plan or {}).get("levels")
    counts = "sketch counts" if levels and levels > EXACT_LIMIT else "exact counts"
    if k.get("pooled"):
        return f"{counts}, top {CATEGORIES_COMPARED} + (other)"
    return counts


def sample_based(k: dict[str, Any]) -> bool:
    """Whether Kiln computed the column's score from its row sample (no longer: two tables are
    compared on every value, up to 2,000,000 per column)."""
    return False


def exact_based(k: dict[str, Any], plan: dict[str, Any]) -> bool:
    """Whether Kiln's score used the same inputs as Evidently's (exact counts, all levels)."""
    levels = (plan or {}).get("levels")
    return (not sample_based(k) and k.get("test") is not None and not k.get("pooled")
            and not (levels and levels > EXACT_LIMIT))


def compare_columns(kiln: list[dict[str, Any]], evid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per column: both tools' results side by side, in Evidently's column order."""
    kmap = {c["column"]: c for c in kiln}
    rows = []
    for e in evid:
        k = kmap.get(e["column"], {"column": e["column"], "test": None, "score": None,
                                    "drift": None, "skipped": "not in Kiln's report"})
        agree = k.get("drift") is not None and k["drift"] == e["drift"]
        same_test = k.get("test") == e["test"]
        diff = (k["score"] - e["score"]) if finite(k.get("score")) and finite(e.get("score")) else None
        rows.append({"column": e["column"], "e": e, "k": k, "agree": agree,
                     "same_test": same_test, "diff": diff})
    return rows


def verdict_signature(objs: list[dict[str, Any]]) -> set[tuple]:
    """The distinct per-column (column, test, rounded score, verdict) tuples over runs."""
    return {tuple((c["column"], c.get("test"), None if c.get("score") is None else round(c["score"], 9),
                   c.get("drift")) for c in o["columns"]) for o in objs}


def render(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> str:
    """The drift section of BENCHMARKS.md, markers included."""
    k, e = medians(runs["kiln"]), medians(runs["evidently"])
    data = read_data_json(args.data_json)
    plan = data.get("plan") or {}
    samples: list[list[dict[str, Any]]] = []
    if args.samples:
        for _, line, obj in json_lines(read_results(args.samples)):
            if not isinstance(obj, dict) or not isinstance(obj.get("columns"), list):
                raise ReportError(f"{args.samples}: not a kiln-columns line: {line[:200]}")
            samples.append(obj["columns"])
    ref, cur = data.get("reference") or {}, data.get("current") or {}
    ref_rows = int(ref.get("rows") or runs["evidently"][0].get("reference_rows") or 0)
    cur_rows = int(cur.get("rows") or e["rows"])
    ncols = int(data.get("columns") or len(runs["evidently"][0]["columns"]))
    changed = sum(1 for p in plan.values() if p.get("intended") not in (None, "none"))
    types = [c.get("type") for c in runs["evidently"][0]["columns"]]
    n_num, n_cat = types.count("numerical"), types.count("categorical")

    def size(d: dict[str, Any]) -> str:
        parts = []
        if d.get("bytes"):
            parts.append(f"{d['bytes'] / 1e6:,.1f} MB")
        if d.get("sha256"):
            parts.append(f"sha256 `{d['sha256'][:16]}…`")
        return f" ({', '.join(parts)})" if parts else ""

    # The columns are compared on the first run of each tool; both are deterministic
    # (Kiln's sample is seeded), which the per-run check below confirms.
    rows = compare_columns(runs["kiln"][0]["columns"], runs["evidently"][0]["columns"])
    n_agree = sum(r["agree"] for r in rows)
    n_same_test = sum(r["same_test"] for r in rows)
    speedup = e["total_s"] / k["total_s"]
    speed_ok = speedup >= TARGET_SPEEDUP
    verdicts_ok = n_agree == len(rows)

    lines = [
        START,
        "## Drift report: Kiln vs Evidently (CPU)",
        "",
        f"A drift report over a current set of {cur_rows:,} rows × {ncols} columns{size(cur)} against "
        f"a reference of {ref_rows:,} rows{size(ref)}, both written by `bench/drift_data.py` "
        "(numpy `default_rng(0)` for the reference, `default_rng(1)` for the current set): 15 numeric "
        "columns (normal, lognormal, Poisson / negative-binomial / geometric counts, uniform, "
        "exponential, small- and large-magnitude sensors, a 1–5 rating; four with 1–5% empty cells) "
        "and 5 categorical ones (5, 50, 300 and 2,000 levels, Zipf-like, one with 1% empty cells; "
        f"yes/no). The current set changes {changed} of the {ncols} columns by designed amounts: "
        "clearly, mildly (well below the 0.1 threshold) or within about 0.02 of it; the others "
        "not at all (*Planned change* below).",
        "",
        "| Metric | Kiln | Evidently | Kiln / Evidently |",
        "| --- | ---: | ---: | --- |",
        f"| Drift report time (s; Kiln: whole process; Evidently: load + report) | {fmt_s(k['total_s'])} "
        f"| {fmt_s(e['total_s'])} | {ratio_cell('lower', k['total_s'], e['total_s'])} |",
        f"| Wall time, whole process (s) | {fmt_s(k['process_s'])} | {fmt_s(e['process_s'])} "
        f"| {ratio_cell('lower', k['process_s'], e['process_s'])} |",
        f"| Peak memory (MiB, peak RSS) | {fmt_mib(k['peak_rss_kib'])} | {fmt_mib(e['peak_rss_kib'])} "
        f"| {ratio_cell('lower', k['peak_rss_kib'], e['peak_rss_kib'])} |",
        f"| Columns drifted | {runs['kiln'][0].get('drifted')} | {runs['evidently'][0].get('drifted')} | |",
        f"| Same test chosen | {n_same_test} of {len(rows)} | | |",
        f"| Same verdict | {n_agree} of {len(rows)} | | |",
        "",
        f"Target: Kiln ≥ {TARGET_SPEEDUP:g}× Evidently's speed with the same verdicts — "
        + ("met" if speed_ok and verdicts_ok else "not met")
        + f": Kiln is {speedup:.1f}× faster ({'met' if speed_ok else 'not met'}); "
        f"{n_agree} of {len(rows)} verdicts agree ({'met' if verdicts_ok else 'not met'}).",
        "",
        "| Column | Type | Planned change | Test | Evidently score | Kiln score | Kiln − Evidently "
        "| Evidently drift | Kiln drift | Agree? | Kiln computes from "
        + (f"| Kiln, {len(samples)} other samples: score range | … verdict agrees in " if samples else "")
        + "|",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |"
        + (" ---: | ---: |" if samples else ""),
    ]
    by_col: dict[str, list[dict[str, Any]]] = {}
    for cols in samples:
        for c in cols:
            by_col.setdefault(c["column"], []).append(c)

    def sample_cells(column: str, e_drift: bool) -> str:
        cs = [c for c in by_col.get(column, []) if finite(c.get("score"))]
        if not samples:
            return ""
        if not cs:
            return " n/a | n/a |"
        lo, hi = min(c["score"] for c in cs), max(c["score"] for c in cs)
        agree = sum(1 for c in cs if c["drift"] == e_drift)
        rng = fmt_score(lo) if lo == hi else f"{fmt_score(lo)}–{fmt_score(hi)}"
        return f" {rng} | {agree} of {len(cs)} |"

    yes = lambda v: "n/a" if v is None else ("drift" if v else "no")  # noqa: E731
    for r in rows:
        ev, kv = r["e"], r["k"]
        p = plan.get(r["column"], {})
        test = ev["test"] if r["same_test"] else f"Evidently {ev['test']}, Kiln {kv.get('test')}"
        diff = "n/a" if r["diff"] is None else f"{r['diff']:+.4f}"
        lines.append(
            f"| {r['column']} | {ev.get('type', '')} | {p.get('intended', '?')} | {test} "
            f"| {fmt_score(ev['score'])} | {fmt_score(kv.get('score'))} | {diff} | {yes(ev['drift'])} "
            f"| {yes(kv.get('drift'))} | {'yes' if r['agree'] else '**no**'} | {kiln_basis(kv, p)} |"
            + sample_cells(r["column"], ev["drift"])
        )
    lines.append("")

    # How close the scores are, by what Kiln computed them from.
    def spread(sel: list[dict[str, Any]]) -> str:
        d = [abs(r["diff"]) for r in sel if r["diff"] is not None]
        if not d:
            return "n/a"
        return f"median |Kiln − Evidently| {statistics.median(d):.4f}, largest {max(d):.4f}"

    sampled = [r for r in rows if sample_based(r["k"])]
    exact = [r for r in rows if exact_based(r["k"], plan.get(r["column"], {}))]
    other = [r for r in rows if r not in sampled and r not in exact]
    quiet = [r for r in sampled if plan.get(r["column"], {}).get("intended") == "none"]
    disagree = [r for r in rows if not r["agree"]]
    lines.append(
        f"- Scores: where Kiln counts exactly what Evidently counts ({len(exact)} columns: "
        + ", ".join(r["column"] for r in exact) + f"), {spread(exact)}"
        + (f"; from Kiln's row sample ({len(sampled)} numeric columns), {spread(sampled)}"
           if sampled else "")
        + (f"; the unchanged numeric columns read {min(r['k']['score'] for r in quiet):.3f}–"
           f"{max(r['k']['score'] for r in quiet):.3f} in Kiln against "
           f"{min(r['e']['score'] for r in quiet):.3f}–{max(r['e']['score'] for r in quiet):.3f} "
           "in Evidently" if quiet else "")
        + (f"; categorical columns with more than {CATEGORIES_COMPARED} levels "
           f"({', '.join(r['column'] for r in other)}), {spread(other)}" if other else "")
        + ".")
    kind = {"numeric": "numerical", "categorical": "categorical", "boolean": "categorical"}
    type_ok = [r for r in rows if kind.get(r["k"].get("type")) == r["e"].get("type")]
    lines.append(
        f"- Column types: Kiln inferred the type given to Evidently for {len(type_ok)} of "
        f"{len(rows)} columns"
        + ("" if len(type_ok) == len(rows) else " (not for: " + ", ".join(
            f"{r['column']} Kiln {r['k'].get('type')}" for r in rows if r not in type_ok) + ")")
        + " (Kiln calls the yes/no column boolean; it is compared as a category).")
    if disagree:
        lines.append(
            "- Disagreements: " + "; ".join(
                f"{r['column']} (Evidently {fmt_score(r['e']['score'])} → {yes(r['e']['drift'])}, "
                f"Kiln {fmt_score(r['k'].get('score'))} → {yes(r['k'].get('drift'))}, "
                f"from {kiln_basis(r['k'], plan.get(r['column'], {}))})" for r in disagree) + ".")
    if samples:
        full = sum(1 for cols in samples
                   if all(c["drift"] == r["e"]["drift"] for r in rows for c in cols if c["column"] == r["column"]))
        flips = [r["column"] for r in rows
                 if len({c["drift"] for c in by_col.get(r["column"], [])} | {r["k"].get("drift")}) > 1]
        lines.append(
            f"- Other row samples: Kiln salts its row sample with the file's name, so the same "
            f"files under other names are profiled with other samples; the sample no longer "
            f"decides any score here. Over {len(samples)} "
            "such runs (untimed; symlinks to the same two files), Kiln gave all "
            f"{len(rows)} of Evidently's verdicts in {full} of {len(samples)}; the verdict changed "
            "with the sample for " + (", ".join(flips) if flips else "no column") + ".")
    lines += [
        "- How Kiln computes the scores: when two tables are compared, Kiln's profiles keep every "
        "number (up to 2,000,000 per column; beyond that, and for a stored profile or a model's "
        f"training profile, the {SAMPLE_ROWS:,}-row sample serves), so the normed Wasserstein "
        "distance is Evidently's to rounding. Categorical (and ≤ 5-valued numeric) columns use "
        "Kiln's exact value counts (up to 1,000 distinct values; a Misra-Gries frequent-items "
        "sketch beyond) and compare the 50 most frequent levels of each file by name, pooling the "
        "rest as \"(other)\"; Evidently compares every level, hence the small differences on "
        "city and product.",
        "- Method: median of "
        + (f"{args.runs} round(s) of alternating runs (Evidently, Kiln, Evidently, …)"
           if len(runs["kiln"]) == len(runs["evidently"]) == args.runs else
           f"alternating runs ({len(runs['evidently'])} Evidently, {len(runs['kiln'])} Kiln; "
           f"{args.runs} were requested)")
        + "; each metric's median is taken separately; both read the CSVs from disk (warm page "
        "cache). **Kiln**: `kiln validate CURRENT.csv --reference REFERENCE.csv --json` as its "
        "own process (it profiles both files, infers a schema from the reference, checks the "
        "current set against it and tests drift; exit code 1 because it finds drift), wall clock "
        "and peak RSS from `/usr/bin/time -f '%e %M'`. **Evidently**: `bench/drift_evidently.py` as "
        "its own process under `/usr/bin/time`: `pandas.read_csv` of both files, "
        f"`evidently.Dataset.from_pandas` with a `DataDefinition` naming the {n_num} numerical and "
        f"{n_cat} categorical columns (the types Kiln infers), then "
        "`Report([DataDriftPreset()]).run(current, reference)` and `snapshot.dict()`; the report "
        "time is load + run + dict, timed in-process (Python start-up and imports, median "
        f"{fmt_s(e['import_s'])} s, excluded; the whole-process row includes them); median split: "
        f"load {fmt_s(e['read_s'])} s + report {fmt_s(e['report_s'])} s. The speed target compares "
        "Kiln's whole process with Evidently's load + report.",
        "- Tests: Evidently's `DataDriftPreset` defaults choose them (more than 1,000 reference "
        "values: normed Wasserstein for numerical columns, Jensen-Shannon for categorical ones and "
        "for numerical ones with at most 5 distinct values; threshold 0.1, drift when the distance "
        "is ≥ 0.1); Kiln chooses the same way (drift when the distance is > 0.1). Scores: "
        "Evidently's `ValueDrift` values; Kiln's `drift.features[].test.statistic`.",
        "- Same results in every run: "
        + ("yes" if len(verdict_signature(runs["kiln"])) == 1 and len(verdict_signature(runs["evidently"])) == 1
           else "**no** — the scores or verdicts changed between runs; the table shows the first run")
        + ".",
        f"- Threads: Kiln uses what it chooses on this {args.nproc}-CPU machine; Evidently runs "
        "on one thread (pandas, NumPy and SciPy per column).",
        "- Evidently environment: its own venv, `bench/.venv-evidently`, with pandas < 3 "
        "(Evidently 0.7 does not import under pandas 3).",
        machine_line(args),
        "- Versions: " + "; ".join([
            f"Kiln {k['version']}" + (f", {args.rustc}" if args.rustc and args.rustc != "n/a" else ""),
            f"Evidently {e['version']} ({e['libs']}, Python {e['python']})",
        ]),
        *provenance_lines(args),
        "| Run | Tool | Report s | Process s | Peak MiB | Load s | Run s | Drifted |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in TOOLS:
        for i, o in enumerate(runs[name], 1):
            lines.append(
                f"| {i} | {label} | {fmt_s(o['total_s'])} | {fmt_s(o['process_s'])} "
                f"| {fmt_mib(o['peak_rss_kib'])} | {fmt_s(o.get('read_s'))} "
                f"| {fmt_s(o.get('report_s'))} | {o.get('drifted', 'n/a')} |"
            )
    return close_section(lines, NAME)


def build_section(args: argparse.Namespace, text: str) -> str:
    """The drift section for the JSON lines `text`, after checking both tools ran."""
    runs = parse_results(text)
    for name, label in TOOLS:
        if not runs[name]:
            raise ReportError(f"no {label} results")
    return render(args, runs)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the drift section of the output file; the exit code."""
    return write_report("report_drift", NAME, args, lambda text: build_section(args, text))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; the exit code."""
    p, sub = subcommand_parser(__doc__)

    add_time_child(sub, "report_drift")

    k = sub.add_parser("result", help="one run as a JSON line")
    k.add_argument("--tool", choices=[n for n, _ in TOOLS], required=True)
    k.add_argument("--rc", type=int, required=True, help="the run's exit code")
    k.add_argument("--stderr", help="file with its stderr")
    k.add_argument("--time-file", required=True, help="'%%e %%M' written by /usr/bin/time")
    k.add_argument("--wall", type=float, help="wall-clock seconds measured around the run")
    k.add_argument("--out", required=True, help="its stdout (kiln's JSON, or Evidently's line)")
    k.add_argument("--rows", type=int, default=0, help="rows of the current set")
    k.add_argument("--reference-rows", type=int, default=0)
    k.add_argument("--version", default="n/a", help="`kiln --version`")
    k.set_defaults(func=cmd_result)

    s = sub.add_parser("kiln-columns", help="the columns of an untimed kiln run as a JSON line")
    s.add_argument("--rc", type=int, required=True)
    s.add_argument("--out", required=True, help="kiln validate's JSON")
    s.add_argument("--label", default="")
    s.set_defaults(func=cmd_kiln_columns)

    r = sub.add_parser("report", help="write the section of BENCHMARKS.md")
    add_io_args(r)
    r.add_argument("--runs", type=int, default=3, help="alternating runs requested")
    add_machine_args(r)
    r.add_argument("--rustc", default="n/a")
    add_provenance_args(r, "bash bench/drift.sh")
    r.add_argument("--data-json", help="the JSON line printed by bench/drift_data.py")
    r.add_argument("--samples", help="JSON lines of `kiln-columns` (Kiln with other row samples)")
    r.set_defaults(func=cmd_report)
    return run_subcommand(p, argv)


if __name__ == "__main__":
    sys.exit(main())
