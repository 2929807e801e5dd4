#!/usr/bin/env python3
"""Load test of `kiln serve`: 64 concurrent keep-alive clients for DURATION seconds on loopback,
a new model version dropped into the repository half-way through.

Usage: load.py --kiln KILN --v1 mixed.kiln --v2 mixed_v2.kiln --holdout holdout.csv --workdir DIR
Environment: SERVE_LOAD_SECONDS (default 60), SERVE_LOAD_CLIENTS (default 64).

Asserts: zero failed requests (every response a 200 with label and probabilities equal to
`kiln predict` of the version the response names), version "1" before the drop and "2" for
every request sent after the first "2" answer, the switch within SWITCH_LIMIT_S of the drop,
server RSS after a 10 s warm-up growing by at most max(20%, 32 MiB) to the end,
kiln_requests_total in /metrics, exit 0 within 10 s of SIGTERM.
"""
import argparse
import csv
import http.client
import json
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conformance import Server, kiln_predict, raw  # noqa: E402  (same folder)

MODEL = "mixed"
TOL = 2e-6
WARMUP_S = 10.0
SWITCH_LIMIT_S = 5.0


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def build_bodies(rows, meta, exp1, exp2):
    """A few request bodies (1, 4, 16 and 32 rows, per-column and [N,F] forms) with, for each
    version, the expected labels and probabilities."""
    inputs = meta["inputs"]
    cols = [i["name"] for i in inputs]
    dtype = {i["name"]: i["datatype"] for i in inputs}
    classes = meta["parameters"]["classes"]
    target = meta["parameters"]["target"]
    numeric = [c for c in cols if dtype[c] != "BYTES"]
    complete = [i for i, r in enumerate(rows) if all(r[c] != "" for c in numeric)]
    allrows = list(range(len(rows)))

    def expect(exp, idx):
        return ([exp[i][target] for i in idx], [[exp[i][f"probability_{c}"] for c in classes] for i in idx])

    bodies = []
    for k, (start, n) in enumerate([(0, 1), (5, 4), (10, 16), (30, 32), (3, 1), (50, 8)]):
        idx = complete[start:start + n]
        body = {"id": f"b{k}", "inputs": [
            {"name": c, "shape": [n], "datatype": dtype[c],
             "data": [rows[i][c] if dtype[c] == "BYTES" else float(rows[i][c]) for i in idx]}
            for c in cols]}
        bodies.append((json.dumps(body).encode(), {"1": expect(exp1, idx), "2": expect(exp2, idx)}, f"b{k}"))
    for k, (start, n) in enumerate([(0, 24), (40, 3)]):
        idx = allrows[start:start + n]  # includes rows with empty cells
        body = {"id": f"t{k}", "inputs": [{"name": "input", "shape": [n, len(cols)], "datatype": "BYTES",
                                            "data": [[rows[i][c] for c in cols] for i in idx]}]}
        bodies.append((json.dumps(body).encode(), {"1": expect(exp1, idx), "2": expect(exp2, idx)}, f"t{k}"))
    return bodies, len(classes)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []  # (time, detail)
        self.fail_count = 0
        self.events = []  # (t_sent, t_done, version)
        self.latencies = []

    def fail(self, t, detail):
        with self.lock:
            self.fail_count += 1
            if len(self.failures) < 20:
                self.failures.append((t, detail))


