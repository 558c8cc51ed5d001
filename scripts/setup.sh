#!/usr/bin/env bash
# Create .venv with the pinned requirements (via uv: ~35 s cold, seconds when cached) and install
# Fashion-MNIST offline under the data root. Idempotent: rerunning it is cheap.
#   bash scripts/setup.sh          everything: training, tests, deployment, the book (requirements.txt)
#   bash scripts/setup.sh --book   the book alone (requirements-book.txt): its pages read committed
#                                  results and need no torch, no dataset and no browser
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") requirements=requirements.txt ;;
  --book) requirements=requirements-book.txt ;;
  *) echo "error: unknown option '$1': use no option (everything) or --book (the book alone)" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install -q "uv==0.13.9"
fi
UV=$(command -v uv || echo "$PY -m uv")
[ -x .venv/bin/python ] || $UV venv -q .venv --python "$PY"
$UV pip install -q --python .venv/bin/python -r "$requirements"
$UV pip install -q --python .venv/bin/python --no-deps -e .
# The book: a local MathJax (a pinned, checksummed npm package) so that its math renders offline.
bash scripts/get_mathjax.sh || echo "warning: no local MathJax: scripts/build_book.sh will fail until npm can fetch it" >&2
[ "$requirements" = requirements.txt ] || exit 0
bash scripts/get_fashion_mnist.sh "${DVN_DATA:-data}"
# Debian's chromium for the book's browser test (tests/test_book.py skips without it).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q chromium >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q chromium >/dev/null 2>&1; } ||
    echo "warning: could not install chromium: tests/test_book.py will be skipped" >&2
fi
