"""The whole benchmark: what one run measures (``Plan``) and running it (``run``)."""
from __future__ import annotations

import datetime as _dt
import platform
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch

from ..layout import layout
from ..network import DVNNet
from ..paper import DECIDING_ENGINE, is_deciding
from .engines import ORT, ORT_INT8, LevelTiming, cpu_engines, cuda_engines, onnxruntime_available, threads_probe, time_levels
from .readout import int8_rows, level_rows, switch_summary, targets
from .training import DEFAULT, PREVIOUS, TrainSetting, time_data, time_training


@dataclass(frozen=True)
class Plan:
    """What one run measures. ``QUICK`` keeps it under about a minute on a 2-core CPU."""
    batches: tuple[int, ...] = (1, 128)
    rounds: tuple[int, ...] = (30, 5)  # timed rounds at each batch
    warmup: int = 2
    inference: tuple[str, ...] = ("J2", "J1")
    sweep: str = "J2"  # the scenario every engine is timed on; the others run the headline only
    sweep_engines: tuple[str, ...] | None = None  # None: every engine
    train_repeats: int = 7
    # always "previous" and "default" (engine_speedup), then these switches
    train_settings: tuple[str, ...] = ("nchw", "per_level", "loop", "fused", "threads")
    data_repeats: int = 9
    probe_threads: bool = True
    # Sizes (the benchmark's; tests shrink them): inference at paper size (None) or a profile's,
    # training (J2) and data (FJ2) at a profile's width, batch and images.
    inference_profile: str | None = None
    train_profile: str = "quick"
    train_batch: int | None = None
    data_images: int | None = None


FULL = Plan()
QUICK = Plan(batches=(1, 16), rounds=(10, 3), warmup=1,
             sweep_engines=("fuse_bn+channels_last", ORT, ORT_INT8), train_repeats=3,
             train_settings=(), data_repeats=3, probe_threads=False)



