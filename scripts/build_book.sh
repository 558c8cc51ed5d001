#!/usr/bin/env bash
# Build the book (Jupyter Book 1.x) from the results under results/, warnings as errors.
# Nothing is trained: the pages read CSV/JSON files. About half a minute on a 2-core CPU.
#   bash scripts/build_book.sh                 -> book/_build/html/index.html
#   DVN_BOOK_RESULTS=/some/dir DVN_BOOK_PROFILE=smoke bash scripts/build_book.sh [OUTPUT_DIR]
# DVN_BOOK_RESULTS: where the runs are (default results/); DVN_BOOK_PROFILE: which profile the
# book renders (default: study once results/*/study/metrics.csv exists, else quick, labelled not
# evidence). OUTPUT_DIR (default book/): the HTML goes to OUTPUT_DIR/_build/html.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-book}
JB=${JUPYTER_BOOK:-.venv/bin/jupyter-book}
[ -x "$JB" ] || JB=jupyter-book
bash scripts/get_mathjax.sh >/dev/null  # the local MathJax the pages load (pinned; a no-op when present)
bash scripts/get_onnxruntime_web.sh >/dev/null  # the deploy page's in-browser engine (pinned; a no-op when present)
# _config.yml is at the repository top: Jupyter Book looks upward from book/ for it; --config
# makes that explicit. A fresh environment every time, so that no stale page survives.
exec "$JB" build book/ --config _config.yml --path-output "$out" \
  -W -n --keep-going --all --quiet
