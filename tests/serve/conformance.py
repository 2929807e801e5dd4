#!/usr/bin/env python3
"""Conformance test of `kiln serve` (Open Inference Protocol v2 + TF Serving REST).

Drives the real server with the `tritonclient` HTTP client and with raw HTTP, on a tabular
model with numeric (FP32) and categorical (BYTES) inputs, and checks every prediction
against `kiln predict` on the same rows.

Usage: conformance.py --kiln KILN --model mixed.kiln --holdout holdout.csv --workdir DIR

Exit status 0 when every check passes, 1 otherwise. Checks marked [ext] cover behaviour the
contract does not spell out (Triton's binary tensor extension, how a missing number is sent
in JSON); their failures are printed as warnings and only fail the run with SERVE_STRICT=1.
"""
import argparse
import csv
import http.client
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
import traceback

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

TOL = 2e-6  # `kiln predict` prints probabilities with 6 decimals
MODEL = "mixed"
STRICT = os.environ.get("SERVE_STRICT", "") == "1"


# ----------------------------------------------------------------------------- reporting
class Report:
    def __init__(self):
        self.passed = 0
        self.failures = []
        self.warnings = []

    def check(self, cond, name, detail="", ext=False):
        if cond:
            self.passed += 1
            print(f"  ok    {name}")
        elif ext and not STRICT:
            self.warnings.append(f"{name}: {detail}")
            print(f"  WARN  [ext] {name}: {detail}")
        else:
            self.failures.append(f"{name}: {detail}")
            print(f"  FAIL  {'[ext] ' if ext else ''}{name}: {detail}")
        return cond

    def section(self, title, fn, *args, ext=False):
        print(f"\n== {title}")
        try:
            fn(*args)
        except Exception as e:  # a crash in one section must not hide the others
            detail = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
            self.check(False, f"{title} (section raised)", detail, ext=ext)


R = Report()


