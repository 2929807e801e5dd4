#!/usr/bin/env python3
"""Report of the serving benchmark, `kiln serve` vs TorchServe vs FastAPI + PyTorch (stdlib only).

Reads the JSON lines written by bench/serve.sh (kinds "check" and "answers" from
bench/serve_torch.py, "wrk" from bench/serve_request.lua, "server" and "versions" from the
script) and writes or replaces the section between <!-- serve:start --> and <!-- serve:end -->
of the output file (appended at the end if the markers are missing). Everything outside the
markers is left untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
from bench_common import (  # noqa: E402
    ReportError, add_io_args, add_machine_args, add_provenance_args, close_section, finite,
    json_lines, machine_line, markers, provenance_lines, write_report,
)

NAME = "serve"
TARGET_RATIO = 10.0  # the target: Kiln >= 10x TorchServe's requests/s, at a lower p99
LABEL = {"kiln": "Kiln (`kiln serve`)", "torchserve": "TorchServe", "fastapi": "FastAPI + PyTorch"}
ORDER = ["kiln", "torchserve", "fastapi"]


def parse(text: str) -> dict[str, list[dict[str, Any]]]:
    """The result objects of `text`, checked, grouped by kind; wrk lines get rps/p50/p99 in ms."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in ("check", "answers", "wrk", "server", "versions")}
    need = {
        "check": ["max_abs_diff", "ok", "rows"],
        "answers": ["server", "ok", "rows"],
        "wrk": ["server", "connections", "threads", "requests", "duration_us", "latency_us", "errors"],
        "server": ["server", "settings"],
        "versions": [],
    }
    for lineno, line, obj in json_lines(text):
        if not isinstance(obj, dict) or obj.get("kind") not in out:
            raise ReportError(f"results line {lineno} is not a result of bench/serve.sh: {line[:200]}")
        missing = [k for k in need[obj["kind"]] if k not in obj]
        if missing:
            raise ReportError(f"results line {lineno} lacks keys {missing}: {line[:200]}")
        if obj["kind"] == "wrk":
            lat, err = obj["latency_us"], obj["errors"]
            if not finite(obj["duration_us"]) or obj["duration_us"] <= 0:
                raise ReportError(f"results line {lineno}: duration_us is not a number > 0")
            for k in ("p50", "p99"):
                if not finite(lat.get(k)):
                    raise ReportError(f"results line {lineno}: latency_us.{k} is not a number")
            obj["rps"] = obj["requests"] / (obj["duration_us"] / 1e6)
            obj["p50_ms"] = lat["p50"] / 1000
            obj["p99_ms"] = lat["p99"] / 1000
            obj["non2xx"] = int(err.get("status", 0))
            obj["socket_errors"] = sum(int(err.get(k, 0)) for k in ("connect", "read", "write", "timeout"))
        out[obj["kind"]].append(obj)
    if not out["wrk"]:
        raise ReportError("no wrk measurements in the results")
    return out


def pick(objs: list[dict[str, Any]], **want: Any) -> list[dict[str, Any]]:
    return [o for o in objs if all(o.get(k) == v for k, v in want.items())]


