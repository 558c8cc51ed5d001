"""Runs beyond one process (issue 11): worker processes and submitit jobs give the serial numbers;
locks keep concurrent runners from training a run or a shared stage twice; dead holders' locks
are taken over; scheduling code is not part of a run's identity.

Trainings are counted from the checkpoints written: with one epoch, every training of a stage
saves its checkpoint exactly once. Worker processes and subprocesses start with a
``sitecustomize`` (put on their PYTHONPATH here) that appends each save to a trace file."""
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter, namedtuple
from pathlib import Path

import pytest

import dvnlib
from dvnlib import runner, runs, workers as W
from dvnlib.data import data_root
from helpers import TINY, small_run

pytestmark = pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                                reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")

REPO = Path(__file__).resolve().parent.parent

SITECUSTOMIZE = """
import os
if os.environ.get("DVN_TRACE_SAVES"):
    import dvnlib.results as _R
    _save = _R.save_checkpoint

    def save_checkpoint(path, state):
        _save(path, state)
        with open(os.environ["DVN_TRACE_SAVES"], "a") as f:
            f.write(f"{os.getpid()} {path}\\n")
    _R.save_checkpoint = save_checkpoint
"""


@pytest.fixture
def trace(tmp_path, monkeypatch):
    """Trace file of checkpoint saves by every process started from here on (spawned workers,
    submitit jobs, subprocesses); ``count()`` gives saves per checkpoint path (relative)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "saves.txt"
    monkeypatch.setenv("DVN_TRACE_SAVES", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    def count(under: Path) -> Counter:
        lines = log.read_text().splitlines() if log.exists() else []
        paths = (Path(line.split(" ", 1)[1]) for line in lines)
        return Counter(q.relative_to(under).as_posix() for q in paths if q.is_relative_to(under))
    return count


def _run(out, **kw):
    return small_run(out, **{"methods": ["dvn", "baseline"], "seeds": [0, 1], "threads": 1, **kw})


def test_serial_workers_and_submitit_give_identical_metrics(tmp_path, trace):
    _run(tmp_path / "serial")
    _run(tmp_path / "workers", workers=2)
    _run(tmp_path / "submitit", executor="submitit", workers=2, cluster={"local": True})
    serial = (tmp_path / "serial" / "FJ1" / "smoke" / "metrics.csv").read_bytes()
    assert serial.count(b"\n") == 1 + 2 * (4 + 4)  # header; 2 seeds x (dvn 4 outputs + baseline 4 networks)
    for other in ("workers", "submitit"):
        assert (tmp_path / other / "FJ1" / "smoke" / "metrics.csv").read_bytes() == serial, other
    # the workers and the jobs each trained every run once (the serial run is in this process)
    for other in ("workers", "submitit"):
        saves = trace(tmp_path / other / "FJ1" / "smoke")
        assert saves and set(saves.values()) == {1}, saves
        assert sum(p.endswith("dvn.pt") for p in saves) == 2  # one per seed


def test_two_concurrent_runners_train_every_run_once(tmp_path, trace):
    out = tmp_path / "shared-out"
    script = textwrap.dedent(f"""
        import dvnlib
        if __name__ == "__main__":
            dvnlib.run("FJ1", "smoke", methods=["dvn", "baseline-full", "packnet"], seeds=[0, 1],
                       out_dir={str(out)!r}, progress=False, overrides={TINY!r}, device="cpu", threads=1)
        """)
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    saves = trace(out / "FJ1" / "smoke")
    # every run's checkpoints and every shared stage written by one training, not two
    assert set(saves.values()) == {1}, saves
    assert sum(p.endswith("dvn.pt") for p in saves) == 2
    assert sum("/shared/" in p for p in saves) == 2 * 2  # baseline-full: one network per task and seed
    m = (out / "FJ1" / "smoke" / "metrics.csv").read_text().splitlines()
    assert {line.split(",")[2] for line in m[1:]} == {"dvn", "baseline-full", "packnet"}
    assert not list(out.rglob("*.lock")), "a lock was left behind"


def test_shared_stage_is_trained_once_with_workers(tmp_path, trace):
    # baseline and baseline-full share their full-width networks: two workers, one seed, both
    # runs at once; one trains each shared stage, the other waits and reads it back
    df = _run(tmp_path, methods=["baseline", "baseline-full"], seeds=[0], workers=2)
    saves = trace(tmp_path / "FJ1" / "smoke")
    shared = {p: n for p, n in saves.items() if "/shared/" in p}
    assert len(shared) == 4 and set(shared.values()) == {1}, saves  # 2 tasks x 2 widths, once each
    full = df[df.method == "baseline-full"].set_index(["seed", "task"])["accuracy"]
    base = df[(df.method == "baseline") & (df.level == 2)].set_index(["seed", "task"])["accuracy"]
    assert full.equals(base)  # the very same networks


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    out = tmp_path / "FJ1" / "smoke"
    plan = runs.resolve(runner.check("FJ1", "smoke", ["dvn"], [0], TINY, "cpu", tmp_path))
    record = plan.record(plan.run("dvn", 0))
    lock = record.with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "what": "FJ1 dvn seed 0",
                                "started": "2026-01-01T00:00:00+00:00"}))
    with caplog.at_level("INFO", logger="dvnlib"):
        _run(tmp_path, methods=["dvn"], seeds=[0])
    assert "taking over the lock" in caplog.text and "no longer running" in caplog.text
    assert record.exists() and not lock.exists()
    assert (out / "metrics.csv").read_text().count("\n") == 1 + 4


@pytest.mark.parametrize("kw, match", [
    (dict(workers=0), "workers must be a whole number of at least 1"),
    (dict(executor="dask"), "valid executors are local, submitit"),
    (dict(cluster={"gpus": 2}), "unknown cluster settings gpus"),
])
def test_bad_schedule_is_refused_before_any_data(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _run(tmp_path, data_root=tmp_path / "no-data-here", **kw)


def test_worker_threads_default_to_a_share_of_the_cores():
    s = W.check_schedule(workers=2)
    assert s.workers == 2 and s.threads == max(1, W.cores() // 2)
    assert W.check_schedule().threads is None  # serial: torch's setting is left as it is


def test_submitit_waits_for_a_run_another_runner_holds(tmp_path, trace, caplog):
    # another runner holds FJ1 dvn seed 0 and lets go of it unfinished: no job is submitted while
    # it is held; then one is, and the run is trained once
    plan = runs.resolve(runner.check("FJ1", "smoke", ["dvn"], [0], TINY, "cpu", tmp_path))
    record = plan.record(plan.run("dvn", 0))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from dvnlib.locks import FileLock
        l = FileLock({str(record.with_suffix(".lock"))!r}, "another runner")
        assert l.acquire(wait=False)
        print("held", flush=True)
        time.sleep(3)
        l.release()
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdout.readline().strip() == "held"
    with caplog.at_level("INFO", logger="dvnlib"):
        _run(tmp_path, methods=["dvn"], seeds=[0], executor="submitit", cluster={"local": True, "poll": 0.2})
    holder.wait(timeout=60)
    assert "being trained by another runner: reading it back when it is finished" in caplog.text
    saves = trace(tmp_path / "FJ1" / "smoke")
    assert sum(p.endswith("dvn.pt") for p in saves) == 1 and set(saves.values()) == {1}
    assert record.exists()


def test_slurm_job_asks_for_what_a_run_needs(tmp_path, monkeypatch):
    # no cluster here: a stand-in `srun` lets submitit write the batch script it would submit
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    sched = W.Schedule("submitit", None, 8, W.Cluster(partition="gpu", mem_gb=40), backend="slurm",
                       device_check="cpu", job_device="auto")
    script = W._Submitit(sched, tmp_path / "logs", "J1-paper", "auto").ex._executor \
        ._make_submission_file_text("python -m x", "uid")
    for line in ("--gpus-per-node=1", "--partition=gpu", "--mem=40GB", "--cpus-per-task=8", "--time=1440",
                 "--job-name=dvn-J1-paper", "export PYTHONPATH="):
        assert line in script, (line, script)


def test_study_driver_trains_each_run_once_and_resumes(tmp_path, monkeypatch, capsys):
    """scripts/run_study.py: one queue of (seed, twin, method) runs over two worker processes;
    every run of the twin lands, and a second invocation finds them all finished and trains none
    (what lets the study resume across sessions)."""
    monkeypatch.setenv("DVN_DATA", str(data_root().resolve()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import run_study
    argv = ["--profile", "smoke", "--twins", "FH1", "--seeds", "0", "--workers", "2"]
    assert run_study.main(argv) == 0
    methods = run_study.methods_for("FH1")
    records = sorted(tmp_path.glob("results/FH1/smoke/runs/*/*/seed0.json"))
    assert sorted(p.parts[-3] for p in records) == sorted(methods)
    assert run_study.main(argv) == 0
    study = json.loads((tmp_path / "results" / "smoke_study.json").read_text())
    assert [i["trained"] for i in study["invocations"]] == [len(methods), 0]
    assert study["runs"] == study["planned"] == len(methods) and study["failed"] == []
    # both invocations started after the preregistration's first commit, which the record names
    assert study["preregistration"]["committed"] <= study["invocations"][0]["started"]
    assert study["earlier_invocations"] == []
    capsys.readouterr()
    assert run_study.main(argv + ["--status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(methods) + 1 and all("seeds done 0 " in line and "0 left" in line for line in lines[:-1])
    assert lines[-1].startswith("run time left: about 0.0 hours")


def test_study_driver_starts_only_runs_that_end_by_the_deadline(monkeypatch):
    """--until: a run starts only if its (twin, method)'s finished runs say it ends in time (plus
    10%); near the end a shorter run later in the queue is taken instead, and a run with nothing to
    estimate from never starts against a deadline. Without one, the queue's order is kept."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import run_study
    times = {("FH1", "dvn"): ([0], [1400.0]), ("FS1", "dacnn"): ([0, 1], [30.0, 34.0]),
             ("FS1", "lwf"): ([], [])}
    queue = [(0, "FH1", "dvn"), (1, "FS1", "lwf"), (1, "FS1", "dacnn"), (2, "FJ9", "dvn")]
    assert run_study.pick(queue, times, None) == 0
    assert run_study.pick(queue, times, 1600) == 0
    assert run_study.pick(queue, times, 1500) == 1  # lwf: its twin's mean, 32 s
    assert run_study.pick(queue[2:], times, 36) == 0 and run_study.pick(queue[2:], times, 35) is None
    assert run_study.pick([(2, "FJ9", "dvn")], times, 1e9) is None
    # runs of other code (a study recomputed after a code change) estimate until today's finish
    earlier = {("FJ9", "dvn"): [90.0, 110.0], ("FS1", "dacnn"): [999.0]}
    assert run_study.pick([(2, "FJ9", "dvn")], times, 111, earlier=earlier) == 0  # their mean, 100 s, + 10%
    assert run_study.pick([(2, "FJ9", "dvn")], times, 109, earlier=earlier) is None
    assert run_study.estimate(times, "FS1", "dacnn", 1, earlier) == 32.0  # today's runs come first
    # the same method's earlier runs come before the twin's other methods
    assert run_study.estimate(times, "FS1", "lwf", 1, {("FS1", "lwf"): [500.0]}) == 500.0
    # an arm never run (the capacity-limited width): the same method at its twin's other capacity,
    # today's runs before earlier ones; then the arm's own runs take over
    wide, narrow = ("FJ1", "study"), ("FJ1", "narrow")
    arms = {(wide, "dvn"): ([0], [400.0]), (narrow, "dvn"): ([], []), (narrow, "packnet"): ([], [])}
    assert run_study.estimate(arms, narrow, "dvn", 0, {(wide, "dvn"): [100.0]}) == 400.0
    assert run_study.estimate(arms, narrow, "packnet", 0, {(wide, "packnet"): [100.0]}) == 100.0
    assert run_study.estimate(arms, narrow, "packnet", 0) is None
    # a stand-in's error is not this machine's pace: only a method's own runs measure it
    basis = lambda *a: run_study.estimate_with_basis(*a)[1]
    assert basis(arms, narrow, "dvn", 0, {(wide, "dvn"): [100.0]}) not in run_study.MEASURES_PACE
    assert basis(times, "FS1", "lwf", 1) not in run_study.MEASURES_PACE  # its twin's mean
    assert basis(times, "FS1", "lwf", 1, {("FS1", "lwf"): [500.0]}) in run_study.MEASURES_PACE
    assert basis(times, "FS1", "dacnn", 1) in run_study.MEASURES_PACE
    assert run_study.pick([(0, narrow, "packnet"), (0, narrow, "dvn")], arms, 450) == 1
    arms[(narrow, "dvn")] = ([0], [150.0])
    assert run_study.estimate(arms, narrow, "dvn", 1) == 150.0
    # a slower machine than the records': the median ratio of whole runs stretches every estimate
    pace = run_study.Pace()
    assert pace.factor == 1.0
    pace.started("a", 100.0), pace.started("b", 100.0, measures_pace=False), pace.started("c", 100.0)
    pace.started("d", 10.0)  # a poor estimate (its twin's mean): one outlier of three
    pace.finished("a", 250.0), pace.finished("b", 40.0), pace.finished("c", 200.0), pace.finished("d", 100.0)
    assert pace.ratios == [2.5, 2.0, 10.0] and pace.factor == 2.5  # b (resumed, say): not a ratio
    assert run_study.pick(queue[2:], times, 36 * 2.5, margin=1.1 * pace.factor) == 0
    assert run_study.pick(queue[2:], times, 35 * 2.5, margin=1.1 * pace.factor) is None
    pace.started("e", 100.0), pace.finished("e", 300.0)
    assert pace.factor == (2.5 + 3.0) / 2  # an even count: the middle two's mean
    assert run_study.Pace(prior=4.0).factor == 4.0  # before a run finishes here: the records' word

    now = time.mktime((2026, 11, 25, 3, 0, 0, 0, 0, -1))
    assert run_study.deadline("05:10", now) - now == 2 * 3600 + 600
    assert run_study.deadline("02:00", now) - now == 23 * 3600  # passed today: tomorrow's
    with pytest.raises(SystemExit, match="HH:MM"):
        run_study.deadline("5pm", now)
    # FS1 seed 2 has no finished run: its first may train the stages its methods share, so it is
    # given the slowest FS1 method's mean (dacnn's own is 32 s; lwf has none).
    assert run_study.estimate(times, "FS1", "dacnn", 2) == 32.0
    times[("FS1", "dvn")] = ([0], [300.0])
    assert run_study.estimate(times, "FS1", "dacnn", 2) == 300.0 and run_study.estimate(times, "FS1", "dacnn", 1) == 32.0
    assert basis(times, "FS1", "dacnn", 2) not in run_study.MEASURES_PACE  # another method's time


