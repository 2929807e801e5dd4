#!/usr/bin/env python3
"""PyTorch side of the Kiln MLP benchmark.

Measures, on the CPU with 2 intra-op threads (1 inter-op thread):

  (a) training throughput: 1 warm-up epoch, then ``--epochs`` timed epochs
      (default 5), each over freshly shuffled mini-batches of 256 rows (the
      last, partial batch of each epoch is kept); samples/s per epoch is
      rows / epoch wall time, and the median over the timed epochs is reported;
  (b) inference throughput: model.eval() + torch.inference_mode(), batches of
      ``--infer-batch`` rows (default 256) over all rows; 1 untimed warm-up
      pass, then 5 timed passes; the median of rows / pass wall time;
  (c) batch-1 latency: one row, 100 warm-up calls, then 1000 timed calls;
      the median (p50) and 99th percentile (p99, linear interpolation,
      like numpy.percentile) in milliseconds.

Data (deterministic, numpy ``default_rng(seed)``, seed 0 by default), drawn in
this order:
  X     = rng.standard_normal((20000, 64))            (float32)
  W     = rng.standard_normal((64, 10))
  noise = rng.standard_normal((20000, 10)) * 0.5
  y     = argmax(X @ W + noise, axis=1)               (10 classes)

Model: Linear 64->256, ReLU, Dropout 0.1, Linear 256->256, ReLU, Dropout 0.1,
Linear 256->10; cross-entropy loss; Adam, lr 1e-3.

Exactly one JSON object is printed on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

ROWS = 20_000
FEATURES = 64
HIDDEN = 256
CLASSES = 10
THREADS = 2


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    w = rng.standard_normal((FEATURES, CLASSES))
    noise = rng.standard_normal((rows, CLASSES)) * 0.5
    y = np.argmax(x.astype(np.float64) @ w + noise, axis=1).astype(np.int64)
    return x, y


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, HIDDEN),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(HIDDEN, CLASSES),
    )


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int,
    gen: torch.Generator,
) -> tuple[float, float]:
    """One epoch over shuffled mini-batches; returns (seconds, mean loss)."""
    n = x.shape[0]
    start = time.perf_counter()
    perm = torch.randperm(n, generator=gen)
    loss_sum = torch.zeros(())
    for i in range(0, n, batch):
        idx = perm[i : i + batch]
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * idx.shape[0]
    mean_loss = loss_sum.item() / n
    return time.perf_counter() - start, mean_loss


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5, help="timed training epochs (default 5)")
    p.add_argument("--infer-batch", type=int, default=256, help="inference batch size (default 256)")
    p.add_argument("--batch", type=int, default=256, help="training batch size (default 256)")
    p.add_argument("--rows", type=int, default=ROWS, help="synthetic rows (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="data / init seed (default 0)")
    p.add_argument("--infer-repeats", type=int, default=5, help="timed inference passes (default 5)")
    p.add_argument("--latency-warmup", type=int, default=100, help="untimed batch-1 calls (default 100)")
    p.add_argument("--latency-iters", type=int, default=1000, help="timed batch-1 calls (default 1000)")
    args = p.parse_args()
    for name in ("epochs", "infer_batch", "batch", "rows", "infer_repeats", "latency_iters"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.latency_warmup < 0:
        p.error("--latency-warmup must be >= 0")

    # Must happen before any parallel work is started.
    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    log(f"torch {torch.__version__}, numpy {np.__version__}, "
        f"threads intra={torch.get_num_threads()} inter={torch.get_num_interop_threads()}")

    x_np, y_np = make_data(args.rows, args.seed)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    log(f"data: {args.rows} x {FEATURES}, {CLASSES} classes, "
        f"class counts {np.bincount(y_np, minlength=CLASSES).tolist()}")

    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)

    # (a) training
    model.train()
    secs, loss = train_epoch(model, opt, loss_fn, x, y, args.batch, gen)
    log(f"warm-up epoch: {secs:.3f} s, {args.rows / secs:,.0f} samples/s, loss {loss:.4f}")
    train_rates: list[float] = []
    final_loss = loss
    for epoch in range(1, args.epochs + 1):
        secs, final_loss = train_epoch(model, opt, loss_fn, x, y, args.batch, gen)
        train_rates.append(args.rows / secs)
        log(f"epoch {epoch}/{args.epochs}: {secs:.3f} s, {train_rates[-1]:,.0f} samples/s, "
            f"loss {final_loss:.4f}")

    # (b) inference throughput
    model.eval()
    infer_rates: list[float] = []
    with torch.inference_mode():
        for rep in range(args.infer_repeats + 1):  # pass 0 is an untimed warm-up
            start = time.perf_counter()
            for i in range(0, args.rows, args.infer_batch):
                model(x[i : i + args.infer_batch])
            secs = time.perf_counter() - start
            if rep == 0:
                log(f"inference warm-up pass: {args.rows / secs:,.0f} samples/s")
                continue
            infer_rates.append(args.rows / secs)
            log(f"inference pass {rep}/{args.infer_repeats}: {infer_rates[-1]:,.0f} samples/s")

        # (c) batch-1 latency
        row = x[0:1].clone()
        for _ in range(args.latency_warmup):
            model(row)
        lat_ms: list[float] = []
        for _ in range(args.latency_iters):
            t0 = time.perf_counter_ns()
            model(row)
            lat_ms.append((time.perf_counter_ns() - t0) / 1e6)
    lat_ms.sort()
    p50 = percentile(lat_ms, 50)
    p99 = percentile(lat_ms, 99)
    log(f"batch-1 latency over {args.latency_iters} calls: p50 {p50:.4f} ms, p99 {p99:.4f} ms")

    result = {
        "framework": "pytorch",
        "version": torch.__version__,
        "threads": THREADS,
        "train_samples_per_s": statistics.median(train_rates),
        "infer_samples_per_s": statistics.median(infer_rates),
        "batch1_latency_ms_p50": p50,
        "batch1_latency_ms_p99": p99,
        "train_epochs": args.epochs,
        "final_train_loss": final_loss,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
