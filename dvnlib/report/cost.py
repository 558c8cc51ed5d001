"""The cost benchmark's files as the cost page shows them: per-level speed-ups with intervals,
Table 2 laid out as the paper lays it out, the benchmark's targets, engines and training steps.

Reads what ``bench.write`` wrote (``sources.load_bench*``); nothing here times anything.
"""
from __future__ import annotations

import pandas as pd

from .paper import PAPER_HARDWARE
from ..paper import DECIDING_ENGINE
from ..timing import speedup
from .sources import BENCH_COMMAND, BENCH_KEYS, load_reported_cost


def bench_levels(bench: pd.DataFrame) -> pd.DataFrame:
    """Per timed group (``BENCH_KEYS``) and level of ``inference.csv``: ``ms`` the median ms per
    image; ``speedup``, ``low``, ``high`` the level's speed-up over the full network (top level)
    and its 95% interval over the rounds both ran in (``timing.speedup``, from the same numbers as
    the benchmark's own figure, so equal to it); ``mac_ratio`` and ``density`` the level's MACs and
    parameters against the full network's."""
    rows = []
    for key, g in bench.groupby(BENCH_KEYS, sort=False):
        full = g[g["level"] == g["level"].max()]
        f = full.iloc[0]
        for lvl, x in g.groupby("level"):
            pair = x.merge(full[["repeat", "ms_per_image"]], on="repeat", suffixes=("", "_full"))
            sp = speedup(pair["ms_per_image_full"], pair["ms_per_image"])
            r = x.iloc[0]
            rows.append({**dict(zip(BENCH_KEYS, key)), "level": int(lvl), "units": r["units"],
                         "params": int(r["params"]), "macs": int(r["macs"]), "threads": r["threads"],
                         "ms": float(x["ms_per_image"].median()),
                         "speedup": sp.point, "low": sp.low, "high": sp.high, "repeats": sp.rounds,
                         "mac_ratio": f["macs"] / r["macs"], "density": r["params"] / f["params"],
                         "top": int(lvl) == int(f["level"])})
    return pd.DataFrame(rows)


def fmt_speedup(sp: float, lo: float, hi: float) -> str:
    if sp != sp:
        return "—"
    return f"{sp:.2f}x" + (f" ({lo:.2f}–{hi:.2f})" if lo == lo and hi == hi else "")


def bench_hardware(meta: dict) -> str:
    """The benchmark's machine in words, from ``bench.json``."""
    hw = meta.get("hardware") or {}
    n = hw.get("torch_threads")
    return (f"{meta.get('device', 'device not recorded')}"
            + (f", {n} torch thread{'s' * (n != 1)}" if n else "")
            + f", torch {(meta.get('versions') or {}).get('torch', '?')}")


def timed(meta: dict | None, scenario: str, task: int = 1) -> str:
    """'ResNet-42, 64 px' and the size it was timed at, for a scenario of the benchmark."""
    from ..layout import layout
    profile = ((meta or {}).get("plan") or {}).get("inference_profile")
    lay = layout(scenario, profile)
    return (f"{lay.spec.name}, {lay.tasks[task - 1].input_size} px, task {task}, "
            + (f"{profile} profile" if profile else "paper size"))