def fmt_rps(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def fmt_ms(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if v < 1 else (f"{v:.2f}" if v < 100 else f"{v:,.0f}")


def fmt_x(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}×" if v < 10 else f"{v:.1f}×"


def render(args: argparse.Namespace, r: dict[str, list[dict[str, Any]]]) -> str:
    wrk = r["wrk"]
    servers = [s for s in ORDER if pick(wrk, server=s)]
    levels = sorted({o["connections"] for o in wrk})
    versions = r["versions"][0] if r["versions"] else {}
    settings = {o["server"]: o["settings"] for o in r["server"]}
    one = {(o["server"], o["connections"]): o for o in wrk}
    # The measured (server, connections, wrk line)s, by server then concurrency.
    measured = [(s, c, one[(s, c)]) for s in servers for c in levels if (s, c) in one]
    secs = wrk[0].get("seconds", "?")
    warm = wrk[0].get("warmup_seconds", "?")
    check = r["check"][0] if r["check"] else None
    net = (check or {}).get("network") or {}
    shape = net.get("shape") or {}
    net_words = (f"{shape['depth']} hidden layers of {shape['width']}, an ensemble of {shape['ensemble']} "
                 f"members, {net.get('inputs')} inputs, {net.get('outputs')} classes" if shape else "")

    lines = [
        markers(NAME)[0],
        "## Model serving: `kiln serve` vs TorchServe vs FastAPI + PyTorch (CPU)",
        "",
        "Throughput and latency of one-row prediction requests over HTTP. The model: "
        "`kiln train datasets/breast_cancer.csv --target diagnosis --seed 42` (zero-config"
        + (f": {net_words}" if net_words else "") + "). Kiln serves the bundle itself; TorchServe and "
        "FastAPI serve the same model rebuilt in PyTorch (bench/serve_torch.py: the bundle's "
        "preprocessing, network and member averaging, its weights read from the bundle), so all "
        "three compute the same function of the same weights. Each request is one real row of the "
        "data as an Open Inference Protocol v2 body, "
        "`{\"inputs\":[{\"name\":\"input\",\"shape\":[1,30],\"datatype\":\"FP32\",\"data\":[...]}]}` "
        f"({args.body_bytes} bytes; rows {args.rows} of the file, sent round-robin), and each "
        "server answers the class probabilities (Kiln and FastAPI at `/v2/models/breast/infer`, "
        "TorchServe at `/predictions/breast` through its custom handler, all three with an "
        "OIP v2 response body). Load: wrk, closed loop (each connection sends its next request when "
        f"the previous answer arrives), {secs} s per level after a {warm} s warm-up at the same "
        "concurrency, one server at a time.",
        "",
        "| Server | Connections | Requests/s | p50 ms | p99 ms | Non-2xx | Socket errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, c, o in measured:
        lines.append(f"| {LABEL[s]} | {c} | {fmt_rps(o['rps'])} | {fmt_ms(o['p50_ms'])} | "
                     f"{fmt_ms(o['p99_ms'])} | {o['non2xx']:,} | {o['socket_errors']:,} |")

    # Ratios and the target.
    verdicts = []
    if "kiln" in servers and len(servers) > 1:
        peers = [s for s in servers if s != "kiln"]
        head = "| Connections |" + "".join(
            f" Kiln / {LABEL[p]} req/s | Kiln p99 / {LABEL[p]} p99 |" for p in peers)
        if "torchserve" in peers:
            head += f" Target: ≥ {TARGET_RATIO:.0f}× TorchServe's req/s at a lower p99 |"
        lines += ["", head, "| ---: |" + " ---: | ---: |" * len(peers)
                  + (" --- |" if "torchserve" in peers else "")]
        for c in levels:
            k = one.get(("kiln", c))
            row = f"| {c} |"
            for p in peers:
                o = one.get((p, c))
                rps = k["rps"] / o["rps"] if k and o and o["rps"] > 0 else None
                p99 = k["p99_ms"] / o["p99_ms"] if k and o and o["p99_ms"] > 0 else None
                row += f" {fmt_x(rps)} | {fmt_x(p99)} |"
            if "torchserve" in peers:
                o = one.get(("torchserve", c))
                if k and o and o["rps"] > 0:
                    ok_rps = k["rps"] >= TARGET_RATIO * o["rps"]
                    ok_p99 = k["p99_ms"] < o["p99_ms"]
                    clean = k["non2xx"] + k["socket_errors"] == 0
                    ok = ok_rps and ok_p99 and clean
                    verdicts.append((c, ok, k["rps"] / o["rps"], ok_p99, clean))
                    row += " " + ("met" if ok else "not met") + " |"
                else:
                    row += " n/a |"
            lines.append(row)
    lines.append("")
    if verdicts:
        if all(v[1] for v in verdicts):
            lines.append(f"**Target** (Kiln ≥ {TARGET_RATIO:.0f}× TorchServe's throughput at a lower "
                         f"p99, without errors): **met** at every concurrency level "
                         f"({', '.join(f'{v[2]:.1f}× at {v[0]}' for v in verdicts)}).")
        else:
            misses = []
            for c, ok, ratio, ok_p99, clean in verdicts:
                if ok:
                    continue
                why = []
                if ratio < TARGET_RATIO:
                    why.append(f"{ratio:.1f}× the throughput")
                if not ok_p99:
                    why.append("p99 not lower")
                if not clean:
                    why.append("Kiln had errors")
                misses.append(f"{c} connection(s): " + ", ".join(why))
            lines.append(f"**Target** (Kiln ≥ {TARGET_RATIO:.0f}× TorchServe's throughput at a lower "
                         f"p99, without errors): **not met** — " + "; ".join(misses) + ".")
        lines.append("")

    # Settings.
    def setting(s: str, key: str, default: Any = "?") -> Any:
        v = settings.get(s)
        return v.get(key, default) if isinstance(v, dict) else default

    lines.append("- Settings:")
    if "kiln" in servers:
        lines.append(f"  - **Kiln**: `{setting('kiln', 'command', 'kiln serve breast.kiln --port 0')}`, "
                     "every other option at its default (one worker thread per CPU; dynamic batching of "
                     "whatever is queued: `--max-batch 256`, `--max-delay-ms 0`).")
    if "torchserve" in servers:
        w, b, d = setting("torchserve", "workers"), setting("torchserve", "batch_size"), \
            setting("torchserve", "max_batch_delay_ms")
        t = setting("torchserve", "torch_threads")
        lines.append(
            f"  - **TorchServe**: {w} worker(s) (Python processes) with {t} torch thread(s) each, "
            f"server-side batching with `batchSize` {b} and `maxBatchDelay` {d} ms (model-config.yaml "
            "in the archive); token authorisation off, system metrics off, `async_logging=true`, "
            "`job_queue_size=1000`, access log as by default. The handler parses every request of a "
            "batch, runs one forward pass under `torch.inference_mode()` and splits the answers. "
            "Why these: TorchServe's batch aggregator takes the first queued request, then keeps "
            "taking queued ones up to `batchSize` while the delay lasts, and stops as soon as it is "
            "spent — with 0 ms a batch holds at most two requests, while every millisecond of "
            "delay is added to each request at concurrency 1, where nothing else arrives; "
            f"`batchSize` {b} lets one batch take every outstanding request at the highest "
            "concurrency. The Java frontend and wrk need CPU too, so on a 2-CPU machine one "
            "worker with one thread"
            + ("; in a trial on this machine before this run, 1 ms and one worker gave more "
               "requests/s at 64 connections and lower latency at 1 connection than 5 ms or two "
               "workers." if (w, d) == (1, 1) else "."))
    if "fastapi" in servers:
        lines.append(
            f"  - **FastAPI**: uvicorn with {setting('fastapi', 'workers')} worker process(es)"
            + (" (in a trial on this machine, two gave about 1.8× one's requests/s at 64 connections)"
               if setting("fastapi", "workers") == 2 else "") + ", "
            f"{setting('fastapi', 'loop', '?')} event loop and {setting('fastapi', 'http', '?')} "
            f"parser, access log off; an `async` endpoint that parses the body and runs one "
            f"forward pass per request under `torch.inference_mode()` ({setting('fastapi', 'torch_threads')} "
            "torch thread), on the event loop (the ~0.3 ms of work is shorter than a thread hand-off).")

    # Correctness.
    if check:
        lines.append(f"- Same function: the PyTorch model matches `kiln predict`'s probabilities on all "
                     f"{check['rows']} rows of the data to {check['max_abs_diff']:.1e} (Kiln prints 6 "
                     "decimals), checked before anything is served.")
    answers = [a for a in r["answers"] if a.get("max_abs_diff") is not None]
    if answers:
        lines.append("- Same answers: before timing, each server answered every request row and its "
                     "probabilities were compared with the reference (the first server's, Kiln's "
                     "with `kiln predict`'s): " + "; ".join(
                         f"{LABEL.get(a['server'], a['server'])} vs {a.get('reference')}: largest "
                         f"difference {a['max_abs_diff']:.1e}" for a in answers) + " (tolerance 1e-5).")
    lines += [
        "- Load generator: wrk with bench/serve_request.lua (pre-built requests, round-robin over "
        "the rows, keep-alive connections), 2 threads (1 at concurrency 1), `--latency`, "
        "`--timeout 10s`; p50 and p99 are wrk's latency percentiles (time from sending a request "
        "to its complete answer, as seen by the client). Non-2xx: answers with another status; "
        "socket errors: connect, read, write and timeout errors.",
        machine_line(args) + ". wrk runs on the same CPUs as the server under test and takes "
        "part of them, the same for every server.",
    ]
    loads = [o["load1"] for o in wrk if finite(o.get("load1"))]
    if loads:
        lines.append(f"- 1-minute load average at the end of each measured run: {min(loads):.1f}–"
                     f"{max(loads):.1f} on {args.nproc} CPUs. It counts the benchmark's own runnable "
                     "threads (the server's and wrk's), which alone can exceed the CPU count, so it "
                     "cannot tell whether other work shared the machine; the per-run table has each run's.")
    stolen = [o["stolen"] for o in wrk if finite(o.get("stolen"))]
    if stolen:
        lines.append(f"- CPU time the hypervisor gave to other machines during each measured run "
                     f"(steal in /proc/stat, share of all CPU time): {100 * min(stolen):.1f}–"
                     f"{100 * max(stolen):.1f}%. A run with a high share was slowed by the "
                     "machine's neighbours, not by its server; the per-run table has each run's.")
    v = versions
    lines.append(
        f"- Versions: {v.get('kiln', 'Kiln ?')}, {args.rustc}; TorchServe {v.get('torchserve', '?')} "
        f"(torch-model-archiver {v.get('torch-model-archiver', '?')}, {v.get('java', 'Java ?')}); "
        f"FastAPI {v.get('fastapi', '?')}, uvicorn {v.get('uvicorn', '?')} (uvloop {v.get('uvloop', '?')}, "
        f"httptools {v.get('httptools', '?')}); torch {v.get('torch', '?')} (Python {v.get('python', '?')}); "
        f"{v.get('wrk', 'wrk ?')}.")
    lines += provenance_lines(args)
    lines += [
        "| Server | Connections | wrk threads | Requests | Seconds | Requests/s | Mean ms | p50 ms | p90 ms | p99 ms | p99.9 ms | Max ms | Load | Stolen |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, c, o in measured:
        lat = o["latency_us"]
        ms = lambda k: fmt_ms(lat[k] / 1000) if finite(lat.get(k)) else "n/a"  # noqa: E731
        load = f"{o['load1']:.1f}" if finite(o.get("load1")) else "n/a"
        stolen = f"{100 * o['stolen']:.1f}%" if finite(o.get("stolen")) else "n/a"
        lines.append(f"| {LABEL[s]} | {c} | {o['threads']} | {o['requests']:,} | "
                     f"{o['duration_us'] / 1e6:.1f} | {fmt_rps(o['rps'])} | {ms('mean')} | {ms('p50')} | "
                     f"{ms('p90')} | {ms('p99')} | {ms('p999')} | {ms('max')} | {load} | {stolen} |")
    return close_section(lines, NAME)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_io_args(p)
    add_machine_args(p)
    p.add_argument("--rustc", default="n/a")
    p.add_argument("--rows", default="?")
    p.add_argument("--body-bytes", default="?")
    add_provenance_args(p, "bash bench/serve.sh")
    args = p.parse_args(argv)
    return write_report("report_serve", NAME, args, lambda text: render(args, parse(text)))


if __name__ == "__main__":
    sys.exit(main())