def client_loop(n, host, port, bodies, nclasses, stop_at, t0, stats):
    conn = None
    k = n
    events, lat, ok = [], [], 0
    while True:
        now = time.monotonic()
        if now >= stop_at:
            break
        body, expected, rid = bodies[k % len(bodies)]
        k += 1
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=30)
        t_sent = time.monotonic()
        try:
            conn.request("POST", f"/v2/models/{MODEL}/infer", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except Exception as e:  # connection-level failure
            stats.fail(t_sent - t0, f"client {n}: {type(e).__name__}: {e}")
            conn.close()
            conn = None
            continue
        t_done = time.monotonic()
        if resp.status != 200:
            stats.fail(t_sent - t0, f"client {n}: HTTP {resp.status} {data[:300]!r}")
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
            continue
        try:
            r = json.loads(data)
            ver = str(r["model_version"])
            outs = {o["name"]: o for o in r["outputs"]}
            labels = outs["label"]["data"]
            probs = outs["probabilities"]["data"]
            if probs and isinstance(probs[0], list):
                probs = [x for row in probs for x in row]
            want_l, want_p = expected[ver]
            flat = [x for row in want_p for x in row]
            if r.get("id") != rid:
                raise ValueError(f"id {r.get('id')!r}, sent {rid!r}")
            if labels != want_l or len(probs) != len(flat) or \
                    max(abs(a - b) for a, b in zip(probs, flat)) > TOL:
                raise ValueError(f"version {ver}: got {labels} {probs[:4]}..., kiln predict {want_l} {flat[:4]}...")
        except Exception as e:
            stats.fail(t_sent - t0, f"client {n}: bad response ({type(e).__name__}: {e}): {data[:300]!r}")
            continue
        ok += 1
        events.append((t_sent - t0, t_done - t0, ver))
        lat.append(t_done - t_sent)
    if conn is not None:
        conn.close()
    with stats.lock:
        stats.ok += ok
        stats.events.extend(events)
        stats.latencies.extend(lat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--v1", required=True)
    ap.add_argument("--v2", required=True)
    ap.add_argument("--holdout", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    duration = float(os.environ.get("SERVE_LOAD_SECONDS", "60"))
    nclients = int(os.environ.get("SERVE_LOAD_CLIENTS", "64"))
    failures = []

    def check(cond, name, detail=""):
        print(f"  {'ok  ' if cond else 'FAIL'}  {name}" + ("" if cond else f": {detail}"))
        if not cond:
            failures.append(f"{name}: {detail}")
        return cond

    with open(a.holdout, newline="") as f:
        rows = list(csv.DictReader(f))
    exp1 = kiln_predict(a.kiln, a.v1, a.holdout)
    exp2 = kiln_predict(a.kiln, a.v2, a.holdout)
    differ = sum(1 for x, y in zip(exp1, exp2) if x != y)
    print(f"load: {duration:.0f} s, {nclients} clients; versions 1 and 2 differ on {differ}/{len(rows)} rows")

    repo = os.path.join(a.workdir, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(os.path.join(repo, MODEL, "1"))
    shutil.copyfile(a.v1, os.path.join(repo, MODEL, "1", "model.kiln"))

    srv = Server(a.kiln, [repo], ["--poll-ms", "200"], os.path.join(a.workdir, "serve-load.log"))
    try:
        st, _, b = raw(srv, "GET", f"/v2/models/{MODEL}")
        if not check(st == 200, "model metadata", f"{st} {b[:300]!r}"):
            raise SystemExit(1)
        meta = json.loads(b)
        bodies, nclasses = build_bodies(rows, meta, exp1, exp2)

        stats = Stats()
        t0 = time.monotonic()
        stop_at = t0 + duration
        drop_at = duration / 2
        threads = [threading.Thread(target=client_loop, daemon=True,
                                    args=(n, srv.host, srv.port, bodies, nclasses, stop_at, t0, stats))
                   for n in range(nclients)]
        for t in threads:
            t.start()

        rss = []  # (t, KiB)
        t_drop = None
        next_sample = 0.0
        while True:
            now = time.monotonic() - t0
            if now >= duration:
                break
            if t_drop is None and now >= drop_at:
                tmp = os.path.join(repo, MODEL, ".incoming-2")
                os.makedirs(tmp)
                shutil.copyfile(a.v2, os.path.join(tmp, "model.kiln"))
                os.rename(tmp, os.path.join(repo, MODEL, "2"))
                t_drop = time.monotonic() - t0
                print(f"  t={t_drop:5.1f}s dropped version 2 into {repo}/{MODEL}/2")
            if now >= next_sample:
                v = rss_kib(srv.proc.pid)
                rss.append((now, v))
                next_sample += 1.0
            if srv.proc.poll() is not None:
                break
            time.sleep(0.05)
        for t in threads:
            t.join(60)
        alive = sum(t.is_alive() for t in threads)
        rss.append((time.monotonic() - t0, rss_kib(srv.proc.pid)))
        elapsed = time.monotonic() - t0

        print("\n== results")
        check(srv.proc.poll() is None, "server alive through the load",
              f"exited with {srv.proc.returncode}:\n{srv.stderr_tail()}")
        check(alive == 0, "every client finished", f"{alive} threads still running")
        total = stats.ok + stats.fail_count
        lat = sorted(stats.latencies)
        pct = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: float("nan"))
        print(f"  requests: {total} in {elapsed:.1f} s = {total / elapsed:.0f} req/s "
              f"({stats.ok} ok, {stats.fail_count} failed); latency ms p50 {pct(0.5):.1f} "
              f"p99 {pct(0.99):.1f} max {pct(1.0):.1f}")
        check(stats.fail_count == 0, "zero failed requests",
              f"{stats.fail_count} failed; first ones:\n    " +
              "\n    ".join(f"t={t:.2f}s {d}" for t, d in stats.failures))
        check(total > 0, "requests were served")

        # version switch
        ev = sorted(stats.events)
        before = [e for e in ev if t_drop is not None and e[1] < t_drop]
        check(before and all(v == "1" for _, _, v in before), "version 1 answers every request before the drop",
              f"{sum(v != '1' for _, _, v in before)} of {len(before)} answered another version")
        v2 = [e for e in ev if e[2] == "2"]
        if check(t_drop is not None and v2, "version 2 answers after the drop", "no response named version 2"):
            first2_done = min(e[1] for e in v2)
            first2_sent = min(e[0] for e in v2)
            print(f"  first version-2 answer: sent t={first2_sent:.2f}s, done t={first2_done:.2f}s "
                  f"({first2_done - t_drop:.2f} s after the drop)")
            check(first2_done - t_drop <= SWITCH_LIMIT_S, f"switch within {SWITCH_LIMIT_S:.0f} s of the drop",
                  f"took {first2_done - t_drop:.2f} s")
            late1 = [e for e in ev if e[0] > first2_done and e[2] != "2"]
            check(not late1, "every request sent after the first version-2 answer gets version 2",
                  f"{len(late1)} got version 1, e.g. sent at {[round(e[0], 2) for e in late1[:5]]}")
            n1 = sum(1 for e in ev if e[2] == "1")
            print(f"  answers by version: 1: {n1}, 2: {len(v2)}")

        # memory
        print("  RSS samples (t s: MiB): " + ", ".join(
            f"{t:.0f}: {v / 1024:.1f}" if v is not None else f"{t:.0f}: ?" for t, v in rss))
        warmup = min(WARMUP_S, duration / 2)  # short runs (SERVE_LOAD_SECONDS < 20) warm up for half
        warm = [v for t, v in rss if t >= warmup and v is not None]
        if check(len(warm) >= 2, "RSS sampled after the warm-up", f"{len(warm)} samples"):
            base, end, peak = warm[0], warm[-1], max(warm)
            allowed = max(0.2 * base, 32 * 1024)
            print(f"  RSS at warm-up end {base / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB, "
                  f"peak after warm-up {peak / 1024:.1f} MiB, allowed growth {allowed / 1024:.1f} MiB")
            check(end - base <= allowed, "memory flat after warm-up",
                  f"grew {(end - base) / 1024:.1f} MiB from {base / 1024:.1f} MiB")

        # repository state and metrics
        st, _, b = raw(srv, "GET", f"/v2/models/{MODEL}")
        print(f"  GET /v2/models/{MODEL} -> {st} versions {json.loads(b).get('versions') if st == 200 else b[:200]}")
        st, _, b = raw(srv, "GET", f"/v2/models/{MODEL}/versions/1/ready")
        print(f"  GET /v2/models/{MODEL}/versions/1/ready after the switch -> {st} (version 1 unloaded: {st != 200})")
        st, _, b = raw(srv, "GET", "/metrics")
        text = b.decode(errors="replace")
        if check(st == 200 and "kiln_requests_total" in text, "GET /metrics has kiln_requests_total",
                 f"{st} {text[:300]!r}"):
            counted = 0.0
            for line in text.splitlines():
                if line.startswith("kiln_requests_total"):
                    print(f"    {line}")
                    try:
                        counted += float(line.rsplit(None, 1)[1])
                    except (ValueError, IndexError):
                        pass
            check(counted >= stats.ok, "kiln_requests_total counts at least the successful requests",
                  f"sum {counted:.0f} < {stats.ok}")
    finally:
        rc = srv.stop(10)
        print("\n== shutdown")
        check(rc == 0, "SIGTERM -> exit 0 within 10 s", f"exit code {rc}; stderr tail:\n{srv.stderr_tail()}")

    print(f"\nload: {len(failures)} failed checks")
    for f in failures:
        print(f"  FAIL {f.splitlines()[0]}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
