"""The cost benchmark: is a level with fewer units really cheaper to run and to train?

``python -m dvnlib bench [--quick] [--json] [--out DIR]`` measures, in one process so that every
figure is a ratio of timings taken side by side:

* **inference** (``engines``): the extracted sub-network (``DVNNet.extract``) of every level of
  J2's ResNet-42 (64 px) and J1's WRN-32-4 (32 px), task 1, at batch 1 and batch 128 (``--quick``:
  batch 16), against the full network. ``speedup`` is ``timing.speedup`` (the full network's
  median time over the level's, with its 95% interval over the rounds); ``mac_ratio`` the full
  network's MACs over the level's (``accounting.costs``); ``paper_speedup`` Table 2's figure (Kim
  et al., CVPR 2019; ``dvnlib.paper``) where it has one.
* **training** (``training``): one joint DVN step (``train.joint_step``, all k x n_h passes of
  eq. 4) of J2 at the quick profile's width, against the *ideal* (the full network's step time
  scaled by the MACs of all passes over those of one full pass) and against a *masked*
  implementation (``masked.MaskedDVN``: full-width passes with the channels outside the output's
  units zeroed, as methods that mask compute).
* **data** (``training``): the share of a quick-profile training step (FJ2) spent producing its
  batches (``data.TrainStream`` on synthetic uint8 images of the quick profile's size).
* **switches**: what each setting buys (channels_last with BN folded into the convolutions,
  ONNX Runtime, the number of threads), measured in the same run.

Timings: ``timing.interleaved`` (warm-up rounds, then every contender once per round in an order
rotated from round to round, so that a level and the full network see the same machine load; the
machine is shared), on CUDA with CUDA events. Min and max are reported beside the medians.

Inference engines (``engines.Engine``), applied alike to the full network and to every level, all
on public APIs: ``plain`` is the extracted ``CompactNet`` as it is, in eager PyTorch;
``fuse_bn+channels_last`` folds BN into the convolutions (``CompactNet.fuse_bn``) and runs NHWC;
``onnxruntime`` (CPU) is the BN-folded level exported to ONNX (TorchScript exporter, opset
``deploy.OPSET``) and run by ONNX Runtime's CPU provider with full graph optimisation, what
``dvnlib.deploy`` ships; ``onnxruntime-int8`` is that file statically quantised as
``deploy.export``'s int8 files are (``deploy.quantize``), timed against the float32 file in the
same rounds at every level of the sweep (``readout.int8_rows``; target: ``INT8_TARGET`` times
faster for the full network at the large batch). Every level is timed under every engine in the same rounds; the headline
rows (``inference``) are the headline engine's, ONNX Runtime's and the fastest eager engine's, on
every scenario. Timings of the top level and the full network are the same measurement.

The modules, in the order a run uses them: ``engines`` (what is timed), ``masked`` and
``training`` (the training step), ``readout`` (what the timings say: speed-ups and targets),
``plan`` (the whole run), ``output`` (the terminal table and the files the book reads).
"""
from .engines import ORT, ORT_INT8, Engine, LevelTiming, cpu_engines, cuda_engines, measure, onnxruntime_available, prepare, time_levels
from .masked import MaskedDVN
from .output import CSV_COLUMNS, inference_csv, public, table, timing_rows, write
from .plan import FULL, QUICK, Plan, run
from .readout import INT8_TARGET, ORT_MAC_SHARE_TARGET, int8_rows, level_rows, ms_per_image, targets
from .training import DEFAULT, PREVIOUS, TrainSetting, time_data, time_training

__all__ = ["CSV_COLUMNS", "DEFAULT", "FULL", "INT8_TARGET", "ORT", "ORT_INT8", "ORT_MAC_SHARE_TARGET", "PREVIOUS", "QUICK", "Engine",
           "LevelTiming", "MaskedDVN", "Plan", "TrainSetting", "cpu_engines", "cuda_engines", "inference_csv",
           "int8_rows", "level_rows", "measure", "ms_per_image", "onnxruntime_available", "prepare", "public", "run", "table", "targets",
           "time_data", "time_levels", "time_training", "timing_rows", "write"]
