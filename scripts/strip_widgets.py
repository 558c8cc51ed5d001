"""Remove saved widget state from executed notebooks (papermill's copies under results/).

tqdm's progress bars in a kernel are Jupyter widgets: the executed notebook keeps each bar's
model id and a frozen state that a viewer without the kernel shows as a dead "0%" bar. This keeps
each such output's plain-text form (the bar's final line) and drops the widget state, changing
nothing else.

    python scripts/strip_widgets.py results/*/*/*.ipynb
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from dvnlib.results import atomic_write_text

WIDGET = "application/vnd.jupyter.widget-view+json"


def strip(nb: dict) -> int:
    """Strip ``nb`` in place; how many outputs lost their widget view."""
    nb.get("metadata", {}).pop("widgets", None)
    n = 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if WIDGET in out.get("data", {}):
                del out["data"][WIDGET]
                n += 1
    return n


def main(paths: list[str]) -> None:
    for p in map(Path, paths):
        nb = json.loads(p.read_text())
        had = "widgets" in nb.get("metadata", {})
        n = strip(nb)
        if n or had:
            atomic_write_text(p, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            print(f"{p}: {n} widget outputs reduced to text")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/strip_widgets.py NOTEBOOK.ipynb ...")
    main(sys.argv[1:])
