#!/usr/bin/env bash
# Serving benchmark: `kiln serve` vs TorchServe vs a minimal FastAPI + PyTorch server, the same
# breast-cancer model (the same weights), the same requests, the same load generator (wrk),
# the same concurrency levels, one server at a time, in one run.
#
#   bash bench/serve.sh
#
# 1. Installs torch, safetensors, numpy, torchserve, torch-model-archiver, fastapi and
#    uvicorn[standard] into bench/.venv (git-ignored). Needs wrk (apt-get install wrk) and
#    Java 11+ (TorchServe's frontend) on the PATH; stops with a message if either is missing.
# 2. Builds the kiln CLI (release; KILN=/path/to/kiln skips the build and uses that binary)
#    and trains datasets/breast_cancer.csv (target diagnosis, seed 42, zero-config).
# 3. bench/serve_torch.py rebuilds the bundle in PyTorch (preprocessing + network + member
#    averaging; weights read from the bundle's safetensors) and writes a torch checkpoint that
#    both peers load; it stops the benchmark unless its probabilities equal `kiln predict`'s on
#    every row of the data to 1e-5. The requests: one row per request, an Open Inference
#    Protocol v2 body `{"inputs":[{"name":"input","shape":[1,30],"datatype":"FP32",
#    "data":[...]}]}` for each of KILN_BENCH_SERVE_ROWS real rows, sent round-robin.
# 4. For each server in turn (Kiln, TorchServe, FastAPI): start it, check that its answers
#    to every request row equal Kiln's server's to 1e-5 (Kiln's are checked against
#    `kiln predict`), then for each concurrency level (1, 16, 64 connections): a warm-up wrk
#    run, then the measured one (bench/serve_request.lua, --latency, 2 wrk threads, 1 at
#    concurrency 1), then stop the server.
#      Kiln:       `kiln serve breast.kiln --port 0` with its defaults; POST /v2/models/breast/infer.
#      TorchServe: the torch model in bench/serve_torchserve_handler.py, archived with
#                  torch-model-archiver; server-side batching (batchSize, maxBatchDelay below),
#                  token auth off, system metrics off, async logging; POST /predictions/breast.
#      FastAPI:    bench/serve_fastapi.py under uvicorn (uvloop + httptools, access log off);
#                  one forward pass per request under torch.inference_mode();
#                  POST /v2/models/breast/infer.
# 5. bench/report_serve.py writes the section between <!-- serve:start --> and
#    <!-- serve:end --> of BENCHMARKS.md. Raw results: bench/.data/serve/results.jsonl.
#
# Environment:
#   KILN=PATH                       the kiln binary to use (default: cargo build, target/release/kiln)
#   KILN_BENCH_SERVE_SECONDS=15     measured seconds per server and concurrency level
#   KILN_BENCH_SERVE_WARMUP=3       warm-up seconds before each measured run
#   KILN_BENCH_SERVE_CONCURRENCY="1 16 64"   wrk connections per level
#   KILN_BENCH_SERVE_ROWS=...       data rows (0-based) sent as requests, round-robin
#   KILN_BENCH_SERVE_SERVERS="kiln torchserve fastapi"   servers to run (Kiln first: the reference)
#   KILN_BENCH_TS_WORKERS=1         TorchServe workers (Python processes)
#   KILN_BENCH_TS_BATCH=64          TorchServe batchSize
#   KILN_BENCH_TS_DELAY_MS=1        TorchServe maxBatchDelay (ms)
#   KILN_BENCH_FASTAPI_WORKERS=2    uvicorn worker processes (one per CPU of a 2-CPU machine)
#   KILN_BENCH_TORCH_THREADS=1      torch intra-op threads per TorchServe / uvicorn worker
#   PYTHON=python3                  interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

