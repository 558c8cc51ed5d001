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
