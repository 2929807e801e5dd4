#!/usr/bin/env bash
# The ONNX runner against ONNX Runtime: downloads the PaddleOCR text-direction classifier
# ch_ppocr_mobile_v2.0_cls_infer.onnx from PyPI (inside the wheel rapidocr-onnxruntime 1.4.4,
# once; only the 0.6 MB classifier is kept, in tests/onnx/.cache) and runs the ignored test
# that compares Kiln's probabilities and penultimate features with the reference ones kept in
# crates/kiln-onnx/tests/fixtures (made by bench/onnx_reference.py), plus the tests that need
# no download.
#
# Usage (from anywhere):  tests/onnx/run.sh
# Environment: KILN_ONNX_CLS (use this .onnx file instead of downloading),
#              PYTHON (default python3; runs pip download and unzips the wheel).
set -euo pipefail

die() { echo "tests/onnx: FAIL: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
MEMBER=rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx

if [ -z "${KILN_ONNX_CLS:-}" ]; then
  CACHE="$HERE/.cache"
  KILN_ONNX_CLS="$CACHE/ch_ppocr_mobile_v2.0_cls_infer.onnx"
  if [ ! -f "$KILN_ONNX_CLS" ]; then
    mkdir -p "$CACHE"
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
      rapidocr-onnxruntime==1.4.4 -d "$CACHE" \
      || die "pip download of rapidocr-onnxruntime==1.4.4 failed (is PyPI reachable?)"
    WHEELS=("$CACHE"/rapidocr_onnxruntime-1.4.4-*.whl)
    WHEEL=${WHEELS[0]}
    [ -f "$WHEEL" ] || die "no rapidocr_onnxruntime-1.4.4 wheel in $CACHE"
    "$PY" - "$WHEEL" "$MEMBER" "$KILN_ONNX_CLS" <<'PY' || die "could not take the classifier out of the wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
shutil.move(out + ".part", out)
PY
    rm -f "$WHEEL"
  fi
fi
[ -f "$KILN_ONNX_CLS" ] || die "no model at $KILN_ONNX_CLS"
export KILN_ONNX_CLS
cd "$ROOT"
# --workspace keeps the features of `cargo test --workspace`, so nothing is rebuilt.
cargo test --workspace --test reference -- --include-ignored
echo "tests/onnx: PASS"
