#!/usr/bin/env python3
"""Optuna's side of the TPE benchmark (bench/tune.sh): minimise a standard test function.

    python bench/tune_optuna.py FUNCTION TRIALS SEED...

Installs nothing; run it with the interpreter of bench/.venv-optuna (bench/tune.sh does).
One study per seed: `optuna.create_study()` (in-memory storage, minimise) with
`TPESampler(multivariate=True, seed=SEED)` and Optuna's other defaults (10 startup trials,
24 candidates, prior weight 1, magic clip, constant_liar=False: one process, so no trial is
ever running while another is sampled), then `study.optimize(objective, n_trials=TRIALS)`.
The objective suggests x0, x1, ... with `trial.suggest_float(name, low, high)` and evaluates
the function on them; only that evaluation is timed as objective time. Prints one JSON
object line per study, the same keys as Kiln's side (crates/kiln-tune/examples/tune_bench.rs):
best, total_s (the wall time of study.optimize), objective_s, overhead_per_trial_s =
(total_s - objective_s) / TRIALS, and cpu_s / cpu_overhead_per_trial_s, the same with the
process's CPU time (time.process_time()), which other processes on a busy machine do not
inflate.

FUNCTION: branin, hartmann6, rosenbrock10, ackley10, styblinski_tang10, with the same
definitions, bounds and parameter names as the Rust side.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
import warnings
from typing import Callable


def branin(x: list[float]) -> float:
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]
HARTMANN_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HARTMANN_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]


def hartmann6(x: list[float]) -> float:
    return -sum(
        HARTMANN_ALPHA[i] * math.exp(-sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]) ** 2
                                          for j in range(6)))
        for i in range(4)
    )


def rosenbrock(x: list[float]) -> float:
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ackley(x: list[float]) -> float:
    n = len(x)
    squares = sum(v * v for v in x) / n
    cosines = sum(math.cos(2 * math.pi * v) for v in x) / n
    return -20 * math.exp(-0.2 * math.sqrt(squares)) - math.exp(cosines) + 20 + math.e


def styblinski_tang(x: list[float]) -> float:
    return 0.5 * sum(v ** 4 - 16 * v * v + 5 * v for v in x)


FUNCTIONS: dict[str, tuple[list[tuple[float, float]], Callable[[list[float]], float]]] = {
    "branin": ([(-5.0, 10.0), (0.0, 15.0)], branin),
    "hartmann6": ([(0.0, 1.0)] * 6, hartmann6),
    "rosenbrock10": ([(-5.0, 10.0)] * 10, rosenbrock),
    "ackley10": ([(-32.768, 32.768)] * 10, ackley),
    "styblinski_tang10": ([(-5.0, 5.0)] * 10, styblinski_tang),
}


def study(name: str, trials: int, seed: int) -> dict:
    """One Optuna study; its result line as a dict."""
    import numpy
    import optuna

    bounds, f = FUNCTIONS[name]
    spent = [0.0]

    def objective(trial: optuna.Trial) -> float:
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        t0 = time.perf_counter()
        value = f(x)
        spent[0] += time.perf_counter() - t0
        return value

    sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed)
    s = optuna.create_study(direction="minimize", sampler=sampler)
    c0, t0 = time.process_time(), time.perf_counter()
    s.optimize(objective, n_trials=trials)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "tool": "optuna",
        "version": optuna.__version__,
        "libs": f"numpy {numpy.__version__}",
        "python": platform.python_version(),
        "function": name,
        "dims": len(bounds),
        "trials": trials,
        "seed": seed,
        "best": s.best_value,
        "total_s": total,
        "objective_s": spent[0],
        "overhead_per_trial_s": (total - spent[0]) / trials,
        "cpu_s": cpu,
        "cpu_overhead_per_trial_s": (cpu - spent[0]) / trials,
    }


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in FUNCTIONS:
        print(f"usage: tune_optuna.py FUNCTION TRIALS SEED... (FUNCTION: {', '.join(FUNCTIONS)})",
              file=sys.stderr)
        return 2
    try:
        trials, seeds = int(argv[1]), [int(s) for s in argv[2:]]
    except ValueError:
        print("TRIALS and SEED must be integers", file=sys.stderr)
        return 2
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    for seed in seeds:
        print(json.dumps(study(argv[0], trials, seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