SECS="${KILN_BENCH_SERVE_SECONDS:-15}"
WARMUP="${KILN_BENCH_SERVE_WARMUP:-3}"
LEVELS="${KILN_BENCH_SERVE_CONCURRENCY:-1 16 64}"
ROWS="${KILN_BENCH_SERVE_ROWS:-0-3,13,19-21,40,49,73,81,91,99,135,263}"
SERVERS="${KILN_BENCH_SERVE_SERVERS:-kiln torchserve fastapi}"
TS_WORKERS="${KILN_BENCH_TS_WORKERS:-1}"
TS_BATCH="${KILN_BENCH_TS_BATCH:-64}"
TS_DELAY="${KILN_BENCH_TS_DELAY_MS:-1}"
FA_WORKERS="${KILN_BENCH_FASTAPI_WORKERS:-2}"
TORCH_THREADS="${KILN_BENCH_TORCH_THREADS:-1}"
DATA="datasets/breast_cancer.csv"
TARGET="diagnosis"
SEED=42
MODEL=breast

for v in SECS WARMUP TS_WORKERS TS_BATCH TS_DELAY FA_WORKERS TORCH_THREADS; do
    if ! [[ "${!v}" =~ ^[0-9]+$ ]] || { [[ "$v" != WARMUP && "$v" != TS_DELAY ]] && [[ "${!v}" == 0 ]]; }; then
        echo "bench/serve.sh: $v must be a whole number (at least 1 but for WARMUP and TS_DELAY), got '${!v}'" >&2
        exit 2
    fi
done
for c in $LEVELS; do
    if ! [[ "$c" =~ ^[1-9][0-9]*$ ]]; then
        echo "bench/serve.sh: KILN_BENCH_SERVE_CONCURRENCY must list positive whole numbers, got '$LEVELS'" >&2
        exit 2
    fi
done
for s in $SERVERS; do
    case "$s" in kiln | torchserve | fastapi) ;; *)
        echo "bench/serve.sh: unknown server '$s' in KILN_BENCH_SERVE_SERVERS (kiln, torchserve, fastapi)" >&2
        exit 2
        ;;
    esac
done
if ! [[ "$ROWS" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]]; then
    echo "bench/serve.sh: KILN_BENCH_SERVE_ROWS must look like 0-7 or 0-3,13,40, got '$ROWS'" >&2
    exit 2
fi

# Non-default settings become part of the command shown in the report.
COMMAND="bash bench/serve.sh"
for pair in "KILN_BENCH_TORCH_THREADS TORCH_THREADS 1" "KILN_BENCH_FASTAPI_WORKERS FA_WORKERS 2" \
    "KILN_BENCH_TS_DELAY_MS TS_DELAY 1" "KILN_BENCH_TS_BATCH TS_BATCH 64" \
    "KILN_BENCH_TS_WORKERS TS_WORKERS 1" "KILN_BENCH_SERVE_SERVERS SERVERS kiln@torchserve@fastapi" \
    "KILN_BENCH_SERVE_ROWS ROWS 0-3,13,19-21,40,49,73,81,91,99,135,263" \
    "KILN_BENCH_SERVE_CONCURRENCY LEVELS 1@16@64" "KILN_BENCH_SERVE_WARMUP WARMUP 3" \
    "KILN_BENCH_SERVE_SECONDS SECS 15"; do
    read -r env var def <<<"$pair"
    if [[ "${!var}" != "${def//@/ }" ]]; then
        val="${!var}"
        [[ "$val" == *" "* ]] && val="\"$val\""
        COMMAND="$env=$val $COMMAND"
    fi
done

if [[ -n "${KILN:-}" ]]; then COMMAND="KILN=$KILN $COMMAND"; fi

# --- tools -------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench/serve.sh: wrk is not installed; it is the load generator of this benchmark" \
        "(Debian/Ubuntu: apt-get install -y wrk)" >&2
    exit 1
fi
if [[ " $SERVERS " == *" torchserve "* ]]; then
    if ! java -version >/dev/null 2>&1; then
        echo "bench/serve.sh: java is not on the PATH; TorchServe's frontend needs Java 11 or newer" \
            "(Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless)" >&2
        exit 1
    fi
    JAVA_MAJOR="$(java -version 2>&1 | head -n 1 | sed -E 's/.*version "([0-9]+).*/\1/')"
    if [[ "$JAVA_MAJOR" =~ ^[0-9]+$ ]] && ((JAVA_MAJOR < 11)); then
        echo "bench/serve.sh: TorchServe needs Java 11 or newer, found $(java -version 2>&1 | head -n 1)" >&2
        exit 1
    fi
