#!/usr/bin/env bash
# Kernel SHAP benchmark: Kiln's Kernel SHAP vs the Python shap library's KernelExplainer on
# the same network, same encoded rows, same background (rows and weights), same number of
# coalitions, same machine, same run.
#
#   bash bench/shap.sh
#
# 1. Installs shap and safetensors into bench/.venv (git-ignored; shap works with the
#    venv's NumPy 2, so no venv of its own is needed).
# 2. Builds the kiln CLI and kiln-bench (release; its binary kiln-shap is Kiln's side).
# 3. Trains two models on datasets/breast_cancer.csv (seed 42, zero-config): all 30
#    features, and a 12-feature subset (the file's first 12 columns; the other 18 dropped
#    by a [data] drop config) for which Kiln's exact Shapley values are the reference.
# 4. `kiln-shap prepare` writes, for each model, the encoded rows to explain and the
#    background exactly as `kiln explain --background K --seed S` builds it (k-means of the
#    bundle's training sample, with weights), plus Kiln's predictions for every data row;
#    `bench/shap_python.py check` rebuilds the network in numpy from the bundle's
#    safetensors weights and stops the benchmark unless it matches Kiln's probabilities to
#    1e-5. The same Python reads the rows and background from that file for shap.
# 5. Reference: Kiln's exact Shapley values of the 12-feature model (all 4,094 proper
#    coalitions), and, as a check that both tools see identical inputs, shap's
#    KernelExplainer with nsamples = 4,094 (every coalition, so also exact).
# 6. KILN_BENCH_RUNS rounds (default 3) of, for each setting (30 features at
#    nsamples = 2·30+2048 = 2108, shap's 'auto'; 12 features at 2·12+2048 = 2072 and at
#    200): shap and Kiln (in-process, bench/kiln-bench/src/bin/kiln-shap.rs; shap first in
#    odd rounds, Kiln first in even ones), then the
#    errors against exact (12 features) or between the tools (30 features). Round i samples
#    coalitions with seed S+i-1 on both sides (Kiln: (S+i-1) ^ row, shap: np.random.seed),
#    on the one background of seed S, so the errors cover several sampling seeds; round 1
#    is exactly `kiln explain --seed S`. Each round also times the whole `kiln explain`
#    command once (30 features, seed S) and checks that its attributions equal round 1's
#    in-process ones, and profiles one model evaluation per side.
# 7. bench/report_shap.py writes the medians into BENCHMARKS.md, section between
#    <!-- shap:start --> and <!-- shap:end -->. Raw JSON lines and attribution files are
#    kept in bench/.data/shap/.
#
# Environment:
#   KILN_BENCH_RUNS=N            number of rounds (default 3)
#   KILN_BENCH_SHAP_ROWS=0-9     rows explained (kiln explain --rows syntax: A-B or A-B,C)
#   KILN_BENCH_SHAP_BACKGROUND=K background size, k-means centres (default 16)
#   KILN_BENCH_SHAP_SEED=S       seed of training, background and sampling (default 42)
#   PYTHON=python3               interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

RUNS="${KILN_BENCH_RUNS:-3}"
ROWS="${KILN_BENCH_SHAP_ROWS:-0-9}"
BG="${KILN_BENCH_SHAP_BACKGROUND:-16}"
SEED="${KILN_BENCH_SHAP_SEED:-42}"
DATA="datasets/breast_cancer.csv"
TARGET="diagnosis"
KILN="$ROOT/target/release/kiln"
KSHAP="$ROOT/target/release/kiln-shap"

for v in RUNS BG SEED; do
    if ! [[ "${!v}" =~ ^[0-9]+$ ]] || { [[ "$v" == RUNS ]] && [[ "${!v}" == 0 ]]; }; then
        echo "bench/shap.sh: $v must be a whole number${v/RUNS/ (at least 1)}, got '${!v}'" >&2
        exit 2
    fi
done
if ! [[ "$ROWS" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]]; then
    echo "bench/shap.sh: KILN_BENCH_SHAP_ROWS must look like 0-9 or 0-4,20, got '$ROWS'" >&2
    exit 2
fi