# ----------------------------------------------------------------------------- server
class Server:
    """A `kiln serve` child process; reads the `listening on http://HOST:PORT` line."""

    def __init__(self, kiln, paths, extra, log_path, start_timeout=60):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        cmd = [kiln, "serve", *paths, "--port", "0", *extra]
        print(f"  starting: {' '.join(cmd)}")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        line = b""
        deadline = time.time() + start_timeout
        while not line.endswith(b"\n"):
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None:
                break
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                ch = os.read(self.proc.stdout.fileno(), 1)
                if not ch:
                    break
                line += ch
        text = line.decode(errors="replace").strip()
        prefix = "listening on http://"
        if not text.startswith(prefix):
            self.kill()
            raise RuntimeError(
                f"server did not print '{prefix}HOST:PORT' within {start_timeout}s "
                f"(stdout line: {text!r}, exit code: {self.proc.poll()}); stderr tail:\n{self.stderr_tail()}"
            )
        self.hostport = text[len(prefix):].rstrip("/")
        self.host, port = self.hostport.rsplit(":", 1)
        self.port = int(port)
        print(f"  server pid {self.proc.pid} listening on {self.hostport}")

    def stderr_tail(self, n=30):
        try:
            self.log.flush()
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout=10):
        """SIGTERM; returns the exit code or None if it did not exit in time (then kills)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def raw(server, method, path, body=None, headers=None, timeout=30):
    """One raw HTTP request; returns (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def short(b, n=300):
    s = b.decode(errors="replace") if isinstance(b, (bytes, bytearray)) else str(b)
    return s if len(s) <= n else s[:n] + "..."


# ----------------------------------------------------------------------------- data
def load_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def kiln_predict(kiln, model, csv_path):
    out = subprocess.run([kiln, "predict", model, csv_path, "--json"], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


class Model:
    """What the tests know about the model: columns in metadata order and expectations."""

    def __init__(self, meta, rows, expected):
        self.meta = meta
        self.inputs = meta["inputs"]
        self.columns = [i["name"] for i in self.inputs]
        self.dtype = {i["name"]: i["datatype"] for i in self.inputs}
        self.numeric = [c for c in self.columns if self.dtype[c] != "BYTES"]
        self.categorical = [c for c in self.columns if self.dtype[c] == "BYTES"]
        params = meta.get("parameters", {})
        self.classes = list(params.get("classes", []))
        self.target = params.get("target")
        self.rows = rows
        self.expected = expected  # one dict per row from `kiln predict --json`
        # rows whose numeric cells are all present: these can go in FP32 tensors as JSON
        self.complete = [i for i, r in enumerate(rows) if all(r[c] != "" for c in self.numeric)]
        self.with_missing_number = [i for i in range(len(rows)) if i not in set(self.complete)]

    def exp_label(self, i):
        return self.expected[i][self.target]

    def exp_probs(self, i):
        return [self.expected[i][f"probability_{c}"] for c in self.classes]


def compare(name, model, idx, labels, probs):
    """labels: sequence of str; probs: [n][C]. Checks against `kiln predict` for rows idx."""
    bad = []
    if len(labels) != len(idx) or len(probs) != len(idx):
        R.check(False, name, f"got {len(labels)} labels / {len(probs)} probability rows for {len(idx)} rows")
        return
    worst = 0.0
    for k, i in enumerate(idx):
        lab = labels[k].decode() if isinstance(labels[k], bytes) else str(labels[k])
        p = [float(x) for x in probs[k]]
        e = model.exp_probs(i)
        if len(p) != len(e):
            bad.append(f"row {i}: {len(p)} probabilities, expected {len(e)}")
            continue
        d = max(abs(a - b) for a, b in zip(p, e))
        worst = max(worst, d)
        if lab != model.exp_label(i) or d > TOL or any(math.isnan(x) for x in p):
            bad.append(f"row {i}: got {lab} {p}, kiln predict {model.exp_label(i)} {e} (|diff| {d:.2e})")
    R.check(not bad, f"{name}: {len(idx)} rows equal kiln predict (max |diff| {worst:.1e})",
            "; ".join(bad[:5]) + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""))


def batches(idx, sizes):
    out, k = [], 0
    for s in sizes:
        if k >= len(idx):
            break
        out.append(idx[k:k + s])
        k += s
    if k < len(idx):
        out.append(idx[k:])
    return out


# ----------------------------------------------------------------------------- tritonclient
def tc_per_column_inputs(model, idx, binary=False, shape2d=False, fp64=False, missing_nan=False):
    inputs = []
    for c in model.columns:
        cells = [model.rows[i][c] for i in idx]
        shape = [len(idx), 1] if shape2d else [len(idx)]
        if model.dtype[c] == "BYTES":
            arr = np.array([v.encode() for v in cells], dtype=np.object_).reshape(shape)
            inp = httpclient.InferInput(c, shape, "BYTES")
        else:
            if not missing_nan:
                assert all(v != "" for v in cells)
            vals = [float(v) if v != "" else float("nan") for v in cells]
            dt, np_dt = ("FP64", np.float64) if fp64 else ("FP32", np.float32)
            arr = np.array(vals, dtype=np_dt).reshape(shape)
            inp = httpclient.InferInput(c, shape, dt)
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
    return inputs


def tc_outputs(binary=False):
    return [httpclient.InferRequestedOutput("label", binary_data=binary),
            httpclient.InferRequestedOutput("probabilities", binary_data=binary)]


def tc_result(name, model, idx, res, version="1", request_id=None):
    r = res.get_response()
    R.check(r.get("model_name") == MODEL, f"{name}: model_name", f"got {r.get('model_name')!r}")
    R.check(str(r.get("model_version")) == version, f"{name}: model_version", f"got {r.get('model_version')!r}")
    if request_id is not None:
        R.check(r.get("id") == request_id, f"{name}: id echoed", f"sent {request_id!r}, got {r.get('id')!r}")
    outs = {o["name"]: o for o in r.get("outputs", [])}
    R.check(set(outs) == {"label", "probabilities"}, f"{name}: outputs are label, probabilities",
            f"got {sorted(outs)}")
    if "label" in outs:
        R.check(outs["label"]["datatype"] == "BYTES" and list(outs["label"]["shape"]) == [len(idx)],
                f"{name}: label BYTES [{len(idx)}]", f"got {outs['label'].get('datatype')} {outs['label'].get('shape')}")
    if "probabilities" in outs:
        R.check(outs["probabilities"]["datatype"] == "FP32"
                and list(outs["probabilities"]["shape"]) == [len(idx), len(model.classes)],
                f"{name}: probabilities FP32 [{len(idx)},{len(model.classes)}]",
                f"got {outs['probabilities'].get('datatype')} {outs['probabilities'].get('shape')}")
    labels = res.as_numpy("label")
    probs = res.as_numpy("probabilities")
    if labels is None or probs is None:
        R.check(False, f"{name}: outputs decodable", f"response {short(json.dumps(r))}")
        return
    compare(name, model, idx, list(labels.reshape(-1)), probs.reshape(len(idx), -1).tolist())


def test_tritonclient_health(client):
    R.check(client.is_server_live(), "is_server_live")
    R.check(client.is_server_ready(), "is_server_ready")
    meta = client.get_server_metadata()
    print(f"  server metadata: {meta}")
    R.check(isinstance(meta.get("name"), str) and meta["name"] != "", "server metadata has name", f"{meta}")
    R.check(isinstance(meta.get("version"), str) and meta["version"] != "", "server metadata has version", f"{meta}")
    R.check(isinstance(meta.get("extensions"), list), "server metadata has extensions list (v2 spec)",
            f"{meta}", ext=True)
    R.check(client.is_model_ready(MODEL), "is_model_ready(mixed)")
    R.check(client.is_model_ready(MODEL, "1"), "is_model_ready(mixed, 1)")
    R.check(not client.is_model_ready("no_such_model"), "is_model_ready(no_such_model) is false")
    R.check(not client.is_model_ready(MODEL, "9"), "is_model_ready(mixed, 9) is false")


def test_tritonclient_metadata(client, header, model_holder):
    meta = client.get_model_metadata(MODEL)
    print(f"  model metadata: {json.dumps(meta)}")
    feature_cols = [c for c in header if c != "diagnosis"]
    names = [i.get("name") for i in meta.get("inputs", [])]
    R.check(meta.get("name") == MODEL, "metadata name", f"got {meta.get('name')!r}")
    R.check("1" in [str(v) for v in meta.get("versions", [])], "metadata versions include '1'", f"{meta.get('versions')}")
    R.check(meta.get("platform") == "kiln", "metadata platform kiln", f"{meta.get('platform')!r}")
    R.check(sorted(names) == sorted(feature_cols), "metadata inputs are the feature columns",
            f"got {names}, table has {feature_cols}")
    for i in meta.get("inputs", []):
        want = "BYTES" if i.get("name") in ("size_class", "texture_class") else "FP32"
        R.check(i.get("datatype") == want and list(i.get("shape", [])) == [-1],
                f"input {i.get('name')}: {want} shape [-1]", f"got {i}")
    outs = {o.get("name"): o for o in meta.get("outputs", [])}
    R.check("label" in outs and outs["label"].get("datatype") == "BYTES", "metadata output label BYTES", f"{outs}")
    R.check("probabilities" in outs and outs["probabilities"].get("datatype") == "FP32",
            "metadata output probabilities FP32", f"{outs}")
    p = meta.get("parameters", {})
    R.check(p.get("task") == "classification", "parameters.task classification", f"{p}")
    R.check(p.get("target") == "diagnosis", "parameters.target diagnosis", f"{p}")
    R.check(sorted(p.get("classes", [])) == ["benign", "malignant"], "parameters.classes", f"{p}")
    meta1 = client.get_model_metadata(MODEL, "1")
    R.check(meta1.get("inputs") == meta.get("inputs"), "metadata of version 1 has the same inputs", f"{meta1}")
    model_holder.append(meta)


def test_tritonclient_infer(client, model):
    idx = model.complete
    print(f"  {len(idx)} held-out rows with every number present; "
          f"{len(model.with_missing_number)} with a missing number go through the [N,F] BYTES form")
    for b, part in enumerate(batches(idx, [40, 25, 7])):
        res = client.infer(MODEL, tc_per_column_inputs(model, part), outputs=tc_outputs(),
                           request_id=f"batch-{b}")
        tc_result(f"per-column batch {b}", model, part, res, request_id=f"batch-{b}")
    for i in idx[:5]:
        res = client.infer(MODEL, tc_per_column_inputs(model, [i]), outputs=tc_outputs())
        tc_result(f"single row {i}", model, [i], res)
    part = idx[:16]
    res = client.infer(MODEL, tc_per_column_inputs(model, part, shape2d=True), outputs=tc_outputs())
    tc_result("per-column shape [N,1]", model, part, res)
    res = client.infer(MODEL, tc_per_column_inputs(model, part, fp64=True), outputs=tc_outputs())
    tc_result("per-column FP64 numbers", model, part, res)
    res = client.infer(MODEL, tc_per_column_inputs(model, part), outputs=tc_outputs(), model_version="1")
    tc_result("versions/1/infer", model, part, res)
    # requested outputs filter: only label
    res = client.infer(MODEL, tc_per_column_inputs(model, part),
                       outputs=[httpclient.InferRequestedOutput("label", binary_data=False)])
    names = [o["name"] for o in res.get_response().get("outputs", [])]
    R.check(names == ["label"], "requested outputs [label] -> only label", f"got {names}")


def single_tensor(model, idx, name="input"):
    cells = [[model.rows[i][c] for c in model.columns] for i in idx]
    arr = np.array([[v.encode() for v in row] for row in cells], dtype=np.object_)
    inp = httpclient.InferInput(name, [len(idx), len(model.columns)], "BYTES")
    inp.set_data_from_numpy(arr, binary_data=False)
    return inp


def test_single_tensor(client, model):
    allidx = list(range(len(model.rows)))
    for b, part in enumerate(batches(allidx, [50, 30])):
        res = client.infer(MODEL, [single_tensor(model, part)], outputs=tc_outputs())
        tc_result(f"[N,F] BYTES 'input' batch {b}", model, part, res)
    part = model.with_missing_number
    if part:
        res = client.infer(MODEL, [single_tensor(model, part)], outputs=tc_outputs())
        tc_result("[N,F] BYTES rows with an empty numeric cell", model, part, res)
    res = client.infer(MODEL, [single_tensor(model, allidx[:3], name="whatever")], outputs=tc_outputs())
    tc_result("[N,F] BYTES with another input name", model, allidx[:3], res)


def test_extensions(client, model):
    part = model.complete[:20]
    # tritonclient's defaults: binary tensor data for inputs and outputs (Triton extension)
    try:
        res = client.infer(MODEL, tc_per_column_inputs(model, part, binary=True), outputs=tc_outputs(binary=True))
        tc_result("[ext] binary tensor data in and out (tritonclient defaults)", model, part, res)
    except InferenceServerException as e:
        R.check(False, "binary tensor data (tritonclient defaults)", f"server answered: {e}", ext=True)
    try:
        res = client.infer(MODEL, tc_per_column_inputs(model, part, binary=True))
        R.check(res.as_numpy("label") is not None, "infer with no requested outputs, binary inputs",
                f"{res.get_response()}", ext=True)
    except InferenceServerException as e:
        R.check(False, "infer with no requested outputs, binary inputs", f"server answered: {e}", ext=True)
    # a missing number as NaN in an FP32 tensor (only possible as binary data)
    part = model.with_missing_number
    if part:
        try:
            res = client.infer(MODEL, tc_per_column_inputs(model, part, binary=True, missing_nan=True),
                               outputs=tc_outputs())
            tc_result("[ext] FP32 NaN for a missing number (binary)", model, part, res)
        except InferenceServerException as e:
            R.check(False, "FP32 NaN for a missing number (binary)", f"server answered: {e}", ext=True)


# ----------------------------------------------------------------------------- raw HTTP
def json_infer_body(model, idx, missing_null=False):
    inputs = []
    for c in model.columns:
        cells = [model.rows[i][c] for i in idx]
        if model.dtype[c] == "BYTES":
            data = cells
        else:
            data = [float(v) if v != "" else None for v in cells]
            if not missing_null:
                assert None not in data
        inputs.append({"name": c, "shape": [len(idx)], "datatype": model.dtype[c], "data": data})
    return {"inputs": inputs}


def expect_error(name, status, body, allowed=None, ext=False):
    ok_status = (status in allowed) if allowed else (400 <= status < 500)
    msg = None
    try:
        j = json.loads(body)
        msg = j.get("error") if isinstance(j, dict) else None
    except ValueError:
        pass
    want = f"{sorted(allowed)}" if allowed else "4xx"
    R.check(ok_status and isinstance(msg, str) and msg.strip() != "",
            f"{name} -> {status} {{\"error\": {short(msg or '', 80)!r}}}",
            f"expected {want} with a JSON {{\"error\": non-empty}}; got {status} {short(body)}", ext=ext)


def good_request_still_works(server, model, label):
    idx = model.complete[:4]
    st, _, body = raw(server, "POST", f"/v2/models/{MODEL}/infer", json_infer_body(model, idx))
    ok = st == 200
    if ok:
        r = json.loads(body)
        outs = {o["name"]: o for o in r["outputs"]}
        n = len(model.classes)
        probs = outs["probabilities"]["data"]
        compare(f"good request after {label}", model, idx, outs["label"]["data"],
                [probs[k * n:(k + 1) * n] if not isinstance(probs[0], list) else probs[k] for k in range(len(idx))])
    else:
        R.check(False, f"good request after {label}", f"got {st} {short(body)}")


def test_errors(server, model):
    infer = f"/v2/models/{MODEL}/infer"
    st, _, b = raw(server, "POST", infer, b'{"inputs": [ {"name": ')
    expect_error("malformed JSON", st, b, {400})
    st, _, b = raw(server, "POST", infer, b"")
    expect_error("empty body", st, b)
    st, _, b = raw(server, "POST", infer, {"inputs": "nope"})
    expect_error("inputs not a list", st, b)

    body = json_infer_body(model, model.complete[:3])
    body["inputs"][0]["shape"] = [4]  # 3 values, shape says 4
    st, _, b = raw(server, "POST", infer, body)
    expect_error("shape [4] with 3 values", st, b, {400})
    body = json_infer_body(model, model.complete[:3])
    body["inputs"][0]["shape"] = [2]
    body["inputs"][0]["data"] = body["inputs"][0]["data"][:2]  # 2 rows, the others 3
    st, _, b = raw(server, "POST", infer, body)
    expect_error("columns with different row counts", st, b, {400})
    body = json_infer_body(model, model.complete[:3])
    body["inputs"][0]["shape"] = [1, 3]  # neither [N] nor [N,1]
    st, _, b = raw(server, "POST", infer, body)
    expect_error("per-column shape [1,3]", st, b, {400})
    cells = [[model.rows[i][c] for c in model.columns[:-1]] for i in model.complete[:2]]
    st, _, b = raw(server, "POST", infer, {"inputs": [{"name": "input", "shape": [2, len(model.columns) - 1],
                                                      "datatype": "BYTES", "data": cells}]})
    expect_error("[N,F-1] single tensor", st, b, {400})

    body = json_infer_body(model, model.complete[:3])
    body["inputs"] = body["inputs"][1:]
    st, _, b = raw(server, "POST", infer, body)
    expect_error(f"missing input column {model.columns[0]}", st, b, {400})
    body = json_infer_body(model, model.complete[:3])
    col = model.numeric[0]
    k = model.columns.index(col)
    body["inputs"][k] = {"name": col, "shape": [3], "datatype": "BYTES", "data": ["abc", "1.0", "x"]}
    st, _, b = raw(server, "POST", infer, body)
    expect_error(f"BYTES non-numeric text for numeric {col}", st, b, {400})
    body = json_infer_body(model, model.complete[:3])
    body["inputs"][k]["datatype"] = "FP17"
    st, _, b = raw(server, "POST", infer, body)
    expect_error("unknown datatype FP17", st, b, {400})
    body = json_infer_body(model, model.complete[:3])
    body["inputs"][k]["data"] = ["a", "b", "c"]  # says FP32, holds strings
    st, _, b = raw(server, "POST", infer, body)
    expect_error("FP32 tensor holding strings", st, b, {400})
    body = json_infer_body(model, model.complete[:3])
    cat = model.categorical[0]
    kc = model.columns.index(cat)
    body["inputs"][kc] = {"name": cat, "shape": [3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}
    st, _, b = raw(server, "POST", infer, body)
    # Numbers are read as category text, as `kiln predict` reads a CSV cell; codes never seen in
    # training are answered as no known category and counted in the response's parameters.
    unseen = json.loads(b).get("parameters", {}).get("unseen_categories", {}) if st == 200 else {}
    R.check(st == 200 and unseen.get(cat) == 3,
            f"FP32 for categorical {cat} -> 200, unseen_categories {unseen}",
            f"expected 200 with parameters.unseen_categories[{cat!r}] == 3; got {st} {short(b)}")
    body = json_infer_body(model, model.complete[:3])
    body["outputs"] = [{"name": "no_such_output"}]
    st, _, b = raw(server, "POST", infer, body)
    expect_error("requested output that does not exist", st, b, {400}, ext=True)

    st, _, b = raw(server, "POST", "/v2/models/no_such_model/infer", json_infer_body(model, model.complete[:3]))
    expect_error("infer on unknown model", st, b, {404})
    st, _, b = raw(server, "GET", "/v2/models/no_such_model")
    expect_error("metadata of unknown model", st, b, {404})
    st, _, b = raw(server, "POST", f"/v2/models/{MODEL}/versions/9/infer", json_infer_body(model, model.complete[:3]))
    expect_error("infer on unknown version 9", st, b, {404})
    st, _, b = raw(server, "POST", f"/v2/models/{MODEL}/versions/abc/infer", json_infer_body(model, model.complete[:3]))
    expect_error("infer on version 'abc'", st, b)
    st, _, b = raw(server, "GET", f"/v2/models/{MODEL}/versions/9")
    expect_error("metadata of unknown version 9", st, b, {404})

    # body over --max-body-bytes 65536: a valid request of ~200 kB
    n = 3000
    idx = [model.complete[i % len(model.complete)] for i in range(n)]
    big = json.dumps(json_infer_body(model, idx)).encode()
    assert len(big) > 65536 * 3, len(big)
    try:
        st, _, b = raw(server, "POST", infer, big)
        expect_error(f"body of {len(big)} bytes over --max-body-bytes 65536", st, b, {413})
    except (ConnectionError, http.client.HTTPException) as e:
        R.check(False, "oversized body", f"connection failed instead of a 413 answer: {type(e).__name__}: {e}")
    # just under the limit: still served
    n = 100
    while len(json.dumps(json_infer_body(model, [model.complete[i % len(model.complete)] for i in range(n + 50)]))) < 60000:
        n += 50
    idx = [model.complete[i % len(model.complete)] for i in range(n)]
    body = json.dumps(json_infer_body(model, idx)).encode()
    st, _, b = raw(server, "POST", infer, body)
    R.check(st == 200, f"body of {len(body)} bytes (under --max-body-bytes 65536) -> 200", f"{st} {short(b)}")
    good_request_still_works(server, model, "the error cases")


def test_tf_serving(server, model):
    idx = model.complete[:30]

    def value(i, c):
        v = model.rows[i][c]
        return v if model.dtype[c] == "BYTES" else float(v)

    path = f"/v1/models/{MODEL}:predict"
    inst = [{c: value(i, c) for c in model.columns} for i in idx]
    st, _, b = raw(server, "POST", path, {"instances": inst})
    if R.check(st == 200, "TF instances (objects) -> 200", f"{st} {short(b)}"):
        preds = json.loads(b).get("predictions", [])
        compare("TF instances (objects)", model, idx, [p.get("label") for p in preds],
                [p.get("probabilities") for p in preds])
    inst = [[value(i, c) for c in model.columns] for i in idx]
    st, _, b = raw(server, "POST", path, {"instances": inst})
    if R.check(st == 200, "TF instances (rows) -> 200", f"{st} {short(b)}"):
        preds = json.loads(b).get("predictions", [])
        compare("TF instances (rows)", model, idx, [p.get("label") for p in preds],
                [p.get("probabilities") for p in preds])
    cols = {c: [value(i, c) for i in idx] for c in model.columns}
    st, _, b = raw(server, "POST", path, {"inputs": cols})
    if R.check(st == 200, "TF inputs (columnar) -> 200", f"{st} {short(b)}"):
        o = json.loads(b).get("outputs", {})
        compare("TF inputs (columnar)", model, idx, o.get("label", []), o.get("probabilities", []))
    st, _, b = raw(server, "POST", f"/v1/models/{MODEL}/versions/1:predict",
                   {"instances": [{c: value(i, c) for c in model.columns} for i in idx[:3]]})
    if R.check(st == 200, "TF versions/1:predict -> 200", f"{st} {short(b)}"):
        preds = json.loads(b).get("predictions", [])
        compare("TF versions/1:predict", model, idx[:3], [p.get("label") for p in preds],
                [p.get("probabilities") for p in preds])
    st, _, b = raw(server, "GET", f"/v1/models/{MODEL}")
    R.check(st == 200 and "model_version_status" in short(b, 10000), "GET /v1/models/mixed version status",
            f"{st} {short(b)}")
    st, _, b = raw(server, "POST", "/v1/models/no_such_model:predict", {"instances": inst[:1]})
    expect_error("TF predict on unknown model", st, b, {404})
    st, _, b = raw(server, "POST", path, {"instances": [{"nope": 1}]})
    expect_error("TF instance without the feature columns", st, b, {400})
    # a missing number as JSON null
    part = model.with_missing_number
    if part:
        inst = [{c: (None if model.rows[i][c] == "" else value(i, c)) for c in model.columns} for i in part]
        st, _, b = raw(server, "POST", path, {"instances": inst})
        if R.check(st == 200, "TF instances with null for a missing number -> 200", f"{st} {short(b)}", ext=True):
            preds = json.loads(b).get("predictions", [])
            compare("[ext] TF instances with null for a missing number", model, part,
                    [p.get("label") for p in preds], [p.get("probabilities") for p in preds])
        st, _, b = raw(server, "POST", f"/v2/models/{MODEL}/infer", json_infer_body(model, part, missing_null=True))
        if R.check(st == 200, "v2 FP32 data with null for a missing number -> 200", f"{st} {short(b)}", ext=True):
            r = json.loads(b)
            outs = {o["name"]: o for o in r["outputs"]}
            n = len(model.classes)
            pr = outs["probabilities"]["data"]
            compare("[ext] v2 FP32 null for a missing number", model, part, outs["label"]["data"],
                    [pr[k * n:(k + 1) * n] for k in range(len(part))])


def test_metrics(server):
    st, _, b = raw(server, "GET", "/metrics")
    text = b.decode(errors="replace")
    R.check(st == 200 and "kiln_requests_total" in text, "GET /metrics has kiln_requests_total", f"{st} {short(b)}")


def test_auth(kiln, model_path, model, workdir):
    token = "s3cret-t0ken"
    tok_file = os.path.join(workdir, "token.txt")
    with open(tok_file, "w") as f:
        f.write(token)
    srv = Server(kiln, [model_path], ["--auth-token-file", tok_file], os.path.join(workdir, "serve-auth.log"))
    try:
        for path in ("/v2/health/live", "/v2/health/ready"):
            st, _, b = raw(srv, "GET", path)
            R.check(st == 200, f"GET {path} without a token -> 200", f"{st} {short(b)}")
        body = json_infer_body(model, model.complete[:3])
        for label, hdr in (("no Authorization header", {}),
                           ("wrong token", {"Authorization": "Bearer wrong"}),
                           ("token with a suffix", {"Authorization": f"Bearer {token}x"}),
                           ("Basic scheme", {"Authorization": f"Basic {token}"})):
            st, _, b = raw(srv, "POST", f"/v2/models/{MODEL}/infer", body, headers=hdr)
            expect_error(f"infer with {label}", st, b, {401})
        for path in ("/v2", f"/v2/models/{MODEL}", "/metrics"):
            st, _, b = raw(srv, "GET", path)
            expect_error(f"GET {path} with no token", st, b, {401})
        st, _, b = raw(srv, "POST", f"/v1/models/{MODEL}:predict", {"instances": [{c: model.rows[0][c] for c in model.columns}]})
        expect_error("TF predict with no token", st, b, {401})
        hdr = {"Authorization": f"Bearer {token}"}
        client = httpclient.InferenceServerClient(srv.hostport)
        try:
            R.check(client.is_server_ready(), "tritonclient is_server_ready without a token")
            meta = client.get_model_metadata(MODEL, headers=hdr)
            R.check(meta.get("name") == MODEL, "tritonclient metadata with the token", f"{meta}")
            idx = model.complete[:10]
            res = client.infer(MODEL, tc_per_column_inputs(model, idx), outputs=tc_outputs(), headers=hdr)
            tc_result("tritonclient infer with the token", model, idx, res)
            try:
                client.get_model_metadata(MODEL)
                R.check(False, "tritonclient metadata without the token fails", "it succeeded")
            except InferenceServerException as e:
                R.check("401" in str(e.status()) or "401" in str(e), "tritonclient metadata without the token -> 401",
                        f"{e.status()} {e}")
        finally:
            client.close()
    finally:
        rc = srv.stop()
        R.check(rc == 0, "auth server: SIGTERM -> exit 0 within 10 s", f"exit code {rc}; stderr:\n{srv.stderr_tail()}")


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--holdout", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()

    header, rows = load_rows(a.holdout)
    expected = kiln_predict(a.kiln, a.model, a.holdout)
    assert len(expected) == len(rows), (len(expected), len(rows))
    print(f"conformance: {len(rows)} held-out rows, reference from `kiln predict` ({a.model})")

    srv = Server(a.kiln, [a.model], ["--max-body-bytes", "65536"], os.path.join(a.workdir, "serve-conformance.log"))
    client = httpclient.InferenceServerClient(srv.hostport)
    holder = []
    try:
        R.section("tritonclient: health", test_tritonclient_health, client)
        R.section("tritonclient: model metadata", test_tritonclient_metadata, client, header, holder)
        if not holder:
            raise SystemExit("model metadata unavailable; cannot go on")
        model = Model(holder[0], rows, expected)
        R.check(len(model.classes) == 2, "two classes", f"{model.classes}")
        R.section("tritonclient: infer, one input per column", test_tritonclient_infer, client, model)
        R.section("tritonclient: infer, one [N,F] BYTES input", test_single_tensor, client, model)
        R.section("tritonclient: Triton extensions and missing numbers", test_extensions, client, model, ext=True)
        R.section("raw HTTP: errors", test_errors, srv, model)
        R.section("TF Serving REST", test_tf_serving, srv, model)
        R.section("metrics", test_metrics, srv)
        if srv.proc.poll() is not None:
            R.check(False, "server still running", f"exited with {srv.proc.returncode}:\n{srv.stderr_tail()}")
    finally:
        client.close()
        rc = srv.stop()
        print("\n== shutdown")
        R.check(rc == 0, "SIGTERM -> exit 0 within 10 s", f"exit code {rc}; stderr:\n{srv.stderr_tail()}")
    if holder:
        R.section("auth (--auth-token-file)", test_auth, a.kiln, a.model, model, a.workdir)

    print(f"\nconformance: {R.passed} checks passed, {len(R.failures)} failed, {len(R.warnings)} warnings")
    for w in R.warnings:
        print(f"  WARN {w.splitlines()[0]}")
    for f in R.failures:
        print(f"  FAIL {f.splitlines()[0]}")
    sys.exit(1 if R.failures else 0)


if __name__ == "__main__":
    main()