def test_study_driver_reads_a_cpu_kinds_pace_from_the_records(tmp_path, monkeypatch):
    """Records name their CPU's vector instructions: runs of the same (arm, method) here and
    elsewhere give the pace a fresh invocation starts from."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    monkeypatch.chdir(tmp_path)
    import run_study
    for m, runs in {"dvn": [("AVX2", 400.0), (None, 100.0)], "baseline": [("AVX2", 300.0), ("AVX-512", 100.0)],
                    "nestednet": [("AVX2", 50.0)]}.items():
        for i, (simd, secs) in enumerate(runs):
            d = tmp_path / "results" / "FJ1" / "study" / "runs" / m / f"k{i}"
            d.mkdir(parents=True)
            hw = {"cpu": "EPYC"} | ({"simd": simd} if simd else {})
            (d / "seed0.json").write_text(json.dumps({"wall_seconds": secs, "hardware": hw}))
    recorded = run_study.recorded_times([("FJ1", "study")])
    assert run_study.machine_pace(recorded, "AVX2") == (3.5, 2)  # nestednet has no pair
    assert run_study.machine_pace(recorded, "SSE") is None


def test_study_driver_with_a_deadline_and_nothing_to_estimate_trains_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DVN_DATA", str(data_root().resolve()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import run_study
    until = time.strftime("%H:%M", time.localtime(time.time() - 60))  # a day away: time is not what stops it
    assert run_study.main(["--profile", "smoke", "--twins", "FH1", "--seeds", "0", "--until", until]) == 0
    assert "none ends by" in capsys.readouterr().err
    assert not list(tmp_path.glob("results/FH1/smoke/runs/*/*/seed0.json"))


# ---------------------------------------------------------------------------------------------
# Worker processes live and die with their runner.

RUN_CMD = [sys.executable, "-m", "dvnlib", "run", "FJ1", "--profile", "smoke", "--workers", "2", "--threads", "1",
           "--methods", "dvn", "--seeds", "0", "1", "--device", "cpu", "--set", "epochs=8"]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and _parent(int(d.name)) == pid]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has ended; only its exit status waits to be read


def _start_runner(out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(RUN_CMD + ["--out", str(out)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), start_new_session=True)


def _training_worker(runner: subprocess.Popen, out: Path, log: Path, timeout: float = 600) -> dict:
    """Wait until a worker of ``runner`` holds a run's lock (it is training): that lock's record."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert runner.poll() is None, log.read_text()
        for lock in out.glob("FJ1/smoke/runs/*/*/seed*.lock"):
            try:
                info = json.loads(lock.read_text())
            except (OSError, ValueError):
                continue
            if _parent(info["pid"]) == runner.pid:
                return info
        time.sleep(0.2)
    raise AssertionError(f"no worker started training in {timeout} s: {log.read_text()}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_runner_leaves_no_worker_behind(tmp_path, sig):
    log = tmp_path / "runner.log"
    runner = _start_runner(tmp_path / "out", log)
    try:
        _training_worker(runner, tmp_path / "out", log)
        workers = _children(runner.pid)
        assert len([w for w in workers if not _gone(w)]) >= 2, workers
        os.kill(runner.pid, sig)
        runner.wait(timeout=60)
        end = time.monotonic() + 10
        while time.monotonic() < end and not all(_gone(w) for w in workers):
            time.sleep(0.1)
        assert all(_gone(w) for w in workers), [w for w in workers if not _gone(w)]
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()


def test_a_killed_worker_gives_one_line_and_the_same_command_resumes(tmp_path):
    out, log = tmp_path / "out", tmp_path / "runner.log"
    runner = _start_runner(out, log)
    try:
        victim = _training_worker(runner, out, log)
        os.kill(victim["pid"], signal.SIGKILL)
        assert runner.wait(timeout=900) == 2
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    text = log.read_text()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in text and "__main__" not in text, text
    assert errors[0].startswith(f"error: {victim['what']}: its worker process (pid {victim['pid']}) was killed by "
                                "SIGKILL") and "Run the same command again" in errors[0], errors
    # the other worker's run finished and was kept; the killed one was not
    records = {p.stem for p in out.glob("FJ1/smoke/runs/dvn/*/seed*.json")}
    killed = f"seed{victim['what'].split()[-1]}"
    assert records == {"seed0", "seed1"} - {killed}, records
    # the same command again: the finished run is read back, the killed one trained (its dead
    # worker's lock taken over at once), and both are gathered
    again = _start_runner(out, log)
    assert again.wait(timeout=900) == 0, log.read_text()
    assert "taking over the lock" in log.read_text()
    assert (out / "FJ1" / "smoke" / "metrics.csv").read_text().count("\n") == 1 + 2 * 4


def test_a_worker_follows_its_parent_without_prctl_too(tmp_path):
    # where prctl is not there, a watchdog thread sees the parent pid change and ends the worker
    script = textwrap.dedent("""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import os, sys, time; from dvnlib import workers; "
                                  "workers._die_with(os.getppid(), prctl=sys.argv[1] == 'prctl'); "
                                  "print('ready', flush=True); time.sleep(600)", sys.argv[1]], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        print(child.pid, flush=True)
        time.sleep(600)
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for how in ("watchdog", "prctl"):
        parent = subprocess.Popen([sys.executable, "-c", script, how], stdout=subprocess.PIPE, text=True, env=env)
        child = int(parent.stdout.readline())
        assert not _gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        end = time.monotonic() + 10
        while time.monotonic() < end and not _gone(child):
            time.sleep(0.05)
        assert _gone(child), how


class _FakeLauncher:
    """Runs a job when it is launched; ``fail`` names the methods whose jobs raise."""
    park, poll = False, 0.0

    def __init__(self, capacity, fail=()):
        self.capacity, self.fail, self.started, self.closed = capacity, set(fail), [], None

    def launch(self, job):
        self.started.append(job.run.method)
        return job

    def wait(self, handles):
        return handles[:1]

    def result(self, job):
        if job.run.method in self.fail:
            raise RuntimeError(f"{job.run.method} failed")
        return "trained"

    def close(self, abort):
        self.closed = abort


def test_one_scheduler_loop_with_the_callers_policy():
    jobs = [W.Job(None, namedtuple("FakeRun", "method seed")(m, 0), None, False) for m in ("a", "b", "c", "d")]
    # pick: the caller's policy for what starts next; None leaves the rest
    ended = []
    launcher = _FakeLauncher(2)
    tally = W.schedule(jobs, launcher, pick=lambda q: next((i for i, j in enumerate(q) if j.run.method != "c"), None),
                       on_done=lambda job, status, seconds: ended.append((job.run.method, status)))
    assert launcher.started == ["a", "b", "d"] and [j.run.method for j in tally.left] == ["c"]
    assert ended == [("a", "trained"), ("b", "trained"), ("d", "trained")] and tally.trained == 3
    assert launcher.closed is False
    # on_error True: the failed run is counted and the others go on
    launcher = _FakeLauncher(1, fail={"b"})
    tally = W.schedule(jobs, launcher, on_error=lambda job, e: True)
    assert launcher.started == ["a", "b", "c", "d"] and tally.trained == 3
    assert [(j.run.method, str(e)) for j, e in tally.failed] == [("b", "b failed")]
    # without it, the first error stops new starts and is raised once the running ones ended
    launcher = _FakeLauncher(1, fail={"b"})
    with pytest.raises(RuntimeError, match="b failed"):
        W.schedule(jobs, launcher)
    assert launcher.started == ["a", "b"]
    # an interrupt ends the launcher's workers at once (abort) and is raised
    launcher = _FakeLauncher(2)
    launcher.wait = lambda handles: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        W.schedule(jobs, launcher)
    assert launcher.closed is True


def test_study_driver_records_a_run_the_guard_stopped_and_does_not_queue_it_again(tmp_path, monkeypatch, capsys):
    """A run the training guard stops (``Diverged``) is an outcome of its method: it is recorded
    under the run's identity, the next invocation neither trains it nor counts it as left, and the
    study's record lists it. Another identity (other code, another seed) is not covered by it, and
    an unreadable outcome is moved aside, so that the run trains again."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    monkeypatch.chdir(tmp_path)
    import run_study
    from dvnlib.request import check
    from dvnlib.runs import resolve
    from dvnlib.train import Diverged
    plan = resolve(check("FH1", "smoke", ["baseline"], [0, 1]))
    run0, run1 = plan.runs
    error = Diverged("FH1 baseline seed 0 did not learn: output (task 2, level 1) ends at 20.5%")
    outcome = run_study.record_stopped(plan, run0, error)
    assert outcome["outcome"] == "did not learn" and outcome["key"] == run0.key
    assert run_study.stopped(plan, run0) == json.loads(run_study.stopped_path(plan, run0).read_text())
    assert run_study.stopped(plan, run1) is None
    other = dataclasses.replace(run0, key="another code")
    assert run_study.stopped(plan, other) is None
    arms = [("FH1", "smoke")]
    assert [(o["method"], o["seed"]) for o in run_study.stopped_runs(arms, [0, 1])] == [("baseline", 0)]
    assert run_study.main(["--profile", "smoke", "--twins", "FH1", "--seeds", "0", "--status"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if " baseline " in l)
    assert "0 left" in line and "stopped by the guard: seed 0" in line
    record = json.loads(Path(run_study.write_record("smoke", arms, [0], 1, 0.0, 0, [])).read_text())
    assert [(o["method"], o["seed"], o["outcome"]) for o in record["stopped_runs"]] == [("baseline", 0, "did not learn")]
    assert record["failed"] == []
    run_study.stopped_path(plan, run0).write_text("{not json")
    assert run_study.stopped(plan, run0) is None
    assert list(run_study.stopped_path(plan, run0).parent.glob("seed0.json.corrupt-*"))


def test_study_driver_turns_a_guard_stop_into_an_outcome_and_other_errors_into_failures(tmp_path, monkeypatch):
    """The driver's handler: a ``Diverged`` from a worker is written as the run's outcome and the
    invocation succeeds; any other error is a failure (exit status 1). The next invocation queues
    neither the stopped run nor anything finished, and still queues the failed one."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    monkeypatch.chdir(tmp_path)
    import run_study
    from dvnlib.train import Diverged
    queued = []

    def schedule(errors):
        def fake(jobs, launcher, *, pick=None, on_done=None, on_error=None):
            queued.append([j.run.method for j in jobs])
            for job, error in zip(jobs, errors):
                assert on_error(job, error)
            return W.Tally()
        return fake

    argv = ["--profile", "smoke", "--twins", "FH1", "--seeds", "0"]
    methods = run_study.methods_for("FH1", "smoke")
    monkeypatch.setattr(run_study.W, "schedule", schedule([Diverged("FH1 x seed 0 did not learn: at chance"),
                                                           RuntimeError("a worker died")]))
    assert run_study.main(argv) == 1
    study = json.loads((tmp_path / "results" / "smoke_study.json").read_text())
    assert [(o["method"], o["outcome"]) for o in study["stopped_runs"]] == [(methods[0], "did not learn")]
    assert len(study["failed"]) == 1 and "a worker died" in study["failed"][0]
    monkeypatch.setattr(run_study.W, "schedule", schedule([]))
    assert run_study.main(argv) == 0
    assert queued[1] == methods[1:]  # the failed run is queued again; the stopped one is not