# Non-default settings become part of the command shown in the report.
COMMAND="bash bench/shap.sh"
if [[ "$SEED" != "42" ]]; then COMMAND="KILN_BENCH_SHAP_SEED=$SEED $COMMAND"; fi
if [[ "$BG" != "16" ]]; then COMMAND="KILN_BENCH_SHAP_BACKGROUND=$BG $COMMAND"; fi
if [[ "$ROWS" != "0-9" ]]; then COMMAND="KILN_BENCH_SHAP_ROWS=$ROWS $COMMAND"; fi
if [[ "$RUNS" != "3" ]]; then COMMAND="KILN_BENCH_RUNS=$RUNS $COMMAND"; fi

# --- environments and binaries -----------------------------------------------
ensure_venv "installing shap, safetensors and numpy into $VENV" shap safetensors numpy
echo ">> building kiln and kiln-bench (release)" >&2
cargo build --release -p kiln-cli -p kiln-bench >&2
KILN_VERSION="$("$KILN" --version)"

# --- models ------------------------------------------------------------------
OUT="bench/.data/shap"
rm -rf "$OUT"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# The 12-feature model keeps the first 12 feature columns of the file.
mapfile -t FEATURES < <(head -n 1 "$DATA" | tr -d '\r' | tr ',' '\n' | grep -vx "$TARGET")
if [[ "${#FEATURES[@]}" != 30 ]]; then
    echo "bench/shap.sh: expected 30 feature columns in $DATA, found ${#FEATURES[@]}" >&2
    exit 1
fi
DROP="$(printf '"%s", ' "${FEATURES[@]:12}")"
printf '[data]\ndrop = [%s]\n' "${DROP%, }" >"$OUT/subset12.toml"

echo ">> training the 30-feature model and the 12-feature subset model (seed $SEED)" >&2
"$KILN" train "$DATA" --target "$TARGET" --seed "$SEED" --out "$OUT/m30.kiln" >"$OUT/train30.log" 2>&1 ||
    { cat "$OUT/train30.log" >&2; exit 1; }
"$KILN" train "$DATA" --target "$TARGET" --seed "$SEED" --config "$OUT/subset12.toml" \
    --out "$OUT/m12.kiln" >"$OUT/train12.log" 2>&1 || { cat "$OUT/train12.log" >&2; exit 1; }

