#!/usr/bin/env python3
"""A Kiln bundle rebuilt in PyTorch, for the serving benchmark's TorchServe and FastAPI peers.

The module `KilnTorch` is the whole prediction path of `kiln predict` / `kiln serve` for one
row of raw feature values: the bundle's fitted preprocessing (crates/kiln-data/src/preprocess.rs,
`encode_column`: a missing number takes the training median, then standardisation clamped to
±20, or piecewise-linear encoding over the stored `edges`, then the optional "was missing"
input; booleans 0/1, missing 0.5), computed in float64 and cast to float32 as Kiln does; then
the tabular network (crates/kiln-model/src/tabular.rs, `forward` in eval mode: no dropout) and
the member averaging (crates/kiln-train/src/predict.rs, `combine_members`: mean of the
members' softmax probabilities, or of their values unstandardised for regression).
Categorical columns (BYTES inputs) are not implemented: the benchmark's model has none.

Subcommands, normally called by bench/serve.sh:

  export   Reads a bundle (via bench/shap_python.py's reader: KILNMODL, format, manifest JSON,
           safetensors weights, SHA-256) and writes a torch checkpoint (the model's settings and
           its state_dict), which the TorchServe handler and the FastAPI app load.
  check    Compares the checkpoint's probabilities with `kiln predict --json` on every row of a
           CSV (Kiln prints 6 decimals, so the tolerance 1e-5 covers its rounding); prints one
           JSON line, exits 1 above the tolerance.
  bodies   Writes the benchmark's request bodies: one Open Inference Protocol v2 JSON body per
           line, `{"inputs":[{"name":"input","shape":[1,F],"datatype":"FP32","data":[...]}]}`,
           from real rows of the CSV, and `kiln predict`'s probabilities for those rows.
  ask      POSTs every body to a server and compares the class probabilities it returns with a
           reference file (Kiln's server's answers); prints one JSON line, exits 1 above the
           tolerance or on any error.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

FORMAT = "kiln-torch/1"


# --- the model ---------------------------------------------------------------

class KilnTorch(nn.Module):
    """Raw feature rows [N, F] (float) -> probabilities [N, C] (or values [N] for regression)."""

    def __init__(self, spec: dict[str, Any]):
        super().__init__()
        self.spec = spec
        features = spec["features"]
        net = spec["network"]
        shape = net["shape"]
        self.k = int(shape["ensemble"])
        self.depth = int(shape["depth"])
        self.width = int(shape["width"])
        self.outputs = int(net["outputs"])
        self.layer_norm = bool(shape["layer_norm"])
        self.activation = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}[shape["activation"]]
        self.classification = spec["objective"]["kind"] == "classification"
        if not self.classification:
            self.target_mean = float(spec["objective"]["mean"])
            self.target_std = float(spec["objective"]["std"])
        for f in features:
            if f["encoder"]["kind"] == "categorical":
                raise SystemExit(f"serve_torch: column '{f['column']}' is categorical; "
                                 "only numeric and boolean columns are implemented")
        # The common case (every column numeric, standardised, no missing indicator) runs as
        # a few whole-row tensor operations; anything else goes column by column.
        self.simple = all(f["encoder"]["kind"] == "numeric" and len(f["encoder"]["edges"]) < 2
                          and not f["encoder"]["missing_indicator"] for f in features)
        if self.simple:
            enc = [f["encoder"] for f in features]
            self.register_buffer("median", torch.tensor([e["median"] for e in enc], dtype=torch.float64))
            self.register_buffer("mean", torch.tensor([e["mean"] for e in enc], dtype=torch.float64))
            self.register_buffer("std", torch.tensor([e["std"] for e in enc], dtype=torch.float64))
        width_in = sum(encoder_width(f["encoder"]) for f in features)
        if width_in != int(net["inputs"]):
            raise SystemExit(f"serve_torch: the preprocessing gives {width_in} inputs, the network "
                             f"takes {net['inputs']}")
        self.n_features = len(features)
        # burn's Linear stores its weight as [in, out]; kept that way (x @ W + b).
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.zeros(net["inputs"] if i == 0 else self.width, self.width))
             for i in range(self.depth)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(self.width)) for _ in range(self.depth)])
        if self.layer_norm:
            self.gammas = nn.ParameterList([nn.Parameter(torch.ones(self.width)) for _ in range(self.depth)])
            self.betas = nn.ParameterList([nn.Parameter(torch.zeros(self.width)) for _ in range(self.depth)])
        self.adapter = nn.Parameter(torch.ones(self.k, self.width)) if self.k > 1 else None
        self.head_weight = nn.Parameter(torch.zeros(self.k, self.width, self.outputs))
        self.head_bias = nn.Parameter(torch.zeros(self.k, self.outputs))

    def load_kiln_weights(self, weights: dict[str, Any]) -> None:
        """Copies the bundle's safetensors arrays (numpy) into the parameters."""
        def put(param: nn.Parameter, name: str) -> None:
            if name not in weights:
                raise SystemExit(f"serve_torch: the bundle has no weight '{name}' "
                                 f"(it has {sorted(weights)})")
            value = torch.from_numpy(weights[name].copy()).to(torch.float32)
            if tuple(value.shape) != tuple(param.shape):
                raise SystemExit(f"serve_torch: weight '{name}' is {tuple(value.shape)}, "
                                 f"expected {tuple(param.shape)}")
            param.data.copy_(value)

        for i in range(self.depth):
            put(self.weights[i], f"hidden.{i}.linear.weight")
            put(self.biases[i], f"hidden.{i}.linear.bias")
            if self.layer_norm:
                put(self.gammas[i], f"hidden.{i}.norm.gamma")
                put(self.betas[i], f"hidden.{i}.norm.beta")
        if self.adapter is not None:
            put(self.adapter, "adapter")
        put(self.head_weight, "head_weight")
        put(self.head_bias, "head_bias")

    # preprocessing: float64 like Kiln's encode_column, then float32
    def encode(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw.to(torch.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {list(x.shape)}")
        if self.simple:
            x = torch.where(torch.isnan(x), self.median, x)
            return ((x - self.mean) / self.std).clamp(-20.0, 20.0).to(torch.float32)
        cols = []
        for j, f in enumerate(self.spec["features"]):
            e, v = f["encoder"], x[:, j]
            missing = torch.isnan(v)
            if e["kind"] == "numeric":
                v = torch.where(missing, torch.full_like(v, e["median"]), v)
                edges = e["edges"]
                if len(edges) < 2:
                    cols.append(((v - e["mean"]) / e["std"]).clamp(-20.0, 20.0)[:, None])
                else:
                    bins = len(edges) - 1
                    for t in range(bins):
                        lo, hi = edges[t], edges[t + 1]
                        c = (v - lo) / (hi - lo)
                        if t > 0:
                            c = c.clamp(min=0.0)
                        if t + 1 < bins:
                            c = c.clamp(max=1.0)
                        cols.append(c.clamp(-20.0, 20.0)[:, None])
            else:  # boolean: 0/1, missing 0.5
                cols.append(torch.where(missing, torch.full_like(v, 0.5), v)[:, None])
            if e["missing_indicator"]:
                cols.append(missing.to(torch.float64)[:, None])
        return torch.cat(cols, dim=1).to(torch.float32)

    def block(self, i: int, h: torch.Tensor) -> torch.Tensor:
        h = h @ self.weights[i] + self.biases[i]
        if self.layer_norm:  # burn's LayerNorm: epsilon 1e-5
            h = F.layer_norm(h, (self.width,), self.gammas[i], self.betas[i], 1e-5)
        return self.activation(h)

    def members(self, x: torch.Tensor) -> torch.Tensor:
        """Per-member outputs [N, k, outputs] of encoded rows (TabularNet::forward)."""
        h = self.block(0, x)  # [N, width]
        if self.adapter is None:
            for i in range(1, self.depth):
                h = self.block(i, h)
            return (h @ self.head_weight[0] + self.head_bias[0])[:, None, :]
        h = h[:, None, :] * self.adapter[None, :, :]  # [N, k, width]
        for i in range(1, self.depth):
            h = self.block(i, h)
        # per-member heads: [k, N, width] x [k, width, outputs]
        out = torch.matmul(h.transpose(0, 1), self.head_weight) + self.head_bias[:, None, :]
        return out.transpose(0, 1)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        out = self.members(self.encode(raw))
        if self.classification:
            return torch.softmax(out, dim=2).sum(dim=1) / self.k
        z = out[:, :, 0].to(torch.float64).mean(dim=1)
        return (z * self.target_std + self.target_mean).to(torch.float32)


def encoder_width(e: dict[str, Any]) -> int:
    """Network inputs of one column (FeatureEncoder::width)."""
    extra = int(bool(e.get("missing_indicator")))
    if e["kind"] == "numeric":
        return max(len(e["edges"]) - 1, 1) + extra
    if e["kind"] == "boolean":
        return 1 + extra
    return len(e["levels"]) + int(bool(e["other"]))


def spec_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The parts of a bundle's manifest the torch model needs."""
    return {
        "features": manifest["preprocessor"]["features"],
        "network": manifest["network"],
        "objective": manifest["objective"],
        "target": manifest["target"],
    }


def from_bundle(path: str) -> KilnTorch:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for shap_python
    from shap_python import read_bundle

    manifest, weights = read_bundle(path)
    model = KilnTorch(spec_of(manifest))
    model.load_kiln_weights(weights)
    return model.eval()


def load_checkpoint(path: str) -> KilnTorch:
    """The model written by `export` (what the TorchServe handler and the FastAPI app load)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("format") != FORMAT:
        raise SystemExit(f"{path}: not a {FORMAT} checkpoint")
    model = KilnTorch(ckpt["spec"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def classes_of(model: KilnTorch) -> list[str]:
    return list(model.spec["target"].get("classes") or [])


def feature_names(model: KilnTorch) -> list[str]:
    return [f["column"] for f in model.spec["features"]]


# --- the OIP v2 request and response, shared by the TorchServe handler and the FastAPI app ---

def rows_of_request(body: Any, n_features: int) -> torch.Tensor:
    """The [N, F] float32 rows of an OIP v2 infer body with one input of shape [N, F]."""
    if isinstance(body, (bytes, bytearray)):
        body = json.loads(body)
    inputs = body["inputs"]
    if len(inputs) != 1:
        raise ValueError("expected one input of shape [N, F]")
    inp = inputs[0]
    n, f = inp["shape"]
    if f != n_features:
        raise ValueError(f"expected {n_features} features per row, got {f}")
    flat = inp["data"]
    while flat and isinstance(flat[0], list):  # the v2 protocol allows nested row lists too
        flat = [v for row in flat for v in row]
    data = [math.nan if v is None else v for v in flat]
    # FP32 on the wire: the values are rounded to float32 first, as any v2 server reads them.
    return torch.tensor(data, dtype=torch.float32).reshape(n, f)


def response_of(model_name: str, probs: torch.Tensor, classes: list[str],
                request_id: str | None = None) -> dict[str, Any]:
    """An OIP v2 infer response with "label" and "probabilities" (as `kiln serve`)."""
    n = probs.shape[0]
    if probs.ndim == 2:
        labels = [classes[i] for i in probs.argmax(dim=1).tolist()]
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [n], "data": labels},
            {"name": "probabilities", "datatype": "FP32", "shape": [n, probs.shape[1]],
             "data": probs.reshape(-1).tolist()},
        ]
    else:
        outputs = [{"name": "prediction", "datatype": "FP32", "shape": [n], "data": probs.tolist()}]
    out: dict[str, Any] = {"model_name": model_name, "model_version": "1", "outputs": outputs}
    if request_id is not None:
        out["id"] = request_id
    return out


# --- CSV rows ----------------------------------------------------------------

def read_rows(path: str, names: list[str]) -> list[list[float]]:
    """The feature values of every row of a CSV, in `names` order (empty cells: NaN)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = []
        for rec in reader:
            rows.append([float(rec[c]) if rec[c].strip() else math.nan for c in names])
    return rows


def parse_rows(spec: str, n: int) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    bad = [r for r in out if r >= n]
    if bad:
        raise SystemExit(f"serve_torch: rows {bad} are beyond the {n} rows of the data")
    return out


# --- subcommands -------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    model = from_bundle(args.model)
    torch.save({"format": FORMAT, "spec": model.spec, "state_dict": model.state_dict()}, args.out)
    print(json.dumps({"kind": "export", "model": args.model, "out": args.out,
                      "parameters": sum(p.numel() for p in model.parameters())}))
    return 0


def kiln_probabilities(kiln: str, model: str, data: str, classes: list[str]) -> list[list[float]]:
    out = subprocess.run([kiln, "predict", model, data, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return [[float(r[f"probability_{c}"]) for c in classes] for r in json.loads(out)]


def cmd_check(args: argparse.Namespace) -> int:
    model = load_checkpoint(args.checkpoint)
    classes = classes_of(model)
    rows = read_rows(args.data, feature_names(model))
    x = torch.tensor(rows, dtype=torch.float64)  # CSV values, read as Kiln reads them (f64)
    with torch.inference_mode():
        mine = model(x).to(torch.float64)
    ref = torch.tensor(kiln_probabilities(args.kiln, args.model, args.data, classes), dtype=torch.float64)
    worst = float((mine - ref).abs().max())
    print(json.dumps({"kind": "check", "against": "kiln predict", "rows": len(rows),
                      "max_abs_diff": worst, "tolerance": args.tolerance,
                      "ok": worst <= args.tolerance, "network": model.spec["network"],
                      "torch": torch.__version__}))
    if worst > args.tolerance:
        print(f"serve_torch check: the torch model differs from `kiln predict` by {worst:.3g} "
              f"(> {args.tolerance:g})", file=sys.stderr)
        return 1
    return 0


def cmd_bodies(args: argparse.Namespace) -> int:
    model = load_checkpoint(args.checkpoint)
    rows = read_rows(args.data, feature_names(model))
    picked = parse_rows(args.rows, len(rows))
    with open(args.out, "w", encoding="utf-8") as f:
        for r in picked:
            data = [None if math.isnan(v) else v for v in rows[r]]
            body = {"inputs": [{"name": "input", "shape": [1, len(data)], "datatype": "FP32", "data": data}]}
            f.write(json.dumps(body, separators=(",", ":")) + "\n")
    if args.answers:
        # `kiln predict`'s probabilities for these rows (6 decimals): the reference of Kiln's server.
        probs = kiln_probabilities(args.kiln, args.model, args.data, classes_of(model))
        with open(args.answers, "w", encoding="utf-8") as f:
            json.dump({"server": "kiln predict", "rows": picked, "answers": [probs[r] for r in picked]}, f)
    print(json.dumps({"kind": "bodies", "rows": picked, "out": args.out,
                      "bytes": os.path.getsize(args.out) // max(len(picked), 1)}))
    return 0


def probabilities_of(resp: dict[str, Any]) -> list[float]:
    for out in resp["outputs"]:
        if out["name"] in ("probabilities", "prediction"):
            return [float(v) for v in out["data"]]
    raise ValueError(f"no probabilities in the response: {json.dumps(resp)[:300]}")


def cmd_ask(args: argparse.Namespace) -> int:
    with open(args.bodies, encoding="utf-8") as f:
        bodies = [line.strip() for line in f if line.strip()]
    answers, errors = [], []
    for body in bodies:
        req = urllib.request.Request(args.url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                answers.append(probabilities_of(json.loads(resp.read())))
        except Exception as e:  # noqa: BLE001 - reported, then the benchmark stops
            detail = e.read().decode(errors="replace")[:300] if hasattr(e, "read") else ""
            errors.append(f"{type(e).__name__}: {e} {detail}".strip())
            answers.append([])
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump({"server": args.label, "url": args.url, "answers": answers}, f)
    worst = None
    if args.reference and not errors:
        with open(args.reference, encoding="utf-8") as f:
            ref = json.load(f)["answers"]
        if len(ref) != len(answers) or any(len(a) != len(b) for a, b in zip(ref, answers)):
            errors.append("the answers have another shape than the reference's")
        else:
            worst = max(abs(a - b) for ra, rb in zip(ref, answers) for a, b in zip(ra, rb))
    ok = not errors and (worst is None or worst <= args.tolerance)
    print(json.dumps({"kind": "answers", "server": args.label, "rows": len(bodies),
                      "reference": args.reference_label if args.reference else None,
                      "max_abs_diff": worst, "tolerance": args.tolerance, "ok": ok,
                      "errors": errors[:5], "example": answers[0] if answers else None}))
    if not ok:
        print(f"serve_torch ask: {args.label} at {args.url}: "
              + ("; ".join(errors[:3]) if errors else
                 f"answers differ from {args.reference_label}'s by {worst:.3g} (> {args.tolerance:g})"),
              file=sys.stderr)
        return 1
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """Waits until a POST of the first body to --url answers 200 (a server's readiness)."""
    with open(args.bodies, encoding="utf-8") as f:
        body = f.readline().strip().encode()
    deadline = time.monotonic() + args.timeout
    last = ""
    while time.monotonic() < deadline:
        req = urllib.request.Request(args.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return 0
        except Exception as e:  # noqa: BLE001 - not up yet
            last = str(e)
        time.sleep(0.25)
    print(f"serve_torch wait: {args.url} did not answer within {args.timeout:g} s ({last})", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    # Imported here: the TorchServe archive carries this file without bench_common.py.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_common
    from bench_common import run_subcommand, subcommand_parser

    p, sub = subcommand_parser(__doc__)

    e = sub.add_parser("export", help="write the torch checkpoint of a bundle")
    e.add_argument("--model", required=True, help="the Kiln bundle")
    e.add_argument("--out", required=True, help="the checkpoint (.pt)")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("check", help="compare the torch model with `kiln predict`")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--model", required=True, help="the Kiln bundle")
    c.add_argument("--data", required=True)
    c.add_argument("--kiln", required=True, help="the kiln binary")
    c.add_argument("--tolerance", type=float, default=1e-5)
    c.set_defaults(func=cmd_check)

    b = sub.add_parser("bodies", help="write the request bodies, one JSON per line")
    b.add_argument("--checkpoint", required=True)
    b.add_argument("--data", required=True)
    b.add_argument("--rows", default="0-7", help="data rows (0-based), e.g. 0-7 or 0,5,19")
    b.add_argument("--out", required=True)
    b.add_argument("--answers", help="also write `kiln predict`'s probabilities of the rows here")
    b.add_argument("--kiln", help="the kiln binary (with --answers)")
    b.add_argument("--model", help="the Kiln bundle (with --answers)")
    b.set_defaults(func=cmd_bodies)

    a = sub.add_parser("ask", help="POST every body to a server; compare with a reference")
    a.add_argument("--url", required=True)
    a.add_argument("--bodies", required=True)
    a.add_argument("--label", required=True)
    a.add_argument("--save", help="write the answers here")
    a.add_argument("--reference", help="answers file of the reference server")
    a.add_argument("--reference-label", default="kiln")
    a.add_argument("--tolerance", type=float, default=1e-5)
    a.set_defaults(func=cmd_ask)

    w = sub.add_parser("wait", help="wait until a server answers the first body")
    w.add_argument("--url", required=True)
    w.add_argument("--bodies", required=True)
    w.add_argument("--timeout", type=float, default=120)
    w.set_defaults(func=cmd_wait)
    return run_subcommand(p, argv)


if __name__ == "__main__":
    sys.exit(main())
