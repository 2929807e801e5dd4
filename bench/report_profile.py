#!/usr/bin/env python3
"""Results and report of the data-profiling benchmark (stdlib only).

Three subcommands, all normally called by bench/profile.sh:

  time-child   Runs a command and writes "WALL_S MAXRSS_KIB" to --output, the
               format of `/usr/bin/time -f '%e %M' -o FILE`, from the wall
               clock and resource.getrusage(RUSAGE_CHILDREN).ru_maxrss; used
               where /usr/bin/time is missing. Exits with the command's code.

  kiln-result  Turns one `kiln profile FILE --out OUT.json` run (its exit
               code, stderr, wall-clock seconds, the time file, the profile it
               wrote) into one JSON line like those of bench/profile_whylogs.py.
               A failed run is an error (exit 1): there is no number to report.

  report       Reads the JSON lines of all runs (tools "whylogs", "kiln",
               "tfdv"), takes the median of each metric per tool, and writes
               or replaces the section between <!-- profile:start --> and
               <!-- profile:end --> of the output file, appending it at the end
               if the markers are missing. Everything outside the markers is
               left untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import (  # noqa: E402
    ReportError, add_io_args, add_machine_args, add_provenance_args, add_time_child,
    close_section, fmt_mib, fmt_s, machine_line, markers, parse_tool_results,
    provenance_lines, ratio_cell, read_data_json, read_text, run_subcommand, run_times,
    subcommand_parser, tail, tool_medians, write_report,
)

NAME = "profile"
START = markers(NAME)[0]
TARGET_SPEEDUP = 10.0  # the issue's target: Kiln's rows/s ≥ 10× whylogs'

TOOLS = [("kiln", "Kiln"), ("whylogs", "whylogs"), ("tfdv", "TFDV")]
LABEL = dict(TOOLS)
NUMERIC_KEYS = ["rows", "columns", "total_s", "rows_per_s", "peak_rss_kib"]
OPTIONAL_KEYS = ["read_s", "profile_s", "write_s", "import_s"]


# --- kiln-result -------------------------------------------------------------

def cmd_kiln_result(args: argparse.Namespace) -> int:
    """Print one Kiln run as a JSON result line; 1 (and why, on stderr) if it failed."""
    def fail(msg: str) -> int:
        print(f"report_profile kiln-result: {msg}", file=sys.stderr)
        return 1

    if args.rc != 0:
        return fail(f"kiln profile exited {args.rc}: {tail(read_text(args.stderr))}")
    try:
        wall, time_wall, maxrss = run_times(args)
    except ValueError as e:
        return fail(str(e))
    try:
        out_bytes = os.path.getsize(args.out)
        with open(args.out, encoding="utf-8") as f:
            json.load(f)
    except OSError as e:
        return fail(f"kiln profile wrote no profile at {args.out}: {e}")
    except ValueError as e:
        return fail(f"the profile kiln wrote at {args.out} is not JSON: {e}")
    print(json.dumps({
        "tool": "kiln",
        "version": args.version,
        "libs": "",
        "rows": args.rows,
        "columns": args.columns,
        "import_s": None,
        "read_s": None,
        "profile_s": None,
        "write_s": None,
        "total_s": wall,
        "time_e_s": time_wall,
        "out_bytes": out_bytes,
        "peak_rss_kib": maxrss,
        "rows_per_s": args.rows / wall,
    }))
    return 0


# --- report ------------------------------------------------------------------

def parse_results(text: str) -> dict[str, list[dict[str, Any]]]:
    """The result objects in the JSON lines `text`, checked, grouped by tool."""
    return parse_tool_results(text, TOOLS, NUMERIC_KEYS, OPTIONAL_KEYS)


def medians(objs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The per-metric medians of `objs`, their versions and libraries; None if there are none."""
    if not objs:
        return None
    out = tool_medians(objs, NUMERIC_KEYS, OPTIONAL_KEYS)
    out["metrics"] = objs[0].get("metrics") or {}
    out["config"] = objs[0].get("config") or {}
    return out


def fmt_rate(v: float | None) -> str:
    """Rows per second as shown in the tables."""
    return "n/a" if v is None else f"{v:,.0f}"


