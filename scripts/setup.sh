#!/usr/bin/env bash
# Create .venv with the pinned requirements (via uv: ~35 s cold, seconds when cached) and install
# Fashion-MNIST offline under the data root. Idempotent: rerunning it is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install -q "uv==0.13.9"
fi
UV=$(command -v uv || echo "$PY -m uv")
[ -x .venv/bin/python ] || $UV venv -q .venv --python "$PY"
$UV pip install -q --python .venv/bin/python -r requirements.txt
$UV pip install -q --python .venv/bin/python --no-deps -e .
bash scripts/get_fashion_mnist.sh "${DVN_DATA:-data}"
# The book: a local MathJax (a pinned, checksummed npm package) so that its math renders offline,
# and Debian's chromium for its browser test (tests/test_book.py skips without it).
bash scripts/get_mathjax.sh || echo "warning: no local MathJax: scripts/build_book.sh will fail until npm can fetch it" >&2
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q chromium >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q chromium >/dev/null 2>&1; } ||
    echo "warning: could not install chromium: tests/test_book.py will be skipped" >&2
fi
