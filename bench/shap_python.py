#!/usr/bin/env python3
"""The Python side of the SHAP benchmark: shap's KernelExplainer on a Kiln network in numpy.

Three subcommands, all normally called by bench/shap.sh:

  check    Rebuilds the network of a Kiln bundle in numpy (its safetensors weights read
           from the bundle file) and compares its class probabilities with Kiln's own, for
           every encoded row of the data and every background row, as written by
           `kiln-shap prepare`. Prints one JSON line; exits 1 if the largest difference
           exceeds --tolerance (1e-5), so nothing is timed on a wrong network.

  run      Times shap.KernelExplainer on the rows and background of `kiln-shap prepare`
           (identical encoded rows; identical background rows and weights, given as a
           weighted shap DenseData), with the numpy network as the model,
           `shap_values(X, nsamples=N, l1_reg=0, silent=True)`. The numpy forward is timed
           separately (rows, calls, seconds). Writes the attributions in Kiln's layout to
           --out and prints one JSON line.

  profile  The numpy network's speed on 32,768 rows of the benchmark and one of its hidden
           layers alone: the counterpart of `kiln-shap profile`. Prints one JSON line.

  compare  The largest and mean absolute difference between two attribution files
           (`kiln-shap run --out` or `run --out` above), over rows, features and outputs.
           Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import time
from typing import Any

import numpy as np

WARMUP_ROWS = 4096  # the untimed warm-up prediction, as on Kiln's side
CHUNK_ROWS = 2048  # rows per forward pass (Kiln's PREDICT_BATCH)


# --- the network -------------------------------------------------------------

def read_bundle(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and the weights of a Kiln bundle (KILNMODL, version, manifest, safetensors, SHA-256)."""
    import hashlib

    from safetensors.numpy import load

    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"KILNMODL":
        raise SystemExit(f"{path}: not a Kiln bundle")
    (version,) = struct.unpack("<I", data[8:12])
    if version != 1:
        raise SystemExit(f"{path}: bundle format {version}, this script reads format 1")
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise SystemExit(f"{path}: checksum mismatch")
    (mlen,) = struct.unpack("<Q", data[12:20])
    manifest = json.loads(data[20:20 + mlen])
    at = 20 + mlen
    (wlen,) = struct.unpack("<Q", data[at:at + 8])
    weights = load(data[at + 8:at + 8 + wlen])
    # A tabular network's weights are stored under its variant of Kiln's network enum.
    weights = {k.removeprefix("Tabular."): v for k, v in weights.items()}
    return manifest, weights


class Network:
    """Kiln's TabularNet at inference (crates/kiln-model/src/tabular.rs), in float32 numpy.

    Shared first layer; then each of the `ensemble` members scales the hidden features by its
    ±1 adapter row; shared hidden layers; per-member heads. Dropout is off at inference.
    Classification: the mean over members of each member's softmax (as combine_members in
    crates/kiln-train/src/predict.rs). burn's Linear stores its weight as [in, out].
    """

    def __init__(self, manifest: dict[str, Any], weights: dict[str, np.ndarray]):
        net = manifest["network"]
        shape = net["shape"]
        if shape["activation"] != "relu" or shape["layer_norm"]:
            raise SystemExit("the numpy network implements relu without layer norm only")
        if manifest["objective"]["kind"] != "classification":
            raise SystemExit("the numpy network implements classifiers only")
        self.inputs = net["inputs"]
        self.outputs = net["outputs"]
        self.k = shape["ensemble"]
        self.layers = [
            (weights[f"hidden.{i}.linear.weight"], weights[f"hidden.{i}.linear.bias"])
            for i in range(shape["depth"])
        ]
        self.adapter = weights.get("adapter")  # [k, width], absent for one member
        self.head_weight = weights["head_weight"]  # [k, width, outputs]
        self.head_bias = weights["head_bias"]  # [k, outputs]

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        w0, b0 = self.layers[0]
        h = np.maximum(x @ w0 + b0, 0.0)  # [B, width]
        if self.adapter is None:
            for w, b in self.layers[1:]:
                h = np.maximum(h @ w + b, 0.0)
            logits = (h @ self.head_weight[0] + self.head_bias[0])[:, None, :]
        else:
            rows, width = h.shape
            h = (h[:, None, :] * self.adapter[None, :, :]).reshape(rows * self.k, width)
            for w, b in self.layers[1:]:
                h = np.maximum(h @ w + b, 0.0)
            h = h.reshape(rows, self.k, width).transpose(1, 0, 2)  # [k, B, width]
            logits = (np.matmul(h, self.head_weight) + self.head_bias[:, None, :]).transpose(1, 0, 2)
        e = np.exp(logits - logits.max(axis=2, keepdims=True))
        p = e / e.sum(axis=2, keepdims=True)  # [B, k, outputs]
        return p.sum(axis=1, dtype=np.float32) / np.float32(self.k)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities [rows, outputs] (float64) of encoded rows [rows, inputs]."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        out = np.empty((x.shape[0], self.outputs), dtype=np.float64)
        for s in range(0, x.shape[0], CHUNK_ROWS):
            out[s:s + CHUNK_ROWS] = self._chunk(x[s:s + CHUNK_ROWS])
        return out