def table2(lv: pd.DataFrame | None, scenario: str = "J2") -> pd.DataFrame:
    """Table 2 laid out as the paper lays it out (a row per quantity, a column per level l(i)):
    each figure the paper reports for ``scenario`` (Table 2 for J2, Section 4.3 for J1), labelled
    reported, followed by ours from the benchmark's timings (``bench_levels``): parameters,
    density and compression of the networks timed, their MAC ratio, and at every batch size the
    median time per image and the speed-up with its 95% interval."""
    rep = load_reported_cost()
    rep = rep[rep["scenario"] == scenario].set_index("level")
    ours = lv[lv["scenario"] == scenario] if lv is not None else lv
    levels = sorted(set(rep.index) | (set(ours["level"]) if ours is not None else set()))
    batches = sorted(set(ours["batch_size"])) if ours is not None else []
    engines = list(dict.fromkeys(ours["engine"])) if ours is not None else []  # headline engine first
    first = (ours[(ours["batch_size"] == batches[0]) & (ours["engine"] == engines[0])].set_index("level")
             if batches else None)
    rows = []

    def timed_rows(b):  # per engine, the levels timed at batch b, and the engine's words
        for e in engines:
            yield (f", {engine_label(e)}" if len(engines) > 1 else "",
                   ours[(ours["batch_size"] == b) & (ours["engine"] == e)].set_index("level"))

    def add(quantity, source, fmt, table):
        if table is None:
            return
        rows.append({"quantity": quantity, "source": source,
                     **{f"l({l})": fmt(table.loc[l]) if table is not None and l in table.index else "—"
                        for l in levels}})

    def reported(quantity, column, fmt):
        if column in rep.columns and rep[column].notna().any():
            hw = rep["hardware"].dropna().iloc[0] if quantity.startswith("Inference") else None
            add(quantity, f"reported (paper{', ' + hw if hw else ''})",
                lambda r: "—" if r[column] != r[column] else fmt(r[column]), rep)
    reported("No. parameters", "params_M", lambda v: f"{v:g}M")
    add("No. parameters", "ours", lambda r: f"{r['params'] / 1e6:.2f}M", first)
    reported("Density", "density_pct", lambda v: f"{v:g}%")
    add("Density", "ours", lambda r: f"{100 * r['density']:.1f}%", first)
    reported("Compression rate", "compression_x", lambda v: f"{v:g}x")
    add("Compression rate", "ours", lambda r: f"{1 / r['density']:.1f}x", first)
    add("MAC ratio (full network / level)", "ours", lambda r: f"{r['mac_ratio']:.2f}x", first)
    reported("Inference time (ms per image)", "inference_ms_per_image", lambda v: f"{v:g}")
    for b in batches:
        for eng, t in timed_rows(b):
            add("Inference time (ms per image)", f"ours, batch {b}{eng}", lambda r: f"{r['ms']:.3f}", t)
    reported("Practical speed-up", "speedup_x", lambda v: f"{v:g}x")
    for b in batches:
        for eng, t in timed_rows(b):
            add("Practical speed-up", f"ours, batch {b} (95%){eng}", lambda r: "1x" if r["top"] else
                fmt_speedup(r["speedup"], r["low"], r["high"]), t)
    return pd.DataFrame(rows)


def fmt_target(target: str, v: float) -> str:
    if "MAC ratio" in target:
        return f"{v:.0%} of it"
    if "fraction_of_step" in target:
        return f"{v:.1%}"
    if "speed-up" in target or "speedup" in target:
        return f"{v:.2f}x"
    return f"{v:.2f}"


def targets_table(targets: pd.DataFrame) -> pd.DataFrame:
    """``tables/targets.csv`` as a reader reads it: each target, our figure, met or missed."""
    return pd.DataFrame({"target": targets["target"],
                         "ours": [fmt_target(t, v) for t, v in zip(targets["target"], targets["value"])],
                         "required": [fmt_target(t, v) for t, v in zip(targets["target"], targets["threshold"])],
                         "met?": targets["met"].map({True: "met", False: "missed"})})


ENGINE_LABELS = {"plain": "plain", "channels_last": "channels_last", "fuse_bn": "fused BN",
                 "fuse_bn+channels_last": "fused BN + channels_last",
                 "prepacked": "pre-laid-out weights", "onnxruntime": "ONNX Runtime"}


def engine_label(engine: str) -> str:
    base, _, threads = str(engine).partition("@")
    return ENGINE_LABELS.get(base, base) + (f" ({threads})" if threads else "")