def render(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> str:
    """The profile section of BENCHMARKS.md, markers included."""
    med = {name: medians(objs) for name, objs in runs.items()}
    if args.skip_kiln:
        med["kiln"] = None
    k, w, t = med["kiln"], med["whylogs"], med["tfdv"]
    data = read_data_json(args.data_json)
    rows = int(data.get("rows") or w["rows"])
    size = f", {data['bytes'] / 1e6:,.0f} MB" if data.get("bytes") else ""
    sha = f" (sha256 `{data['sha256'][:16]}…`)" if data.get("sha256") else ""

    others = [("whylogs", w)] + ([("tfdv", t)] if t else [])
    head = "| Metric | Kiln | " + " | ".join(LABEL[n] for n, _ in others) + " | " + \
        " | ".join(f"Kiln / {LABEL[n]}" for n, _ in others) + " |"
    align = "| --- | ---: | " + " | ".join("---:" for _ in others) + " | " + \
        " | ".join("---" for _ in others) + " |"

    def row(label: str, key: str, f, better: str) -> str:
        kv = k[key] if k else None
        cells = [f(m[key]) for _, m in others]
        ratios = [ratio_cell(better, kv, m[key]) for _, m in others]
        return f"| {label} | {f(kv)} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |"

    tools_title = "whylogs" + (" and TFDV" if t else "")
    lines = [
        START,
        f"## Data profiling: Kiln vs {tools_title} (CPU)",
        "",
        f"Profiling one CSV of {rows:,} rows × 20 columns{size}{sha}, written by "
        "`bench/profile_data.py` (numpy `default_rng(0)`): 14 numeric columns (normal, lognormal, "
        "Poisson / negative-binomial / geometric counts, uniform, a 1–5 rating, small- and "
        "large-magnitude sensors; four with 1–5% empty cells; floats written with `%.6g`, "
        "money with 2 decimals), 4 categorical string columns (5, 50, 300 and 1,000 levels, "
        "Zipf-like), a yes/no column and a 16-hex-digit id column (≈ 550,000 distinct values).",
        "",
        head,
        align,
        row("Throughput (rows/s, whole job)", "rows_per_s", fmt_rate, "higher"),
        row("Wall time (s)", "total_s", fmt_s, "lower"),
        row("Peak memory (MiB, peak RSS)", "peak_rss_kib", fmt_mib, "lower"),
        "",
    ]
    if k and w:
        r = k["rows_per_s"] / w["rows_per_s"]
        verdict = "met" if r >= TARGET_SPEEDUP else "not met"
        target = f"{verdict}: Kiln's rows/s is {r:.1f}× whylogs'"
    else:
        target = "n/a (Kiln was not run)"
    lines.append(f"Target: Kiln ≥ {TARGET_SPEEDUP:g}× whylogs' rows/s — {target}.")
    lines.append("")

    n = {name: len(runs[name]) for name, _ in TOOLS}
    if args.skip_kiln:
        n["kiln"] = 0
    if args.skip_kiln:
        how = (f"median of {n['whylogs']} round(s) without Kiln (Kiln skipped: "
               "`KILN_BENCH_SKIP_KILN=1`)")
    elif n["kiln"] == n["whylogs"] == args.runs:
        how = (f"median of {args.runs} round(s) of alternating runs "
               f"(whylogs, Kiln{', TFDV' if t else ''}, whylogs, …)")
    else:
        how = (f"median of alternating runs ({n['whylogs']} whylogs, {n['kiln']} Kiln, "
               f"{n['tfdv']} TFDV; {args.runs} were requested)")
    wm = w["metrics"]
    metric_set = ", ".join(f"{m} ({c} columns)" for m, c in wm.items()) if wm else "n/a"
    cfg = w["config"]
    sketches = (f"; KLL k = {cfg['kll_k']}, HLL lg k = {cfg['hll_lg_k']}, frequent items "
                f"lg max k = {cfg['fi_lg_max_k']}") if cfg else ""
    wparts = (f"read_csv {fmt_s(w['read_s'])} s + log {fmt_s(w['profile_s'])} s + "
              f"write {fmt_s(w['write_s'])} s") if w.get("profile_s") is not None else ""
    lines += [
        f"- Method: {how}; each metric's median is taken separately. Every tool reads the same "
        "CSV from disk (warm page cache) and writes its profile to a file; throughput is rows / "
        "wall time of that whole job. **Kiln**: `kiln profile FILE --out OUT.json` as its own "
        "process, wall clock and peak RSS from `/usr/bin/time -f '%e %M'`. **whylogs**: in one "
        "Python process, `pandas.read_csv` then `whylogs.log(df)` with its default schema, the "
        "profile view serialized to a file; timed in-process (Python start-up and imports, "
        f"{fmt_s(w['import_s'])} s, excluded), peak RSS from `getrusage(RUSAGE_SELF)`"
        + (f"; median split: {wparts}" if wparts else "") + "."
        + (" **TFDV**: `tfdv.generate_statistics_from_csv(FILE, output_path=…)` with default "
           "options (Apache Beam, in-process DirectRunner), timed the same way." if t else ""),
        f"- Threads: Kiln uses what it chooses on this {args.nproc}-CPU machine; whylogs runs on "
        "one thread (pandas' C parser, then whylogs' column-by-column tracking)."
        + (" TFDV: Beam DirectRunner defaults." if t else ""),
        f"- whylogs metrics (default schema{sketches}): {metric_set}. Its default schema keeps no "
        "frequent items for fractional columns.",
    ]
    lines.append("- whylogs environment: whylogs 1.6.x (its last release, December 2024) fails on "
                 "NumPy 2 (`np.unicode_`), so it runs in its own venv, `bench/.venv-whylogs`, with "
                 "numpy < 2 and pandas < 2.3.")
    if not t:
        lines.append(f"- TFDV: not measured — {args.tfdv_note or 'not attempted'}.")
    lines += [
        machine_line(args),
        "- Versions: " + "; ".join(filter(None, [
            (f"Kiln {k['version']}" + (f", {args.rustc}" if args.rustc and args.rustc != "n/a" else ""))
            if k else "Kiln n/a",
            f"whylogs {w['version']} ({w['libs']}, Python {w['python'] or platform.python_version()})",
            f"TFDV {t['version']} (Python {t['python']})" if t else "",
        ])),
        *provenance_lines(args),
        "| Run | Tool | Rows/s | Wall s | Peak MiB | Read s | Profile s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in TOOLS:
        if name == "kiln" and args.skip_kiln:
            continue
        for i, o in enumerate(runs[name], 1):
            lines.append(
                f"| {i} | {label} | {fmt_rate(o['rows_per_s'])} | {fmt_s(o['total_s'])} "
                f"| {fmt_mib(o['peak_rss_kib'])} | {fmt_s(o.get('read_s'))} "
                f"| {fmt_s(o.get('profile_s'))} |"
            )
    return close_section(lines, NAME)


def build_section(args: argparse.Namespace, text: str) -> str:
    """The profile section for the JSON lines `text`, after checking the tools ran."""
    runs = parse_results(text)
    if not runs["whylogs"]:
        raise ReportError("no whylogs results")
    if not args.skip_kiln and not runs["kiln"]:
        raise ReportError("no Kiln results (pass --skip-kiln if Kiln was not run)")
    return render(args, runs)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the profile section of the output file; the exit code."""
    return write_report("report_profile", NAME, args, lambda text: build_section(args, text))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; the exit code."""
    p, sub = subcommand_parser(__doc__)

    add_time_child(sub, "report_profile")

    k = sub.add_parser("kiln-result", help="one Kiln run as a JSON line")
    k.add_argument("--rc", type=int, required=True, help="exit code of kiln profile")
    k.add_argument("--stderr", help="file with kiln's stderr")
    k.add_argument("--time-file", required=True, help="'%%e %%M' written by /usr/bin/time")
    k.add_argument("--wall", type=float, help="wall-clock seconds measured around the run")
    k.add_argument("--out", required=True, help="the profile kiln wrote")
    k.add_argument("--rows", type=int, required=True)
    k.add_argument("--columns", type=int, required=True)
    k.add_argument("--version", required=True, help="`kiln --version`")
    k.set_defaults(func=cmd_kiln_result)

    r = sub.add_parser("report", help="write the section of BENCHMARKS.md")
    add_io_args(r)
    r.add_argument("--runs", type=int, default=3, help="alternating runs requested")
    add_machine_args(r)
    r.add_argument("--rustc", default="n/a")
    add_provenance_args(r, "bash bench/profile.sh")
    r.add_argument("--data-json", help="the JSON line printed by bench/profile_data.py")
    r.add_argument("--tfdv-note", default="", help="why TFDV was not measured")
    r.add_argument("--skip-kiln", action="store_true", help="Kiln was not run: show n/a")
    r.set_defaults(func=cmd_report)
    return run_subcommand(p, argv)


if __name__ == "__main__":
    sys.exit(main())