fi
ensure_venv "installing torch, TorchServe, FastAPI and uvicorn into $VENV (large download the first time)" \
    torch safetensors numpy torchserve=ts torch-model-archiver=model_archiver fastapi \
    "uvicorn[standard]=uvicorn" uvloop httptools
VBIN="$ROOT/$VENV/bin"
if [[ -z "${KILN:-}" ]]; then
    echo ">> building kiln (release)" >&2
    cargo build --release -p kiln-cli >&2
    KILN="$ROOT/target/release/kiln"
fi
KILN="$(cd "$(dirname "$KILN")" && pwd)/$(basename "$KILN")"
KILN_VERSION="$("$KILN" --version)"

# --- servers: started one at a time, always stopped on exit ----------------------
OUT="bench/.data/serve"
TS_STARTED=0
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            kill -TERM "$SERVER_PID" 2>/dev/null || true
            for _ in $(seq 1 100); do
                kill -0 "$SERVER_PID" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
    if [[ "$TS_STARTED" == 1 ]]; then
        # `torchserve --stop` signals the Java frontend (pid file in the temp folder) and returns
        # at once; wait until it and its Python workers are gone before the next server starts.
        local pids
        pids="$("$PY" -c '
import os, tempfile
try:
    print(open(os.path.join(tempfile.gettempdir(), ".model_server.pid")).readline().strip())
except OSError:
    pass' || true)"
        [[ -n "$pids" ]] && pids="$pids $(pgrep -P "$pids" | tr '\n' ' ' || true)"
        "$VBIN/torchserve" --stop >&2 || true
        local p
        for p in $pids; do
            for _ in $(seq 1 300); do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$p" 2>/dev/null || true
        done
        TS_STARTED=0
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT"
mkdir -p "$OUT/torchserve/store" "$OUT/torchserve/logs"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# record LINE KEY=VALUE...: LINE (a JSON object) with the fields added, appended to $RESULTS.
record() {
    local line="$1"
    shift
    line="$("$PY" -c '
import json, sys
obj = json.loads(sys.argv[1])
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        obj[k] = json.loads(v)
    except ValueError:
        obj[k] = v
print(json.dumps(obj))' "$line" "$@")"
    printf '%s\n' "$line" >>"$RESULTS"
    echo ">> ${line:0:240}" >&2
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- the model, its torch twin, the requests ---------------------------------------
echo ">> training $DATA (target $TARGET, seed $SEED)" >&2
"$KILN" train "$DATA" --target "$TARGET" --seed "$SEED" --out "$OUT/$MODEL.kiln" >"$OUT/train.log" 2>&1 ||
    { cat "$OUT/train.log" >&2; exit 1; }
"$PY" bench/serve_torch.py export --model "$OUT/$MODEL.kiln" --out "$OUT/$MODEL.pt" >/dev/null
echo ">> checking the torch model against kiln predict on every row" >&2
record "$("$PY" bench/serve_torch.py check --checkpoint "$OUT/$MODEL.pt" --model "$OUT/$MODEL.kiln" \
    --data "$DATA" --kiln "$KILN")"
"$PY" bench/serve_torch.py bodies --checkpoint "$OUT/$MODEL.pt" --data "$DATA" --rows "$ROWS" \
    --out "$OUT/bodies.jsonl" --answers "$OUT/answers-predict.json" --kiln "$KILN" \
    --model "$OUT/$MODEL.kiln" >/dev/null
BODY_BYTES="$(head -n 1 "$OUT/bodies.jsonl" | tr -d '\n' | wc -c)"

# The reference answers: Kiln's server's, once it has run; `kiln predict`'s before that.
REFERENCE="$OUT/answers-predict.json"
REFERENCE_LABEL="kiln predict"

# measure SERVER URL PATH: the correctness check, then every concurrency level.
measure() {
    local server="$1" url="$2" path="$3"
    echo ">> $server: checking its answers against $REFERENCE_LABEL" >&2
    record "$("$PY" bench/serve_torch.py ask --url "$url$path" --bodies "$OUT/bodies.jsonl" \
        --label "$server" --save "$OUT/answers-$server.json" --reference "$REFERENCE" \
        --reference-label "$REFERENCE_LABEL")"
    local c t
    for c in $LEVELS; do
        t=2
        ((c < 2)) && t=1
        if ((WARMUP > 0)); then
            wrk -t "$t" -c "$c" -d "${WARMUP}s" --timeout 10s -s bench/serve_request.lua "$url" \
                -- "$path" "$OUT/bodies.jsonl" >"$OUT/wrk-$server-c$c-warmup.txt"
        fi
        echo ">> $server: $c connection(s), $t wrk thread(s), ${SECS} s" >&2
        local before
        before="$(head -n 1 /proc/stat)"
        wrk -t "$t" -c "$c" -d "${SECS}s" --latency --timeout 10s -s bench/serve_request.lua "$url" \
            -- "$path" "$OUT/bodies.jsonl" >"$OUT/wrk-$server-c$c.txt"
        local line
        line="$(grep -E '^\{"kind":"wrk"' "$OUT/wrk-$server-c$c.txt" | tail -n 1 || true)"
        if [[ -z "$line" ]]; then
            echo "!! wrk printed no result line for $server at $c connections:" >&2
            cat "$OUT/wrk-$server-c$c.txt" >&2
            exit 1
        fi
        record "$line" server="$server" connections="$c" threads="$t" seconds="$SECS" \
            warmup_seconds="$WARMUP" load1="$(cut -d ' ' -f 1 /proc/loadavg)" \
            stolen="$(stolen_share "$before" "$(head -n 1 /proc/stat)")"
    done
}

stolen_share() { # BEFORE AFTER: /proc/stat "cpu" lines; the share of all CPU time between them
    # that the hypervisor gave to other machines (steal), which slows whichever server runs then
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); total = 0
        for (i = 2; i <= 9 && i <= n; i++) total += y[i] - x[i]
        printf "%.4f", (total > 0 ? (y[9] - x[9]) / total : 0) }'
}