# Runs a command, keeps its stdout (must end with one JSON object line) and appends that
# line, with the fields given as KEY=VALUE before the command, to $RESULTS.
measure() {
    local label="$1"
    shift
    local extra=()
    while [[ "$1" == *=* && "$1" != */* ]]; do
        extra+=("$1")
        shift
    done
    local out="$OUT/$label.out"
    "$@" >"$out"
    local line
    line="$(grep -E '^[[:space:]]*\{' "$out" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        echo "!! $label printed no JSON object on stdout; its stdout was:" >&2
        cat "$out" >&2
        exit 1
    fi
    line="$("$PY" -c '
import json, sys
obj = json.loads(sys.argv[1])
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        obj[k] = int(v)
    except ValueError:
        try:
            obj[k] = float(v)
        except ValueError:
            obj[k] = v
print(json.dumps(obj))' "$line" "${extra[@]}")"
    echo ">> $label: ${line:0:300}" >&2
    printf '%s\n' "$line" >>"$RESULTS"
}

COMMON=(--data "$DATA" --rows "$ROWS" --background "$BG" --seed "$SEED")
for m in 30 12; do
    echo ">> m$m: preparing the rows and background for shap; checking the numpy network" >&2
    "$KSHAP" prepare --model "$OUT/m$m.kiln" "${COMMON[@]}" --out "$OUT/prep$m.json" >/dev/null
    measure "check-m$m" "$PY" bench/shap_python.py check --model "$OUT/m$m.kiln" \
        --prep "$OUT/prep$m.json" --label "m$m"
done

# --- reference: exact Shapley values of the 12-feature model -------------------
echo ">> exact Shapley values of the 12-feature model (Kiln)" >&2
measure "exact-kiln" round=0 model=m12 "$KSHAP" run --model "$OUT/m12.kiln" "${COMMON[@]}" --method exact \
    --out "$OUT/exact12.json"
echo ">> shap with every coalition (nsamples = 4094) on the 12-feature model" >&2
measure "full-shap" round=0 "$PY" bench/shap_python.py run --model "$OUT/m12.kiln" \
    --prep "$OUT/prep12.json" --label m12 --samples 4094 --seed "$SEED" --out "$OUT/full12-shap.json"
measure "full-shap-vs-exact" round=0 "$PY" bench/shap_python.py compare --reference "$OUT/exact12.json" \
    --candidate "$OUT/full12-shap.json" --label m12 --tool shap --samples 4094

# --- rounds --------------------------------------------------------------------
SETTINGS=("30 2108" "12 2072" "12 200")
for ((i = 1; i <= RUNS; i++)); do
    sseed=$((SEED + i - 1))
    for setting in "${SETTINGS[@]}"; do
        read -r m n <<<"$setting"
        tag="m$m-n$n-$i"
        # Odd rounds run shap first, even rounds Kiln first.
        for side in $( ((i % 2)) && echo "shap kiln" || echo "kiln shap"); do
            if [[ "$side" == shap ]]; then
                echo ">> round $i/$RUNS: shap, $m features, nsamples $n" >&2
                measure "shap-$tag" round="$i" "$PY" bench/shap_python.py run --model "$OUT/m$m.kiln" \
                    --prep "$OUT/prep$m.json" --label "m$m" --samples "$n" --seed "$sseed" \
                    --out "$OUT/shap-$tag.json"
            else
                echo ">> round $i/$RUNS: kiln, $m features, samples $n" >&2
                measure "kiln-$tag" round="$i" model="m$m" "$KSHAP" run --model "$OUT/m$m.kiln" \
                    "${COMMON[@]}" --method kernel --samples "$n" --sample-seed "$sseed" \
                    --out "$OUT/kiln-$tag.json"
            fi
        done
        if [[ "$m" == 12 ]]; then
            for tool in kiln shap; do
                measure "error-$tool-$tag" round="$i" "$PY" bench/shap_python.py compare \
                    --reference "$OUT/exact12.json" --candidate "$OUT/$tool-$tag.json" \
                    --label m12 --tool "$tool" --samples "$n"
            done
        else
            measure "diff-$tag" round="$i" "$PY" bench/shap_python.py compare \
                --reference "$OUT/kiln-$tag.json" --candidate "$OUT/shap-$tag.json" \
                --label m30 --reference-label kiln --tool shap --samples "$n"
        fi
    done
    # The whole command, as a user runs it (loading, reading the CSV, k-means, writing).
    echo ">> round $i/$RUNS: kiln explain (whole command), 30 features, samples 2108" >&2
    start="$EPOCHREALTIME"
    "$KILN" explain "$OUT/m30.kiln" "$DATA" --method kernel --samples 2108 --background "$BG" \
        --seed "$SEED" --rows "$ROWS" --out "$OUT/cli-m30-$i.json" >"$OUT/cli-$i.log" 2>&1 ||
        { cat "$OUT/cli-$i.log" >&2; exit 1; }
    end="$EPOCHREALTIME"
    measure "cli-vs-inprocess-$i" round="$i" wall_s="$("$PY" -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$start" "$end")" \
        "$PY" bench/shap_python.py compare --reference "$OUT/kiln-m30-n2108-1.json" \
        --candidate "$OUT/cli-m30-$i.json" --label m30 --reference-label kiln-in-process \
        --tool kiln-cli --samples 2108
    echo ">> round $i/$RUNS: model evaluation profile" >&2
    measure "profile-shap-$i" round="$i" "$PY" bench/shap_python.py profile --model "$OUT/m30.kiln" \
        --prep "$OUT/prep30.json"
    measure "profile-kiln-$i" round="$i" "$KSHAP" profile --model "$OUT/m30.kiln" "${COMMON[@]}"
done

# --- report ------------------------------------------------------------------
"$PY" bench/report_shap.py \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --runs "$RUNS" \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$(rustc --version 2>/dev/null || echo n/a)" \
    --kiln-version "$KILN_VERSION" \
    --rows "$ROWS" \
    --background "$BG" \
    --seed "$SEED" \
    --command "$COMMAND"
echo ">> raw per-run results: $RESULTS" >&2
