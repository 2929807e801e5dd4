#!/usr/bin/env python3
"""PyTorch side of the Kiln CNN benchmark.

Measures, on the CPU with 2 intra-op threads (1 inter-op thread), on the first
``--rows`` training images of Fashion-MNIST (default 10,000):

  (a) training throughput: 1 warm-up epoch, then ``--epochs`` timed epochs
      (default 2), each over freshly shuffled (seeded) mini-batches of
      ``--batch`` images (default 128; the last, partial batch of each epoch
      is kept); samples/s per epoch is rows / epoch wall time, and the median
      over the timed epochs is reported;
  (b) inference throughput: model.eval() + torch.inference_mode(), batches of
      1,000 images over all rows; 1 untimed warm-up pass, then 3 timed passes;
      the median of rows / pass wall time;
  (c) the final training loss: the mean loss over the last timed epoch.

Data: ``--data DIR`` holds the IDX files ``train-images-idx3-ubyte.gz`` and
``train-labels-idx1-ubyte.gz`` (read with gzip + numpy). Pixels are floats
0..255 standardised as (x - mean) / std with the mean and standard deviation
of the subset's pixels.

Models (``--model``):
  reference  the "2-conv CNN": Conv2d(1,32,3) ReLU, Conv2d(32,64,3) ReLU,
             MaxPool2d(2), flatten (64*12*12 = 9216), Linear(9216,128) ReLU,
             Linear(128,10); no dropout, no batch norm.
  kiln       Kiln's own CNN (kiln_model::ConvNet), given by --stages,
             --convs-per-stage, --hidden and --dropout (bench/cnn.sh passes
             the `[image]` section of `kiln config`): for each stage of C
             channels, --convs-per-stage times [Conv2d(in, C, 3, padding=1,
             bias=False), BatchNorm2d(C), ReLU], then MaxPool2d(2); flatten;
             Dropout(p); if hidden > 0: Linear(features, hidden), ReLU,
             Dropout(p); Linear(-> classes).
Cross-entropy loss; Adam, lr 1e-3, no weight decay.

Exactly one JSON object is printed on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

THREADS = 2
INFER_BATCH = 1000
INFER_REPEATS = 3


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def read_idx(path: str) -> np.ndarray:
    """The array in the (gzipped) IDX file at `path`: 4 magic bytes (0, 0, dtype code,
    number of dimensions), then each dimension as a big-endian u32, then the values."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic bytes)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: IDX type 0x{raw[2]:02x} is not unsigned bytes")
    ndim = raw[3]
    dims = [int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} values, but the header says {dims}")
    return data.reshape(dims)


def find(folder: str, name: str) -> str:
    """`folder/name.gz`, or `folder/name` where that is not there."""
    for candidate in (os.path.join(folder, name + ".gz"), os.path.join(folder, name)):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"no {name}[.gz] in {folder}")


def load(folder: str, rows: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first `rows` training images (N x 1 x H x W uint8), their labels, and the
    number of classes (1 + the largest training label)."""
    images = read_idx(find(folder, "train-images-idx3-ubyte"))
    labels = read_idx(find(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images {images.shape} and labels {labels.shape} do not match")
    if rows > images.shape[0]:
        raise ValueError(f"--rows {rows}: the data has only {images.shape[0]} training images")
    classes = int(labels.max()) + 1
    return images[:rows, None, :, :], labels[:rows], classes


def reference_model(height: int, width: int, classes: int) -> nn.Module:
    features = 64 * ((height - 4) // 2) * ((width - 4) // 2)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(features, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )


def kiln_model(channels: int, height: int, width: int, classes: int, stages: list[int],
               convs_per_stage: int, hidden: int, dropout: float) -> nn.Module:
    """Kiln's ConvNet (crates/kiln-model/src/conv.rs), layer for layer."""
    layers: list[nn.Module] = []
    c_in = channels
    for c in stages:
        for _ in range(convs_per_stage):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        layers.append(nn.MaxPool2d(2))
    shrink = 2 ** len(stages)
    features = stages[-1] * (height // shrink) * (width // shrink)
    layers += [nn.Flatten(), nn.Dropout(dropout)]
    if hidden > 0:
        layers += [nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout)]
        features = hidden
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)