wait_for() { # NAME URL: until the first body is answered with 200
    "$PY" bench/serve_torch.py wait --url "$2" --bodies "$OUT/bodies.jsonl" --timeout 180 ||
        { echo "!! $1 did not become ready" >&2; exit 1; }
}

for server in $SERVERS; do
    case "$server" in
    kiln)
        echo ">> starting kiln serve" >&2
        "$KILN" serve "$OUT/$MODEL.kiln" --port 0 >"$OUT/kiln.stdout" 2>"$OUT/kiln.stderr" &
        SERVER_PID=$!
        addr=""
        for _ in $(seq 1 600); do
            addr="$(sed -nE 's#^listening on (http://[^[:space:]]+).*#\1#p' "$OUT/kiln.stdout" | head -n 1)"
            [[ -n "$addr" ]] && break
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if [[ -z "$addr" ]]; then
            echo "!! kiln serve printed no 'listening on' line; its output:" >&2
            cat "$OUT/kiln.stdout" "$OUT/kiln.stderr" >&2
            exit 1
        fi
        wait_for kiln "$addr/v2/models/$MODEL/infer"
        record '{"kind":"server"}' server=kiln \
            settings="{\"command\":\"kiln serve $MODEL.kiln --port 0\"}"
        measure kiln "$addr" "/v2/models/$MODEL/infer"
        stop_server
        REFERENCE="$OUT/answers-kiln.json"
        REFERENCE_LABEL="kiln serve"
        ;;
    torchserve)
        echo ">> archiving and starting TorchServe ($TS_WORKERS worker(s), batchSize $TS_BATCH, maxBatchDelay $TS_DELAY ms)" >&2
        tsdir="$ROOT/$OUT/torchserve"
        printf 'minWorkers: %s\nmaxWorkers: %s\nbatchSize: %s\nmaxBatchDelay: %s\nresponseTimeout: 120\n' \
            "$TS_WORKERS" "$TS_WORKERS" "$TS_BATCH" "$TS_DELAY" >"$tsdir/model-config.yaml"
        "$VBIN/torch-model-archiver" --model-name "$MODEL" --version 1.0 \
            --handler bench/serve_torchserve_handler.py --serialized-file "$OUT/$MODEL.pt" \
            --extra-files bench/serve_torch.py --config-file "$tsdir/model-config.yaml" \
            --export-path "$tsdir/store" --force
        port="$(free_port)"
        cat >"$tsdir/config.properties" <<EOF
