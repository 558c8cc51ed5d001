"""What several test modules share: a small FJ1 run on the CPU."""
import dvnlib

# One epoch on 64 images per task: seconds on a CPU, enough to exercise every path of a run.
TINY = {"epochs": 1, "train_per_task": 64, "test_per_task": 64, "batch_size": 32}


def small_run(out, overrides=TINY, **kw):
    """``dvnlib.run`` of FJ1 at smoke with ``overrides``, DVN at seed 0 on the CPU unless ``kw``
    says otherwise; results under ``out``."""
    args = dict(scenario="FJ1", profile="smoke", methods=["dvn"], seeds=[0], out_dir=out,
                progress=False, overrides=overrides, device="cpu")
    args.update(kw)
    return dvnlib.run(**args)


def count_trainings(monkeypatch) -> list:
    """A list that gets one item per run trained from now on (``runs.train_one``, which trains
    as usual). Replacing the method itself would not do: its code is part of its runs' identity."""
    from dvnlib import runs
    calls, real = [], runs.train_one

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(runs, "train_one", counted)
    return calls


def refuse_training(monkeypatch) -> None:
    """From now on, training any run fails the test: what is asked must be read back."""
    from dvnlib import runs

    def boom(*args, **kwargs):
        raise AssertionError("a finished run was trained again")
    monkeypatch.setattr(runs, "train_one", boom)