def count_values(model: nn.Module) -> int:
    """Parameters plus floating-point buffers (batch norm's running mean and variance): what
    burn's `Module::num_params` counts, so that both sides can be compared."""
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return params + buffers


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


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"needs at least one channel count, all >= 1: {text!r}")
    return values


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--model", choices=["reference", "kiln"], default="reference")
    p.add_argument("--rows", type=int, default=10_000, help="first N training images (default 10000)")
    p.add_argument("--epochs", type=int, default=2, help="timed training epochs (default 2)")
    p.add_argument("--batch", type=int, default=128, help="training batch size (default 128)")
    p.add_argument("--seed", type=int, default=0, help="init / shuffling seed (default 0)")
    # Kiln's CNN; the defaults are those of kiln_model::ConvShape::default().
    p.add_argument("--stages", type=int_list, default=[32, 64], help="channels per stage (default 32,64)")
    p.add_argument("--convs-per-stage", type=int, default=2, help="3x3 convolutions per stage (default 2)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units, 0 = none (default 128)")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout probability (default 0.3)")
    args = p.parse_args()
    for name in ("rows", "epochs", "batch", "convs_per_stage"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.hidden < 0:
        p.error("--hidden must be >= 0")
    if not 0.0 <= args.dropout < 1.0:
        p.error("--dropout must be in [0, 1)")

    # Must happen before any parallel work is started.
    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    log(f"torch {torch.__version__}, numpy {np.__version__}, "
        f"threads intra={torch.get_num_threads()} inter={torch.get_num_interop_threads()}")

    try:
        images, labels, classes = load(args.data, args.rows)
    except (OSError, ValueError) as e:
        print(f"cnn_torch: error: {e}", file=sys.stderr)
        return 1
    _, channels, height, width = images.shape
    pixels = images.astype(np.float64)
    mean, std = float(pixels.mean()), float(pixels.std())
    x = torch.from_numpy(((pixels - mean) / (std if std > 0 else 1.0)).astype(np.float32))
    y = torch.from_numpy(labels)
    log(f"data: {args.rows} images {channels}x{height}x{width}, {classes} classes, "
        f"pixel mean {mean:.4f}, std {std:.4f}")

    if args.model == "reference":
        if channels != 1:
            p.error(f"the reference model reads grey images, not {channels} channels")
        model = reference_model(height, width, classes)
        arch: dict[str, object] = {"convs": [32, 64], "kernel": 3, "pool": 2, "hidden": 128}
    else:
        shrink = 2 ** len(args.stages)
        if height < shrink or width < shrink:
            p.error(f"{len(args.stages)} stages need images of at least {shrink}x{shrink}")
        model = kiln_model(channels, height, width, classes, args.stages,
                           args.convs_per_stage, args.hidden, args.dropout)
        arch = {"stages": args.stages, "convs_per_stage": args.convs_per_stage,
                "hidden": args.hidden, "dropout": args.dropout}
    params = count_values(model)
    log(f"model {args.model}: {arch}, {params:,} parameters and buffers")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)

    # (a) training
    model.train()
    secs, loss = train_epoch(model, opt, loss_fn, x, y, args.batch, gen)
    log(f"warm-up epoch: {secs:.3f} s, {args.rows / secs:,.1f} samples/s, loss {loss:.4f}")
    train_rates: list[float] = []
    final_loss = loss
    for epoch in range(1, args.epochs + 1):
        secs, final_loss = train_epoch(model, opt, loss_fn, x, y, args.batch, gen)
        train_rates.append(args.rows / secs)
        log(f"epoch {epoch}/{args.epochs}: {secs:.3f} s, {train_rates[-1]:,.1f} samples/s, "
            f"loss {final_loss:.4f}")

    # (b) inference throughput
    model.eval()
    infer_rates: list[float] = []
    with torch.inference_mode():
        for rep in range(INFER_REPEATS + 1):  # pass 0 is an untimed warm-up
            start = time.perf_counter()
            for i in range(0, args.rows, INFER_BATCH):
                model(x[i : i + INFER_BATCH])
            secs = time.perf_counter() - start
            if rep == 0:
                log(f"inference warm-up pass: {args.rows / secs:,.1f} samples/s")
                continue
            infer_rates.append(args.rows / secs)
            log(f"inference pass {rep}/{INFER_REPEATS}: {infer_rates[-1]:,.1f} samples/s")

    result = {
        "framework": "pytorch",
        "version": torch.__version__,
        "python": platform.python_version(),
        "threads": THREADS,
        "model": args.model,
        "arch": arch,
        "params": params,
        "rows": args.rows,
        "batch": args.batch,
        "pixel_mean": mean,
        "pixel_std": std,
        "train_samples_per_s": statistics.median(train_rates),
        "infer_samples_per_s": statistics.median(infer_rates),
        "final_train_loss": final_loss,
        "epochs": args.epochs,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
