"""A run's result as the terminal shows it (``table``) and as files (``write``): ``inference.csv``
(one row per timed round, what the book's cost page reads), ``bench.json`` and ``tables/*.csv``."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Iterable, Sequence

from .. import results as R
from .readout import level_rows


def public(result: dict) -> dict:
    """The JSON object without the raw timing objects."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _f(x, nd=2):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def table(result: dict) -> str:
    lines = [f"Benchmark on {result['device']} (torch {result['versions'].get('torch')}, "
             f"threads {result['hardware'].get('torch_threads')}, engine {result['engine']['name']}), "
             f"{result['date']}"]
    d = result.get("deciding_engine")
    if d:
        lines.append(f"Claim 4 is decided by {d['name']} at {d['threads']} thread(s)"
                     + ("" if d["timed"] else ", which this run did not time"))
    lines.append("")
    lines.append("Inference: extracted level vs full network (medians; speed-up = full / level)")
    lines.append(f"{'engine':<24}{'scen':<5}{'net':<20}{'batch':>6}{'level':>6}{'MMACs':>8}{'ms/img':>9}"
                 f"{'[min':>8}{'max]':>8}{'speedup':>9}{'MACx':>7}{'share':>7}{'paper':>7}")
    for r in result["inference"]:
        lines.append(f"{r['engine']:<24}{r['scenario']:<5}{r['network']:<20}{r['batch']:>6}{r['level']:>6}"
                     f"{r['macs'] / 1e6:>8.1f}"
                     f"{r['ms_per_image']:>9.3f}{r['ms_per_image_min']:>8.3f}{r['ms_per_image_max']:>8.3f}"
                     f"{r['speedup']:>8.2f}x{r['mac_ratio']:>6.2f}x{100 * r['share_of_mac_ratio']:>6.0f}%"
                     f"{_f(r['paper_speedup'], 1):>7}")
    sw = result["switches"]["inference"]
    if sw:
        lines += ["", f"Switches ({sw[0]['scenario']}): full network ms/image and level speed-ups"]
        for s in sw:
            sp = " ".join(f"L{l} {v:.2f}x" for l, v in s["speedup"].items())
            lines.append(f"  batch {s['batch']:>4} {s['engine']:<40} full {s['full_ms_per_image']:8.3f} ms/img  {sp}")
    p = result["switches"].get("threads_probe")
    if p:
        lines.append(f"  threads probe (J2 level 2, batch 8): " + ", ".join(f"{n} thread(s) {v:.1f} ms"
                                                                            for n, v in p["ms"].items()))
    lines += ["", "Training: one joint step (every task and level) vs ideal and masked"]
    for t in result["switches"]["training"]:
        lines.append(f"  {t['setting']:<36} step {t['step_ms']:7.1f} ms  full {t['full_step_ms']:6.1f} ms  "
                     f"ideal {t['ideal_ms']:7.1f} ms  ratio {t['ratio_to_ideal']:.2f} (paired "
                     f"{t['ratio_to_ideal_paired']:.2f})  masked {t['masked_step_ms']:7.1f} ms  "
                     f"vs masked {t['speedup_vs_masked']:.2f}x (paired {t['speedup_vs_masked_paired']:.2f}x)")
    if result.get("int8"):
        lines += ["", "int8 against float32 (ONNX Runtime, same rounds; speed-up = float32 / int8)"]
        for r in result["int8"]:
            lines.append(f"  {r['scenario']} batch {r['batch']:>4} level {r['level']}: float32 "
                         f"{r['float32_ms_per_image']:8.3f} ms/img  int8 {r['int8_ms_per_image']:8.3f} ms/img  "
                         f"{r['speedup']:.2f}x [{_f(r['speedup_low'])}, {_f(r['speedup_high'])}]")
    d = result.get("data")
    if d:
        lines += ["", f"Data ({d['scenario']} {d['profile']}): {d['data_ms']:.2f} ms of batches per "
                      f"{d['step_ms']:.1f} ms step = {100 * d['fraction_of_step']:.1f}% of a step"]
    lines += ["", "Targets"]
    for t in result["targets"]:
        lines.append(f"  [{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['value']:.3f}")
    return "\n".join(lines)


CSV_COLUMNS = ("scenario", "network", "task", "level", "units", "params", "macs", "batch_size", "engine",
               "threads", "repeat", "ms_per_image", "device", "hardware", "torch", "commit", "date")


def timing_rows(result: dict, engines: Sequence[str] | None = None) -> list[dict]:
    """One row per timed repeat of the headline engine and ONNX Runtime (the engines of the
    ``inference`` rows): the schema ``report.load_bench`` reads."""
    engines = set(engines or {r["engine"] for r in result["inference"]})
    hw = result["hardware"]
    common = {"device": result["device"].split(":")[0], "hardware": hw.get("gpu") or hw.get("cpu"),
              "torch": result["versions"].get("torch"), "commit": (result["git"] or {}).get("commit"),
              "date": result["date"]}
    rows = []
    for lt in result["_timings"]:
        if lt.engine.name not in engines:
            continue
        for i, s in enumerate(lt.timing.samples):
            rows.append({"scenario": lt.scenario, "network": lt.network, "task": lt.task, "level": lt.level,
                         "units": ",".join(map(str, lt.units)), "params": lt.params, "macs": lt.macs,
                         "batch_size": lt.batch, "engine": lt.engine.name, "threads": lt.engine.threads,
                         "repeat": i, "ms_per_image": 1000 * s / lt.batch, **common})
    return rows


def _csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
    return buf.getvalue()


def inference_csv(result: dict) -> str:
    """The text of ``inference.csv``: ``timing_rows`` as CSV."""
    return _csv_text(timing_rows(result), CSV_COLUMNS)


def write(result: dict, out: str | os.PathLike) -> list[Path]:
    """``out/inference.csv`` (one row per timed repeat, headline engine and ONNX Runtime: what the
    book's cost page reads), ``out/bench.json`` (everything) and ``out/tables/*.csv`` (per level with ratios and the
    paper's figure, every engine, training, targets), each written atomically."""
    out = Path(out)
    meta = {"device": result["device"], "torch": result["versions"].get("torch"),
            "commit": (result["git"] or {}).get("commit"), "date": result["date"]}
    paths = []

    def put(path: Path, text: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        R.atomic_write_text(path, text)
        paths.append(path)
    put(out / "inference.csv", inference_csv(result))
    levels = [{**r, **meta} for r in level_rows(result["_timings"])]
    put(out / "tables" / "levels.csv", _csv_text(levels, list(levels[0])))
    train = [{**t, **meta} for t in result["switches"]["training"]]
    put(out / "tables" / "training.csv", _csv_text(train, list(train[0])))
    if result.get("int8"):
        put(out / "tables" / "int8.csv", _csv_text([{**r, **meta} for r in result["int8"]], [*result["int8"][0], *meta]))
    if result.get("data"):
        put(out / "tables" / "data.csv", _csv_text([{**result["data"], **meta}], [*result["data"], *meta]))
    put(out / "tables" / "targets.csv", _csv_text([{**t, **meta} for t in result["targets"]],
                                                  ["target", "value", "threshold", "met", *meta]))
    R.write_json(out / "bench.json", public(result))
    paths.append(out / "bench.json")
    return paths

