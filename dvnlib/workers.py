"""Where a study's (method, seed) runs execute: in this process, in worker processes of this
machine, or as cluster jobs through submitit. None of it changes a run's numbers.

``runner.run`` hands ``execute`` the runs it was asked for, resolved once (``runs.Plan``). Each is
a work item that trains one (method, seed) (``runs.py``: a run's identity, record and training;
imports go one way, runner -> workers -> runs) under its lock (``locks.FileLock`` beside its record,
``runs/<method>/<config>/seed<N>.lock``), so that runners, workers and jobs pointed at one results
folder never train a run twice:

* a run already finished (same identity) is read back, not trained;
* a run locked by another live runner is put back at the end of the queue; when its turn comes
  again, its worker waits for the lock and then reads the run back (or trains it, if its holder
  died without finishing: a dead holder's lock is taken over, with a message). With submitit,
  such a run is not submitted while it is held (no job waits for a lock on a GPU): this process
  watches the lock, reads the run back when it is finished, and submits it if it is released
  unfinished;
* stages that several runs of a seed share (``methods.common.independent_network``: sequential
  methods' old network, the baselines' networks) have their own lock: one run trains the stage,
  the others wait and read its final checkpoint back. The queue is method-major (method 1 for
  every seed, then method 2, ...), so workers that start together mostly hold different seeds.

Executors:

* ``local`` (default): ``workers=1`` trains in this process (per-run progress bars);
  ``workers=N`` uses N spawned processes (``Pool``), each with ``threads`` torch threads (default:
  the cores over N), per-run bars off and one bar of runs finished here. Workers die with their
  runner however it ends, SIGKILL included (``PR_SET_PDEATHSIG``, else a watchdog of the parent
  pid), and an interrupt of the runner ends them at once. A worker that dies while it trains (out
  of memory, killed) gives one line naming its run (``WorkerDied``); the other workers' runs
  finish, and the same command resumes it from its last checkpoint;
* ``submitit``: one job per (method, seed) through ``submitit.AutoExecutor``: Slurm where it is
  found (``Cluster`` settings: partition, GPUs, time, memory, CPUs per job; each job resolves
  ``device`` on its node), else submitit's local executor (jobs as processes of this machine,
  ``workers`` at once). Jobs write to ``out_dir`` exactly as a local run does; this process waits
  for them and then gathers ``metrics.csv``. If it is stopped, the jobs go on; running the same
  command again reads the finished runs back and waits for the ones still locked.

``schedule`` is the one queue loop: ``execute`` runs one scenario's runs through it, and the
study driver (``scripts/run_study.py``) its whole queue of (seed, twin, method) runs, with its own
policy for what starts next (``pick``) and what follows each finished run (``on_done``).

Numbers are bit-identical across executors at equal ``threads``: every run seeds its own networks
and data order, and sees nothing of the others. (torch on CPU rounds differently with another
number of threads: pass ``threads`` to compare a serial run with workers on another machine.)
This module and ``locks.py`` are left out of the run identity's code hash (``provenance``): they
decide where a run executes, not what it computes.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import shlex
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import runs
from .locks import FileLock
from .request import whole_number

log = logging.getLogger("dvnlib")

EXECUTORS = ("local", "submitit")
SUBMITIT_PIN = "submitit==1.5.4"


@dataclass(frozen=True)
class Cluster:
    """What each Slurm job asks for (submitit's ``AutoExecutor`` parameters). One run needs one
    GPU; the study profile's runs take well under a day on one."""
    partition: str | None = None  # None: the cluster's default partition
    gpus_per_job: int = 1
    cpus_per_job: int = 8  # data loading and the augmentation of a batch run on the CPU
    mem_gb: int = 32
    time_min: int = 24 * 60  # a job's time limit; an interrupted run resumes from its last epoch
    folder: str | None = None  # submitit's logs and pickles; default <out_dir>/<scenario>/<profile>/submitit
    poll: float = 5.0  # seconds between looks at running jobs
    local: bool = False  # force submitit's local executor even where Slurm is found


@dataclass(frozen=True)
class Schedule:
    """``check_schedule``'s checked plan: how many at once, where, with how many threads."""
    executor: str
    workers: int | None  # processes (local) or jobs at once (submitit; None: no limit on Slurm)
    threads: int | None  # torch threads per run; None: leave torch's setting (serial)
    cluster: Cluster
    backend: str = "local"  # what submitit found: "slurm" or "local"
    device_check: str | None = None  # what runner.run checks here ("cpu" for a Slurm study's jobs)
    job_device: str | None = None  # the device each cluster job resolves on its node, or None


def _positive_int(value, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = whole_number(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return n


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_schedule(workers=None, executor: str | None = "local", threads=None, cluster=None,
                   device=None) -> Schedule:
    """Check the scheduling arguments of ``runner.run`` before any data is read."""
    ex = str(executor or "local").strip().lower()
    if ex not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: valid executors are {', '.join(EXECUTORS)}")
    n = _positive_int(workers, "workers")
    t = _positive_int(threads, "threads")
    if cluster is None:
        cl = Cluster()
    elif isinstance(cluster, Cluster):
        cl = cluster
    elif isinstance(cluster, dict):
        known = {f.name for f in dataclasses.fields(Cluster)}
        bad = sorted(set(cluster) - known)
        if bad:
            raise ValueError(f"unknown cluster settings {', '.join(bad)}: valid are {', '.join(sorted(known))}")
        cl = Cluster(**{k: v for k, v in cluster.items() if v is not None})
    else:
        raise ValueError(f"cluster must be a dict of settings ({', '.join(f.name for f in dataclasses.fields(Cluster))}), "
                         f"got {type(cluster).__name__}")
    if ex == "local":
        n = n or 1
        if n > 1 and t is None:
            t = max(1, cores() // n)
        return Schedule(ex, n, t, cl, device_check=device)
    try:
        import submitit
    except ImportError:
        raise ValueError(f"executor 'submitit' needs the submitit package: pip install {SUBMITIT_PIN}") from None
    backend = "local" if cl.local else submitit.AutoExecutor.which()
    if backend == "slurm":
        # The submitting node (a login node) may have no GPU: each job resolves the device on its
        # own node. Only the spelling is checked here.
        from .request import DEVICES, _DEVICE
        d = "auto" if device in (None, "") else str(device).strip().lower()
        if not _DEVICE.fullmatch(d):
            raise ValueError(f"unknown device {device!r}: valid devices are {', '.join(DEVICES)}")
        return Schedule(ex, n, t or cl.cpus_per_job, cl, backend, device_check="cpu", job_device=d)
    n = n or 1
    return Schedule(ex, n, t or max(1, cores() // n), cl, backend, device_check=device)


# ---------------------------------------------------------------------------------------------
# One work item: what a worker process or a cluster job runs.

@dataclass(frozen=True)
class Job:
    plan: runs.Plan  # picklable: frozen dataclasses, paths and the method's function
    run: runs.Run
    data_root: str | None
    progress: bool  # per-run progress bars
    wait: bool = False  # wait for a run another runner holds (else report "held" at once)
    threads: int | None = None
    resolve_device: bool = False  # a cluster job: resolve plan.device ("auto", "cuda") here
    log_level: int | None = None  # set up logging in a fresh process at this level

    @property
    def what(self) -> str:
        return self.plan.what(self.run)


_DATA: dict = {}  # the tasks a worker process loaded, reused by its next work items


def work(job: Job, data: dict | None = None) -> str:
    """Train one (method, seed) unless it is finished or held: returns "trained", "finished"
    (read back) or "held" (another live runner has it; only when ``job.wait`` is False).
    ``data``: loaded tasks to reuse (default: this process's, for worker processes and jobs)."""
    if job.log_level is not None and not logging.getLogger().handlers:
        logging.basicConfig(level=job.log_level, format=f"[pid {os.getpid()}] %(message)s")
    plan = job.plan
    if job.resolve_device:
        from .request import check_device
        plan = dataclasses.replace(plan, device=check_device(plan.device))
    if runs.is_finished(plan, job.run):
        return "finished"
    lock = FileLock(plan.record(job.run).with_suffix(".lock"), job.what)
    if not lock.acquire(wait=job.wait):
        return "held"
    try:
        if runs.is_finished(plan, job.run):  # finished by its holder while we waited
            return "finished"
        if job.threads is not None:
            import torch
            torch.set_num_threads(job.threads)
        runs.train_one(plan, job.run, job.data_root, job.progress, _DATA if data is None else data,
                       shared_lock=FileLock)
        return "trained"
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------------
# Launchers: three ways of running a work item (``launch``, ``wait``, ``result``, ``close``).

class _Done:
    """A finished work item of the serial launcher, shaped like a future."""

    def __init__(self, fn, job):
        self._result = self._error = None
        try:
            self._result = fn(job)
        except Exception as e:  # noqa: BLE001 - raised again by result(), like a future's
            self._error = e

    def done(self):
        return True

    def result(self):
        if self._error is not None:
            raise self._error
        return self._result


class _Serial:
    capacity, park, poll = 1, False, 1.0

    def __init__(self, threads: int | None):
        self.threads, self._before = threads, None
        self.data: dict = {}  # this call's loaded tasks: freed when it returns (a notebook lives on)
        if threads is not None:
            import torch
            self._before = torch.get_num_threads()

    def launch(self, job: Job):
        return _Done(lambda j: work(j, self.data), dataclasses.replace(job, threads=self.threads))

    def wait(self, handles):
        return list(handles)

    def result(self, h):
        return h.result()

    def close(self, abort: bool):
        if self._before is not None:
            import torch
            torch.set_num_threads(self._before)


class WorkerDied(ChildProcessError):
    """A worker process ended while it trained a run (killed, out of memory): one line naming the
    run. The other workers' runs go on; the same command resumes this one."""


class _RemoteTraceback(Exception):
    """Where a worker's error was raised, in the worker: the raised error's cause."""

    def __str__(self):
        return "\n" + self.args[0]


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int, prctl: bool = True) -> None:
    """End this process when ``parent`` ends, however it ends (SIGKILL and out-of-memory kills
    included, which leave it no chance to end its children): Linux's ``PR_SET_PDEATHSIG``, else a
    thread that watches the parent pid. (The kernel signals when the parent *thread* that started
    this process ends: the scheduler starts workers from the thread it runs in, which outlives them.)"""
    followed = False
    if prctl:
        try:
            import ctypes
            followed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):  # not Linux
            followed = False
    if not followed:
        threading.Thread(target=_watch_parent, args=(parent,), name="parent watchdog", daemon=True).start()
    if os.getppid() != parent:  # it ended before we followed it
        os._exit(1)


def _watch_parent(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _serve(conn, parent: int) -> None:
    """A worker process: run the work items its runner sends, one at a time, until told to stop."""
    _die_with(parent)
    # Ctrl-C reaches every process of the terminal's group: the runner alone decides what it
    # stops (it ends its workers), so that workers do not each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            answer = ("done", work(job), None)
        except Exception as e:  # noqa: BLE001 - raised again in the runner
            try:
                pickle.loads(pickle.dumps(e))
            except Exception:  # noqa: BLE001 - an error that cannot cross processes: its text can
                e = RuntimeError(f"{type(e).__name__}: {e}")
            answer = ("error", e, traceback.format_exc())
        conn.send(answer)


class _Worker:
    """One worker process and its pipe; ``job``: the work item it runs, or None while idle."""

    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, os.getpid()), name="dvnlib worker", daemon=True)
        self.proc.start()
        child.close()  # so that the runner reads end-of-file once the worker is gone
        self.job: Job | None = None
        self.answered = 0


class Pool:
    """``n`` worker processes of this machine, each running one work item at a time with
    ``threads`` torch threads, and reusing its loaded tasks for the next. Workers die with this
    process, whatever ends it; one that dies while it trains gives ``WorkerDied`` for its run
    only, while the others go on."""
    park, poll = False, 1.0

    def __init__(self, n: int, threads: int | None):
        import multiprocessing
        self.capacity, self.threads = n, threads
        # spawn, not fork: a forked torch (its thread pools, CUDA) is not safe to use
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []

    def launch(self, job: Job):
        while self._idle and not self._idle[-1].proc.is_alive():
            self._idle.pop()
        w = self._idle.pop() if self._idle else None
        if w is None:
            w = _Worker(self._ctx)
            self._all.append(w)
        w.job = dataclasses.replace(job, progress=False, threads=self.threads,
                                    log_level=logging.getLogger("dvnlib").getEffectiveLevel())
        w.conn.send(w.job)
        return w

    def wait(self, handles):
        from multiprocessing.connection import wait
        ready = set(wait([x for w in handles for x in (w.conn, w.proc.sentinel)]))
        return [w for w in handles if w.conn in ready or w.proc.sentinel in ready]

    def result(self, w: _Worker):
        job, w.job = w.job, None
        try:
            kind, value, where = w.conn.recv()
        except (EOFError, OSError):
            raise self._died(w, job) from None
        w.answered += 1
        self._idle.append(w)
        if kind == "error":
            value.__cause__ = _RemoteTraceback(where)
            raise value
        return value

    def _died(self, w: _Worker, job: Job) -> WorkerDied:
        w.proc.join(timeout=10)
        self._all.remove(w)
        code = w.proc.exitcode
        if code is not None and code > 0 and not w.answered:
            return WorkerDied(
                f"{job.what}: its worker process could not start (exit status {code}): a script that calls "
                "dvnlib.run(workers=N) must do so under `if __name__ == \"__main__\":`, since each worker "
                "imports the script again")
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except (TypeError, ValueError):
            how = f"ended with exit status {code}"
        return WorkerDied(
            f"{job.what}: its worker process (pid {w.proc.pid}) {how} while training it (out of memory, or "
            "killed); the other runs went on. Run the same command again: finished runs are read back and "
            "this one resumes from its last checkpoint")

    def close(self, abort: bool):
        """Stop the workers: when idle, by asking; with ``abort`` (an interrupt), at once."""
        for w in self._all:
            if abort:
                w.proc.terminate()
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    pass  # already gone
        for w in self._all:
            w.proc.join(timeout=10 if abort else 60)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self._all, self._idle = [], []


class _Submitit:
    def __init__(self, sched: Schedule, folder: Path, label: str, device: str):
        import submitit
        cl = sched.cluster
        self.poll = cl.poll if sched.backend == "slurm" else min(cl.poll, 0.5)
        self.capacity, self.park = sched.workers or 10 ** 9, True
        self.threads, self.slurm = sched.threads, sched.backend == "slurm"
        self.ex = submitit.AutoExecutor(folder=str(folder), cluster=sched.backend)
        local_gpus = 1 if str(device).startswith("cuda") else 0
        # jobs import dvnlib from this checkout even where it is not installed on the nodes
        repo = Path(__file__).resolve().parent.parent
        setup = [f"export PYTHONPATH={shlex.quote(str(repo))}${{PYTHONPATH:+:$PYTHONPATH}}"]
        self.ex.update_parameters(
            name=f"dvn-{label}", timeout_min=cl.time_min, mem_gb=cl.mem_gb, cpus_per_task=cl.cpus_per_job,
            gpus_per_node=(0 if device == "cpu" else cl.gpus_per_job) if self.slurm else local_gpus, tasks_per_node=1, nodes=1,
            slurm_partition=cl.partition, slurm_setup=setup, local_setup=setup)
        self.jobs: dict = {}

    def launch(self, job: Job):
        # absolute paths: a job may start in another directory than this process
        plan = dataclasses.replace(job.plan, out=Path(job.plan.out).resolve())
        j = dataclasses.replace(job, plan=plan, progress=False, threads=self.threads, resolve_device=self.slurm,
                                log_level=logging.INFO,
                                data_root=None if job.data_root is None else str(Path(job.data_root).resolve()))
        sub = self.ex.submit(work, j)
        self.jobs[id(sub)] = j
        log.info("%s: submitted as job %s", j.what, sub.job_id)
        return sub

    def wait(self, handles):
        while True:
            done = [h for h in handles if h.done()]
            if done:
                return done
            time.sleep(self.poll)

    def result(self, h):
        from submitit.core.utils import UncompletedJobError
        try:
            return h.result()
        except UncompletedJobError as e:  # also FailedJobError: the job's own error is in its log
            what = self.jobs.get(id(h))
            raise RuntimeError(f"job {h.job_id} ({what.what if what else 'a run'}) did not finish: "
                               f"{' '.join(str(e).split())[-600:]} (its log: {h.paths.stderr})") from None

    def close(self, abort: bool):
        pass  # jobs of a stopped runner go on; the same command then reads them back


# ---------------------------------------------------------------------------------------------

@dataclass
class Tally:
    trained: int = 0
    finished: int = 0  # read back: finished before, or by another runner while we waited
    waited: list = field(default_factory=list)  # runs another runner held when first met
    failed: list = field(default_factory=list)  # (job, error) of the runs that failed, where the others went on
    left: list = field(default_factory=list)  # jobs not started: ``pick`` found none that fits


def _holder(job: Job) -> dict | None:
    """The live holder of ``job``'s run lock, or None."""
    return FileLock(job.plan.record(job.run).with_suffix(".lock"), job.what).holder()


def _download(plan: runs.Plan, root: str | None) -> None:
    """Fetch the scenario's missing datasets here, once, before runs fan out: worker processes
    then never write one archive at once, and cluster jobs, on nodes often offline, only read.
    A task's test split is read with its training split (normalisation statistics), so reading
    the test images the runs will use fetches both."""
    from .data import load_task
    for task in plan.scenario.tasks:
        load_task(task, "test", root, plan.settings.test_per_task, download=True)


def schedule(jobs, launcher, *, pick=None, on_done=None, on_error=None, tally: Tally | None = None) -> Tally:
    """Bring every work item of ``jobs`` to finished through ``launcher`` (``Pool``, or the serial
    and submitit launchers ``execute`` chooses), as many at once as it has room for, in queue order.

    ``pick(queue)``: the position in ``queue`` (a list of ``Job``) of the next one to start, or None
    for none of them now; once none runs and none is picked, the rest is left (``Tally.left``).
    ``on_done(job, status, seconds)``: after each job that ends ("trained" or "finished").
    ``on_error(job, error)``: True goes on with the other jobs (the run counts in ``Tally.failed``);
    without it, the first error stops new starts, the running jobs end, and the error is raised.
    An interrupt (Ctrl-C) ends the launcher's workers at once and is raised."""
    tally = tally or Tally()
    queue = deque(jobs)
    running: dict = {}  # handle -> (job, monotonic start)
    parked: list[Job] = []  # cluster runs another runner holds: no job waits for a lock on a GPU
    error = None

    def ended(job, status, t0):
        setattr(tally, status, getattr(tally, status) + 1)
        if on_done is not None:
            on_done(job, status, time.monotonic() - t0)

    try:
        while running or ((queue or parked) and error is None):
            for job in list(parked):
                if runs.is_finished(job.plan, job.run):
                    parked.remove(job)
                    ended(job, "finished", time.monotonic())
                elif _holder(job) is None:  # released unfinished (or its holder died): ours now
                    parked.remove(job)
                    queue.append(job)
            while queue and error is None and len(running) < launcher.capacity:
                i = 0 if pick is None else pick(list(queue))
                if i is None:
                    break
                job = queue[i]
                del queue[i]
                if launcher.park and _holder(job) is not None:
                    log.info("%s is being trained by another runner: reading it back when it is finished", job.what)
                    tally.waited.append(job.what)
                    parked.append(job)
                    continue
                running[launcher.launch(job)] = (job, time.monotonic())
            if not running:
                if parked:
                    time.sleep(launcher.poll)
                    continue
                break  # nothing running, and nothing more may start
            for h in launcher.wait(list(running)):
                job, t0 = running.pop(h)
                try:
                    status = launcher.result(h)
                except Exception as e:  # noqa: BLE001 - handed to on_error, or raised at the end
                    if on_error is not None and on_error(job, e):
                        tally.failed.append((job, e))
                    else:
                        error = error or e
                    continue
                if status == "held":  # its turn comes again after the others, then it waits
                    log.info("%s is being trained by another runner: coming back to it later", job.what)
                    tally.waited.append(job.what)
                    queue.append(dataclasses.replace(job, wait=True))
                    continue
                ended(job, status, t0)
    except BaseException:
        launcher.close(abort=True)
        raise
    launcher.close(abort=False)
    if error is not None:
        raise error
    tally.left = list(queue)
    return tally


def execute(plan: runs.Plan, items: Sequence[runs.Run], data_root, progress: bool, sched: Schedule) -> Tally:
    """Bring every run of ``items`` (runs of ``plan``) to finished, by the schedule's executor."""
    from tqdm.auto import tqdm
    tally = Tally()
    pending = []
    for run in items:
        if runs.is_finished(plan, run):
            log.info("%s: already finished, reading its results", plan.what(run))
            tally.finished += 1
        else:
            pending.append(run)
    if not pending:
        return tally
    root = None if data_root is None else str(data_root)
    if plan.download:
        _download(plan, root)
    jobs = [Job(plan, run, root, progress) for run in pending]
    if sched.executor == "submitit":
        folder = Path(sched.cluster.folder) if sched.cluster.folder else plan.out / "submitit"
        launcher = _Submitit(sched, folder, f"{plan.scenario.id}-{plan.profile}", plan.device)
    elif sched.workers and sched.workers > 1 and len(pending) > 1:
        launcher = Pool(min(sched.workers, len(pending)), sched.threads)
    else:
        launcher = _Serial(sched.threads)
    bar = tqdm(total=len(items), initial=len(items) - len(pending), unit="run", dynamic_ncols=True,
               desc=f"{plan.scenario.id} {plan.profile}: runs finished",
               disable=not progress or isinstance(launcher, _Serial) and len(pending) == 1)
    try:
        return schedule(jobs, launcher, on_done=lambda job, status, seconds: bar.update(1), tally=tally)
    finally:
        bar.close()