inference_address=http://127.0.0.1:$port
management_address=http://127.0.0.1:$(free_port)
metrics_address=http://127.0.0.1:$(free_port)
model_store=$tsdir/store
load_models=$MODEL.mar
disable_token_authorization=true
enable_envvars_config=true
disable_system_metrics=true
async_logging=true
job_queue_size=1000
install_py_dep_per_model=false
default_workers_per_model=$TS_WORKERS
EOF
        TS_STARTED=1
        (cd "$tsdir" && PATH="$VBIN:$PATH" LOG_LOCATION="$tsdir/logs" METRICS_LOCATION="$tsdir/logs" \
            KILN_TORCH_THREADS="$TORCH_THREADS" "$VBIN/torchserve" --start --ncs --disable-token-auth \
            --model-store "$tsdir/store" --ts-config "$tsdir/config.properties" >"$tsdir/start.log" 2>&1) ||
            { cat "$tsdir/start.log" >&2; exit 1; }
        wait_for torchserve "http://127.0.0.1:$port/predictions/$MODEL"
        record '{"kind":"server"}' server=torchserve \
            settings="{\"workers\":$TS_WORKERS,\"batch_size\":$TS_BATCH,\"max_batch_delay_ms\":$TS_DELAY,\"torch_threads\":$TORCH_THREADS}"
        measure torchserve "http://127.0.0.1:$port" "/predictions/$MODEL"
        stop_server
        ;;
    fastapi)
        echo ">> starting FastAPI under uvicorn ($FA_WORKERS worker(s))" >&2
        port="$(free_port)"
        KILN_TORCH_CHECKPOINT="$ROOT/$OUT/$MODEL.pt" KILN_TORCH_MODEL_NAME="$MODEL" \
            KILN_TORCH_THREADS="$TORCH_THREADS" "$PY" -m uvicorn serve_fastapi:app --app-dir bench \
            --host 127.0.0.1 --port "$port" --workers "$FA_WORKERS" --loop uvloop --http httptools \
            --log-level warning --no-access-log >"$OUT/fastapi.log" 2>&1 &
        SERVER_PID=$!
        wait_for fastapi "http://127.0.0.1:$port/v2/models/$MODEL/infer"
        record '{"kind":"server"}' server=fastapi \
            settings="{\"workers\":$FA_WORKERS,\"torch_threads\":$TORCH_THREADS,\"loop\":\"uvloop\",\"http\":\"httptools\"}"
        measure fastapi "http://127.0.0.1:$port" "/v2/models/$MODEL/infer"
        stop_server
        ;;
    esac
done

# --- versions and report -------------------------------------------------------
record "$("$PY" - <<'EOF'
import json, platform
from importlib import metadata
def v(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
print(json.dumps({"kind": "versions", "python": platform.python_version(), **{
    k: v(k) for k in ["torch", "torchserve", "torch-model-archiver", "fastapi", "uvicorn",
                      "uvloop", "httptools", "starlette", "pydantic"]}}))
EOF
)" wrk="\"$(wrk -v 2>&1 | head -n 1 | cut -d ' ' -f 1-2)\"" \
    java="\"$(java -version 2>&1 | head -n 1 | tr -d '"')\"" kiln="\"$KILN_VERSION\""

"$PY" bench/report_serve.py \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$(rustc --version 2>/dev/null || echo n/a)" \
    --rows "$ROWS" \
    --body-bytes "$BODY_BYTES" \
    --command "$COMMAND"
echo ">> raw results: $RESULTS" >&2