def environment(device: torch.device, threads: int | None) -> dict:
    from .. import provenance as P
    hw = P.hardware(str(device))
    if threads is not None:
        hw["torch_threads"] = threads
    name = hw.get("gpu") if device.type == "cuda" else f"{hw['cpu']} ({hw['cpu_count']} cores)"
    return {"device": f"{device.type}: {name}", "hardware": hw, "versions": P.versions(),
            "git": P.git_state(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node()}


def run(quick: bool = False, device: str = "cpu", threads: int | None = 1, engine: str | None = None,
        plan: Plan | None = None, log: Callable[[str], None] | None = None) -> dict:
    """The whole benchmark; returns the JSON object (``public`` drops the raw timings).

    The headline engine (``engine``; default: the engine under which the sweep's full network
    ran fastest at the largest batch, so that no level is flattered by a slow full network) gives
    the ``inference`` entries and the targets; every engine's figures are under ``switches``."""
    dev = torch.device(device)
    plan = plan or (QUICK if quick else FULL)
    log = log or (lambda s: None)
    saved_threads = torch.get_num_threads()
    t_start = time.perf_counter()
    try:
        if dev.type == "cuda":
            threads = None
            engines = cuda_engines()
        else:
            threads = threads or 1
            engines = [e for e in cpu_engines(threads) if onnxruntime_available() or not e.onnx]
        probe = None
        nets = {plan.sweep: DVNNet.from_layout(layout(plan.sweep, plan.inference_profile))}
        if plan.probe_threads and dev.type == "cpu":
            log("threads probe")
            probe = threads_probe(threads, net=nets[plan.sweep] if plan.sweep == "J2" else None,
                                  profile=plan.inference_profile)
        if dev.type == "cpu" and not (probe and probe["other_faster"]):
            engines = [e for e in engines if e.threads == threads]  # the other thread count: see the probe
        by_name = {e.name: e for e in engines}
        if engine is not None and engine not in by_name:
            raise ValueError(f"unknown engine {engine!r}: valid engines are {', '.join(by_name)}")
        sweep = [e for e in engines if plan.sweep_engines is None or e.name in plan.sweep_engines
                 or e.name == engine]
        timings: list[LevelTiming] = []
        for b, rounds in zip(plan.batches, plan.rounds):
            log(f"inference {plan.sweep} batch {b}: {len(sweep)} engines, {rounds} rounds")
            timings += time_levels(plan.sweep, b, sweep, rounds, plan.warmup, device=dev, net=nets[plan.sweep],
                                   profile=plan.inference_profile)
        del nets
        rows = level_rows(timings)
        large = max(plan.batches)
        full = {r["engine"]: r["ms_per_image"] for r in rows
                if r["scenario"] == plan.sweep and r["batch"] == large and r["level"] == max(
                    x["level"] for x in rows if x["scenario"] == plan.sweep)}
        if engine is None:  # among float32 engines: int8 answers its own question (``int8_rows``)
            engine = min((e for e in full if not by_name[e].int8), key=full.get)
        # The headline rows: the headline engine's, ONNX Runtime's (the deployment engine) and the
        # fastest PyTorch engine's, so that every scenario has ONNX Runtime beside eager PyTorch.
        eager = min((e for e in full if not by_name[e].onnx), key=full.get, default=None)
        shown = list(dict.fromkeys(e for e in (engine, ORT, eager) if e in by_name))
        for sc in plan.inference:
            if sc == plan.sweep:
                continue
            net = DVNNet.from_layout(layout(sc, plan.inference_profile))
            for b, rounds in zip(plan.batches, plan.rounds):
                log(f"inference {sc} batch {b}: engines {', '.join(shown)}, {rounds} rounds")
                timings += time_levels(sc, b, [by_name[e] for e in shown], rounds, plan.warmup, device=dev,
                                       net=net, profile=plan.inference_profile)
            del net
        rows = level_rows(timings)
        head_rows = [r for r in rows if r["engine"] in shown]
        int8 = int8_rows(timings, plan.sweep)

        log("training")
        settings = {"previous": replace(PREVIOUS, threads=threads), "default": replace(DEFAULT, threads=threads),
                    "nchw": TrainSetting("NCHW, input layer per task", False, threads),
                    "per_level": TrainSetting("channels_last, input layer per level", True, threads, False),
                    "loop": TrainSetting("default with SGD's per-tensor loop", True, threads, optimizer="loop"),
                    "fused": TrainSetting("default with fused SGD", True, threads, optimizer="fused")}
        if probe and probe["other_faster"]:
            settings["threads"] = TrainSetting(f"default @ {probe['other']} threads", True, probe["other"])
        # PREVIOUS first: every setting's speedup_vs_first is over it
        chosen = [settings["previous"], settings["default"],
                  *(settings[n] for n in plan.train_settings if n in settings)]
        train_rows = time_training("J2", plan.train_profile, plan.train_repeats, plan.warmup, chosen, device=dev,
                                   batch=plan.train_batch)
        headline = {**train_rows[1], "engine_speedup": train_rows[1]["speedup_vs_first"],
                    "engine_speedup_of_medians": train_rows[0]["step_ms"] / train_rows[1]["step_ms"]}
        log("data")
        try:
            data = time_data("FJ2", plan.train_profile, plan.data_repeats, plan.warmup, channels_last=True,
                             threads=threads, images=plan.data_images, device=dev)
        except ImportError:
            data = None
        env = environment(dev, threads)
        return {
            "device": env["device"],
            "inference": head_rows,
            "training": headline,
            "data": data,
            "int8": int8,
            "targets": targets(head_rows, headline, data, large, int8),
            "switches": {"inference": switch_summary(rows, plan.sweep), "training": train_rows,
                         "threads_probe": probe},
            "engine": asdict(by_name[engine]),
            # the engine the book's claim 4 is decided by (not the headline: fixed before timing)
            "deciding_engine": {"name": DECIDING_ENGINE[0], "threads": DECIDING_ENGINE[1],
                                "timed": any(is_deciding(r["engine"], r["threads"]) for r in head_rows)},
            "quick": plan == QUICK,
            "plan": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(plan).items()},
            **{k: env[k] for k in ("hardware", "versions", "git", "date", "host")},
            "wall_seconds": time.perf_counter() - t_start,
            "_timings": timings,
        }
    finally:
        torch.set_num_threads(saved_threads)