class TimedModel:
    """A callable model that times its own calls (seconds, rows, calls)."""

    def __init__(self, net: Network):
        self.net = net
        self.seconds = 0.0
        self.rows = 0
        self.calls = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        out = self.net(x)
        self.seconds += time.perf_counter() - t
        self.rows += int(np.shape(x)[0]) if np.ndim(x) == 2 else 1
        self.calls += 1
        return out


def f32_matrix(rows: list[list[float]]) -> np.ndarray:
    """Kiln's f32 values (written as shortest round-trip decimals) as float32, bit for bit."""
    return np.asarray(rows, dtype=np.float64).astype(np.float32)


def library_versions() -> dict[str, str]:
    """Versions of shap, numpy and the BLAS behind numpy (and its threads)."""
    import shap

    out = {"shap": shap.__version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        # numpy's own BLAS (scipy, imported by shap, may load another copy).
        blas.sort(key=lambda i: "numpy" not in str(i.get("filepath", "")))
        if blas:
            out["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')}"
            out["blas_threads"] = str(blas[0].get("num_threads"))
    except Exception:  # threadpoolctl is optional for the numbers themselves
        pass
    return out


# --- check -------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    manifest, weights = read_bundle(args.model)
    net = Network(manifest, weights)
    with open(args.prep, encoding="utf-8") as f:
        prep = json.load(f)
    diffs = []
    for x, p in [(prep["check"]["x"], prep["check"]["predictions"]),
                 (prep["background"]["values"], prep["background"]["predictions"])]:
        mine = net(f32_matrix(x))
        diffs.append(float(np.max(np.abs(mine - np.asarray(p, dtype=np.float64)))))
    worst = max(diffs)
    rows = len(prep["check"]["x"]) + len(prep["background"]["values"])
    print(json.dumps({
        "kind": "check", "model": args.label, "rows": rows,
        "max_abs_diff": worst, "tolerance": args.tolerance, "ok": worst <= args.tolerance,
        "network": manifest["network"],
    }))
    if worst > args.tolerance:
        print(f"shap_python check: the numpy network differs from Kiln's by {worst:.3g} "
              f"(> {args.tolerance:g}) on {args.model}", file=sys.stderr)
        return 1
    return 0


# --- run ---------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    import shap
    from shap.utils._legacy import DenseData

    manifest, weights = read_bundle(args.model)
    model = TimedModel(Network(manifest, weights))
    with open(args.prep, encoding="utf-8") as f:
        prep = json.load(f)
    names = prep["features"]
    sources = prep["input_sources"]
    groups = [np.array([i for i, s in enumerate(sources) if s == g]) for g in range(len(names))]
    x = f32_matrix(prep["x"])
    background = f32_matrix(prep["background"]["values"])
    bg_weights = np.asarray(prep["background"]["weights"], dtype=np.float64)
    outputs = prep["outputs"]

    # Warm-up: one untimed prediction of WARMUP_ROWS rows (the background, repeated).
    reps = -(-WARMUP_ROWS // background.shape[0])
    model.net(np.tile(background, (reps, 1))[:WARMUP_ROWS])

    np.random.seed(args.seed)
    t0 = time.perf_counter()
    # The same rows and weights as Kiln's background; shap normalises the weights.
    data = DenseData(background, names, groups, bg_weights.copy())
    explainer = shap.KernelExplainer(model, data)
    t1 = time.perf_counter()
    values = explainer.shap_values(x, nsamples=args.samples, l1_reg=0, silent=True)
    t2 = time.perf_counter()

    values = np.asarray(values)  # [rows, features, outputs] (shap >= 0.45) or [outputs, rows, features]
    if values.shape != (x.shape[0], len(names), outputs):
        values = np.stack(list(values), axis=-1) if isinstance(values, list) else values
    if values.shape != (x.shape[0], len(names), outputs):
        raise SystemExit(f"unexpected shap_values shape {values.shape}")
    base = np.asarray(explainer.expected_value, dtype=np.float64).reshape(outputs)
    predictions = model.net(x)
    players = [int(len(explainer.varying_groups(x[i:i + 1]))) for i in range(x.shape[0])]
    explained = [
        {"row": r, "base": base.tolist(), "values": values[i].reshape(-1).tolist(),
         "prediction": predictions[i].tolist()}
        for i, r in enumerate(prep["rows"])
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"tool": "shap", "method": "kernel", "samples": args.samples,
                   "features": names, "outputs": outputs, "rows": explained}, f)

    rows = x.shape[0]
    total = t2 - t0
    libs = library_versions()
    print(json.dumps({
        "kind": "timing",
        "tool": "shap",
        "version": f"shap {libs['shap']}",
        "libs": libs,
        "model": args.label,
        "method": "kernel",
        "samples": args.samples,
        "sample_seed": args.seed,
        "background": int(background.shape[0]),
        "features": len(names),
        "players": players,
        "rows": rows,
        "total_s": total,
        "init_s": t1 - t0,
        "per_row_s": total / rows,
        "model_s": model.seconds,
        "model_rows": model.rows,
        "model_calls": model.calls,
        "model_rows_per_s": model.rows / max(model.seconds, 1e-12),
        "overhead_s": total - model.seconds,
        "load1": os.getloadavg()[0],
    }))
    return 0


# --- profile -----------------------------------------------------------------

def median_seconds(repeats: int, f) -> float:
    """Median seconds of `repeats` calls of `f`, after one untimed call."""
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def cmd_profile(args: argparse.Namespace) -> int:
    """The numpy side of `kiln-shap profile`: the same rows, the same layer shapes."""
    manifest, weights = read_bundle(args.model)
    net = Network(manifest, weights)
    with open(args.prep, encoding="utf-8") as f:
        prep = json.load(f)
    background = f32_matrix(prep["background"]["values"])
    batch = 2048
    rows = 16 * batch
    x = np.tile(background, (-(-rows // background.shape[0]), 1))[:rows]
    predict = median_seconds(5, lambda: net(x))
    forward = median_seconds(9, lambda: net(x[:batch]))
    shape = manifest["network"]["shape"]
    k, width, depth = shape["ensemble"], shape["width"], shape["depth"]
    i = np.arange(batch * k * width)
    h2 = (((i * 7919) % 1000) / 1000.0).astype(np.float32).reshape(batch * k, width)
    j = np.arange(width * width)
    w = (((j * 104_729) % 1000) / 1000.0 - 0.5).astype(np.float32).reshape(width, width)
    b = np.zeros(width, dtype=np.float32)
    hidden_2d = median_seconds(9, lambda: h2 @ w + b)
    macs = prep["width"] * width + k * (depth - 1) * width * width + k * width * net.outputs
    print(json.dumps({
        "kind": "profile",
        "tool": "shap",
        "multiply_adds_per_row": macs,
        "predict_rows_per_s": rows / predict,
        "predict_gflops": 2 * macs * rows / predict / 1e9,
        "forward_rows_per_s": batch / forward,
        "forward_gflops": 2 * macs * batch / forward / 1e9,
        "hidden_2d_s": hidden_2d,
        "hidden_2d_gflops": 2 * batch * k * width * width / hidden_2d / 1e9,
        "batch": batch,
        "ensemble": k,
        "width": width,
        "load1": os.getloadavg()[0],
    }))
    return 0


# --- compare -----------------------------------------------------------------

def load_attributions(path: str) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return doc, {r["row"]: r for r in doc["rows"]}


def cmd_compare(args: argparse.Namespace) -> int:
    ref_doc, ref = load_attributions(args.reference)
    cand_doc, cand = load_attributions(args.candidate)
    if ref_doc["features"] != cand_doc["features"] or sorted(ref) != sorted(cand):
        raise SystemExit(f"{args.reference} and {args.candidate} explain different features or rows")
    diffs, gaps, pred = [], [], []
    for r in sorted(ref):
        a = np.asarray(ref[r]["values"], dtype=np.float64)
        b = np.asarray(cand[r]["values"], dtype=np.float64)
        diffs.append(np.abs(a - b))
        pred.append(float(np.max(np.abs(np.asarray(ref[r]["prediction"]) - np.asarray(cand[r]["prediction"])))))
        o = len(cand[r]["base"])
        gaps.append(float(np.max(np.abs(
            np.asarray(cand[r]["base"]) + b.reshape(-1, o).sum(axis=0) - np.asarray(cand[r]["prediction"])))))
    d = np.concatenate(diffs)
    print(json.dumps({
        "kind": "error",
        "model": args.label,
        "reference": args.reference_label,
        "tool": args.tool,
        "samples": args.samples,
        "rows": len(ref),
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "max_abs_reference": float(max(np.abs(np.asarray(ref[r]["values"])).max() for r in ref)),
        "max_prediction_diff": max(pred),
        "max_local_accuracy_gap": max(gaps),
    }))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("check", help="compare the numpy network with Kiln's predictions")
    c.add_argument("--model", required=True, help="the Kiln bundle")
    c.add_argument("--prep", required=True, help="the JSON written by `kiln-shap prepare`")
    c.add_argument("--label", default="", help="the model's name in the report")
    c.add_argument("--tolerance", type=float, default=1e-5)
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("run", help="time shap's KernelExplainer")
    r.add_argument("--model", required=True)
    r.add_argument("--prep", required=True)
    r.add_argument("--label", default="")
    r.add_argument("--samples", type=int, required=True, help="shap's nsamples")
    r.add_argument("--seed", type=int, default=42, help="numpy's global seed")
    r.add_argument("--out", required=True, help="where to write the attributions")
    r.set_defaults(func=cmd_run)

    f = sub.add_parser("profile", help="the numpy network's speed on the benchmark's rows")
    f.add_argument("--model", required=True)
    f.add_argument("--prep", required=True)
    f.set_defaults(func=cmd_profile)

    m = sub.add_parser("compare", help="the largest difference between two attribution files")
    m.add_argument("--reference", required=True)
    m.add_argument("--candidate", required=True)
    m.add_argument("--label", default="")
    m.add_argument("--reference-label", default="exact")
    m.add_argument("--tool", required=True)
    m.add_argument("--samples", type=int, default=0)
    m.set_defaults(func=cmd_compare)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