def engines_table(levels: pd.DataFrame, scenario: str, headline: str | None = None) -> pd.DataFrame:
    """``tables/levels.csv`` for one scenario: per batch and engine, every level's median ms per
    image, the full network's time against the plain engine's, and each level's speed-up."""
    d = levels[levels["scenario"] == scenario]
    rows = []
    for (b, e), g in d.groupby(["batch", "engine"], sort=False):
        g = g.set_index("level").sort_index()
        top = g.index.max()
        plain = d[(d["batch"] == b) & (d["engine"] == "plain") & (d["level"] == top)]["ms_per_image"]
        row = {"batch": int(b), "engine": engine_label(e) + (" (headline)" if e == headline else "")}
        row.update({f"ms/image l({l})" + (" full" if l == top else ""): f"{g.loc[l, 'ms_per_image']:.2f}"
                    for l in g.index})
        row["full network vs plain"] = f"{plain.iloc[0] / g.loc[top, 'ms_per_image']:.2f}x" if len(plain) else "—"
        row.update({f"speed-up l({l})": f"{g.loc[l, 'speedup']:.2f}x" for l in g.index if l != top})
        rows.append(row)
    return pd.DataFrame(rows)


def training_table(training: pd.DataFrame) -> pd.DataFrame:
    """``tables/training.csv``: per setting, the joint step against its ideal and the masked step."""
    return pd.DataFrame({"setting": training["setting"], "joint step ms": training["step_ms"].map("{:.0f}".format),
                         "full step ms": training["full_step_ms"].map("{:.1f}".format),
                         "ideal ms": training["ideal_ms"].map("{:.0f}".format),
                         "ratio to ideal": training["ratio_to_ideal"].map("{:.2f}".format),
                         "masked step ms": training["masked_step_ms"].map("{:.0f}".format),
                         "speed-up vs masked": training["speedup_vs_masked"].map("{:.2f}x".format),
                         "masked MACs / joint MACs": training["masked_mac_ratio"].map("{:.2f}x".format)})


def bench_run_text(meta: dict) -> str:
    """Where, when and how the benchmark ran, from ``bench.json``."""
    hw, v, git = meta.get("hardware") or {}, meta.get("versions") or {}, meta.get("git") or {}
    cpu = str(meta.get("device", "")).startswith("cpu")
    plan = meta.get("plan") or {}
    batches = plan.get("batches") or []
    return (f"`{BENCH_COMMAND}`" + (" `--quick`" if meta.get("quick") else "")
            + f" ran on {str(meta.get('date', '?'))[:16].replace('T', ' ')} UTC at commit "
            f"`{(git.get('commit') or 'unknown')[:10]}`" + (" (dvnlib modified)" if git.get("dvnlib_dirty") else "")
            + f", on {bench_hardware(meta)}, Python {v.get('python', '?')}, in "
            f"{float(meta.get('wall_seconds') or 0) / 60:.1f} minutes; "
            f"{' and '.join(f'{r} rounds at batch {b}' for b, r in zip(batches, plan.get('rounds') or []))}, "
            "every level timed in the same rounds as its full network. "
            + (f"**These are CPU timings on a shared {hw.get('cpu_count', '?')}-core machine**; the paper's are "
               f"GPU timings ({PAPER_HARDWARE.replace(' (', ', ').rstrip(')')}), so its times and ours compare only "
               "as ratios. " if cpu else
               f"The paper's timings are on {PAPER_HARDWARE}. ")
            + f"Headline engine: **{(meta.get('engine') or {}).get('name', '?')}**, the one under which the full "
              "network ran fastest at the largest batch (so that no level's speed-up is flattered by a slow "
              "full network); the others are compared under *What each switch bought*. Claim 4 is decided by "
              f"{engine_label(DECIDING_ENGINE[0])} at {DECIDING_ENGINE[1]} thread, fixed before any timing "
              "(the preregistration), whichever engine is fastest.")


# --------------------------------------------------------------------------------------------
