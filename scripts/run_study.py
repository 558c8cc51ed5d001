"""The whole Fashion-MNIST study, run by run, committed as it goes.

What it runs is the book's preregistration page, as the registry holds it
(``scenarios.STUDY_PROFILES`` and ``study_methods``): every twin at the standard capacity (profile
``study``) and FJ1 and FJ2 at the narrow one (profile ``narrow``), each with every method its family
compares, the twin's extra compared methods and (standard capacity) its ablations, for five seeds.
An "arm" is one (twin, profile). The (seed, arm, method) runs form one queue, seeds outermost, so that a
study cut off after some hours has every method at the same seeds rather than some methods
complete and others missing. ``--workers N`` trains N runs at once, each in its own process with
one torch thread, drawing from that one queue (``dvnlib.workers.schedule``, the scheduler every
run uses; this script adds the study's policy: the queue's order, the deadline, the commits): no
worker idles at the end of a twin while another finishes its last run. A finished run is read
back, not retrained (the runner recognises it by its configuration and code), so rerunning this after an interruption only does what is missing; with
``--commit`` each finished (method, seed) is committed to git at once (a session's background jobs
end with it), by this process only, so that workers never race on the git index.

    .venv/bin/python scripts/run_study.py [--workers 2] [--commit] [--seeds 0 1 2 3 4] [--until 05:10]

``--profile P`` runs one profile only, over ``--twins`` (a rehearsal: ``--profile smoke --twins FH1``).

``--until HH:MM`` (this machine's clock) is for a session that will end: a run is started only if
the finished runs of its (twin, method) say it ends by then (its mean time, plus 10%, times how much
slower than their estimates this invocation's runs have been: ``Pace``), so no run is cut off
half-way. Near the end the workers take the next queued runs that still fit (shorter ones,
from later in the queue) and the driver stops when none does; the rest waits for the next
invocation.

At the end the executed notebooks (``--notebooks``: one per twin, reading the finished runs back)
land beside each ``metrics.csv`` and the study's record (times, hardware, versions, commit) in
``results/study.json``. A run that the training guard stops (``train.Diverged``: a non-finite loss,
or an output still at chance after training) is an outcome of its method, not an accident. It is
recorded (``stopped/<method>/<configuration>/seed<N>.json`` beside the arm's ``runs/``, and in the
study's record) and not queued again while its identity holds, on this machine or any other:
training is deterministic on one kind of CPU but not across kinds, and drawing a stopped seed again
elsewhere until it passes would keep the seeds that pass. The book lists it where the (method,
seed) would have been. Any other failure is reported, the other runs go on, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import glob
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import dvnlib
from dvnlib import provenance as P
from dvnlib import results as R, workers as W
from dvnlib.request import check
from dvnlib.runs import Plan, Run, finished, resolve
from dvnlib.train import Diverged
from dvnlib.scenarios import STUDY_ABLATIONS, STUDY_PROFILES, study_methods

import strip_widgets  # beside this script

PROFILE = "study"  # the standard capacity, whose seeds are the study's
TWINS = STUDY_PROFILES[PROFILE]  # FH1 first: its anchor is the first check

Arm = tuple[str, str]  # (twin, profile)
STAMP = "%Y-%m-%dT%H:%M:%SZ"  # the record's times, UTC


def methods_for(scenario: str, profile: str = PROFILE) -> list[str]:
    """What the study runs on a twin at a profile (the registry's ``study_methods``)."""
    return list(study_methods(scenario, profile))


def arm_of(job: W.Job) -> Arm:
    return job.plan.scenario.id, job.plan.profile


def label(job: W.Job) -> str:
    """A run as the log and the commits name it: its twin, profile, method and seed."""
    (sc, profile), run = arm_of(job), job.run
    return f"{sc} {profile} {run.method} seed {run.seed}"


def arms_of(profile: str | None, twins) -> list[Arm]:
    """The study's (twin, profile) arms, seeds aside: the preregistered plan (``profile`` None),
    or ``twins`` at one profile."""
    if profile is None:
        return [(sc, p) for p, scs in STUDY_PROFILES.items() for sc in scs if sc in twins]
    return [(sc, profile) for sc in twins]


def commit(paths: list[str], message: str, attempts: int = 10) -> bool:
    """Commit ``paths`` only (whatever else is staged stays staged). Someone working in the same
    checkout may hold git's index lock for a moment: try again rather than stop the study, whose
    runs stay on disk for the next commit in any case."""
    for attempt in range(attempts):
        add = subprocess.run(["git", "add", "--", *paths], capture_output=True, text=True)
        if add.returncode == 0:
            if subprocess.run(["git", "diff", "--cached", "--quiet", "--", *paths]).returncode == 0:
                return True  # nothing new
            done = subprocess.run(["git", "commit", "-q", "-m", message, "--", *paths], capture_output=True, text=True)
            if done.returncode == 0:
                return True
            add = done
        say(f"git failed ({add.stderr.strip().splitlines()[-1] if add.stderr.strip() else add.returncode}); "
            f"trying again ({attempt + 1}/{attempts})")
        time.sleep(5)
    say(f"not committed: {message}")
    return False


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def finished_runs(arms, seeds):
    """(arm, method, seed, its record) of every run of the plan finished by the code it would run
    now, in the plan's order."""
    for arm in arms:
        for m in methods_for(*arm):
            plan = resolve(check(arm[0], arm[1], [m], list(seeds)))
            for run in plan.runs:
                record = plan.record(run)
                if finished(record, run.key):
                    yield arm, m, run.seed, json.loads(record.read_text())


def stopped_path(plan: Plan, run: Run) -> Path:
    """Where a run the training guard stopped keeps its outcome: beside the arm's ``runs/``."""
    return plan.out / "stopped" / run.method / plan.config_key / f"seed{run.seed}.json"


def record_stopped(plan: Plan, run: Run, error: Exception) -> dict:
    """Write the outcome of ``run``, stopped by the training guard with ``error``, under its
    identity (configuration, method, seed and code: the run's key), and return it."""
    outcome = {"key": run.key, "twin": plan.scenario.id, "profile": plan.profile, "method": run.method,
               "seed": run.seed, "outcome": "did not learn" if "did not learn" in str(error) else "diverged",
               "error": type(error).__name__, "message": str(error),
               "stopped": datetime.now(timezone.utc).strftime(STAMP), "hardware": P.hardware("cpu"),
               "versions": P.versions(), "git": P.git_state()}
    R.write_json(stopped_path(plan, run), outcome)
    return outcome


def stopped(plan: Plan, run: Run) -> dict | None:
    """The recorded outcome of ``run`` if the training guard stopped this very run (same key);
    None otherwise. An unreadable record is moved aside (``results.quarantine``): the run is
    trained again, and stops again if it must."""
    path = stopped_path(plan, run)
    if not path.exists():
        return None
    try:
        outcome = R.read_record(path)
    except R.CorruptFile as e:
        R.quarantine(path, e.reason)
        return None
    return outcome if outcome.get("key") == run.key else None


def stopped_runs(arms, seeds) -> list[dict]:
    """The outcome of every run of the plan that the guard stopped, under the code it would run now."""
    out = []
    for arm in arms:
        for m in methods_for(*arm):
            plan = resolve(check(arm[0], arm[1], [m], list(seeds)))
            out += [o for o in (stopped(plan, run) for run in plan.runs) if o is not None]
    return out


def run_times(arms, seeds) -> dict[tuple[Arm, str], tuple[list[int], list[float]]]:
    """Per (arm, method): the seeds finished and each one's wall time (from its record)."""
    times = {(arm, m): ([], []) for arm in arms for m in methods_for(*arm)}
    for arm, m, seed, record in finished_runs(arms, seeds):
        times[(arm, m)][0].append(seed)
        times[(arm, m)][1].append(record.get("wall_seconds", 0))
    return times


def recorded_times(arms) -> dict[tuple[Arm, str], list[tuple[str | None, float]]]:
    """Per (arm, method): (the CPU's vector instructions, ``provenance.hardware``'s ``simd``, None
    for a record from before they were named; wall time) of every run record of it on disk, by any
    code or configuration. Only for estimates."""
    out = {}
    for sc, profile in arms:
        for m in methods_for(sc, profile):
            found = []
            for f in glob.glob(f"results/{sc}/{profile}/runs/{m}/*/seed*.json"):
                try:
                    r = json.loads(open(f).read())
                    found.append(((r.get("hardware") or {}).get("simd"), float(r["wall_seconds"])))
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # an unreadable record says nothing about time
            out[((sc, profile), m)] = found
    return out


def earlier_times(recorded) -> dict[tuple[Arm, str], list[float]]:
    """Per (arm, method): the wall time of every run record of it (``recorded_times``), where no
    run finished by today's code has one yet."""
    return {key: [secs for _, secs in found] for key, found in recorded.items()}


def machine_pace(recorded, simd: str) -> tuple[float, int] | None:
    """How much longer runs take on a CPU with these vector instructions than elsewhere, from
    ``recorded_times``: per (arm, method) with records of both kinds, the ratio of their mean
    times; the median ratio and how many (arm, method) it rests on. None without such a pair
    (records from before machines were named count as elsewhere)."""
    ratios = []
    for found in recorded.values():
        here = [secs for kind, secs in found if kind == simd]
        there = [secs for kind, secs in found if kind != simd]
        if here and there:
            ratios.append(statistics.mean(here) / statistics.mean(there))
    return (statistics.median(ratios), len(ratios)) if ratios else None


# Where an estimate came from. Only the first two are this (arm, method)'s own whole runs, so only they
# measure how fast this machine is against the records (``Pace``); the others are stand-ins.
OWN, OWN_EARLIER, ARM_SLOWEST, ARM, OTHER_CAPACITY = (
    "its own runs", "its own runs of other code", "its arm's slowest method", "its arm's runs",
    "the same method at the twin's other capacity")
MEASURES_PACE = {OWN, OWN_EARLIER}


def estimate(times, arm, m: str, seed: int | None = None, earlier=None) -> float | None:
    """A run's expected wall time (``estimate_with_basis``'s figure)."""
    return estimate_with_basis(times, arm, m, seed, earlier)[0]


def estimate_with_basis(times, arm, m: str, seed: int | None = None, earlier=None) -> tuple[float | None, str | None]:
    """A run's expected wall time and where it came from: the mean of its (arm, method)'s finished
    runs (``OWN``), else of its (arm, method)'s ``earlier`` runs (other code: the same method's cost
    moves less between code versions than between methods), else of its arm's finished runs, else of
    the same method's runs at another capacity of its twin (arms are (twin, profile); the
    capacity-limited network does the same steps on fewer maps, so the standard width's time bounds
    its first run), else (None, None): nothing to go by. The first run of an (arm, seed) may have to
    train the stages its seed's methods share (DA-CNN's old-task network, say), so until one has
    finished it is given the arm's slowest method's mean."""
    secs = times.get((arm, m), ([], []))[1]
    means = [sum(xs) / len(xs) for (a, _), (_, xs) in times.items() if a == arm and xs]
    if seed is not None and means and not any(seed in done for (a, _), (done, _) in times.items() if a == arm):
        return max(means), ARM_SLOWEST
    same_arm = [x for (a, _), (_, xs) in times.items() if a == arm for x in xs]
    before = (earlier or {}).get((arm, m)) or []
    others = {a for a, mm in (*times, *(earlier or {})) if mm == m and _other_capacity(a, arm)}
    other_today = [x for a in others for x in times.get((a, m), ([], []))[1]]
    other_before = [x for a in others for x in (earlier or {}).get((a, m), [])]
    for basis, found in ((OWN, secs), (OWN_EARLIER, before), (ARM, same_arm),
                         (OTHER_CAPACITY, other_today), (OTHER_CAPACITY, other_before)):
        if found:
            return sum(found) / len(found), basis
    return None, None


def _other_capacity(a, b) -> bool:
    """Whether arms ``a`` and ``b`` are one twin at two capacities."""
    return isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] and a[1] != b[1]


def pick(queue, times, seconds_left: float | None, margin: float = 1.1, earlier=None) -> int | None:
    """The position in ``queue`` of the next run to start: the first, without a deadline; with one
    (``seconds_left``), the first whose estimate (times ``margin``) ends before it. None: none fits
    (a run with no estimate never fits a deadline)."""
    for i, (seed, sc, m) in enumerate(queue):
        if seconds_left is None:
            return i
        est = estimate(times, sc, m, seed, earlier)
        if est is not None and est * margin <= seconds_left:
            return i
    return None


class Pace:
    """How long this invocation's runs take against what they were estimated to take: the
    estimates come from records that other machines may have written (a machine without AVX-512
    trains these networks 3-6x slower), so a deadline is judged at ``factor`` times the estimate:
    the median ratio of the whole runs finished so far (one badly estimated run does not stretch
    every other); until one has finished, ``prior`` (``machine_pace``: what records of this kind
    of CPU say), else 1. Only a whole run against an estimate from its own (arm, method)'s runs
    measures the pace (``measures_pace``): a run resumed from a checkpoint does only part of its
    work, and a stand-in estimate (another method's, another capacity's) is off by its own error."""

    def __init__(self, prior: float | None = None):
        self.expected: dict = {}
        self.ratios: list[float] = []
        self.prior = prior

    def started(self, run, seconds: float | None, measures_pace: bool = True) -> None:
        if seconds and measures_pace:
            self.expected[run] = seconds

    def finished(self, run, seconds: float) -> None:
        expected = self.expected.pop(run, None)
        if expected:
            self.ratios.append(seconds / expected)

    @property
    def factor(self) -> float:
        return statistics.median(self.ratios) if self.ratios else self.prior or 1.0


def deadline(until: str | None, now: float | None = None) -> float | None:
    """``HH:MM`` on this machine's clock as a time stamp: today's, or tomorrow's if that has passed."""
    if until is None:
        return None
    try:
        hh, mm = (int(x) for x in until.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        raise SystemExit(f"error: --until {until!r}: give a time of day as HH:MM, e.g. --until 05:10") from None
    now = time.time() if now is None else now
    t = time.localtime(now)
    stamp = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hh, mm, 0, 0, 0, -1))
    return stamp if stamp > now else stamp + 86400


def status(arms, seeds) -> int:
    """A line per (arm, method): the seeds finished and their mean run time; then the run time
    left, each run estimated as ``estimate`` does."""
    times, earlier = run_times(arms, seeds), earlier_times(recorded_times(arms))
    halted: dict = {}
    for o in stopped_runs(arms, seeds):
        halted.setdefault(((o["twin"], o["profile"]), o["method"]), []).append(o["seed"])
    left, unknown = 0.0, 0
    for (arm, m), (done, secs) in times.items():
        todo = len(seeds) - len(done) - len(halted.get((arm, m), []))
        per = estimate(times, arm, m, earlier=earlier)
        if per is None:
            unknown += todo
        else:
            left += todo * per
        print(f"{arm[0]:4} {arm[1]:6} {m:22} seeds done {','.join(map(str, done)) or '-':10} "
              f"{'%5.0f s a run' % (sum(secs) / len(secs)) if secs else '':14} {todo} left"
              + (f"; stopped by the guard: seed {','.join(map(str, halted[(arm, m)]))}" if (arm, m) in halted else ""))
    print(f"run time left: about {left / 3600:.1f} hours (one worker; divide by the workers)"
          + (f", plus {unknown} runs of twins with none finished yet" if unknown else ""))
    return 0


PREREGISTRATION = "book/preregistration.md"


def preregistration() -> dict | None:
    """The first commit of the preregistration page, its hash and time (UTC), read from git in
    this script's checkout; None without git history. The study is what ran after it: its wall time
    counts from there, and no run of it may have finished before."""
    repo = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H %cI", "--", PREREGISTRATION], cwd=repo,
                             capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) < 2:
        return None
    commit, when = out[-2:]  # git lists the newest first: the page's first addition is last
    return {"commit": commit, "committed": datetime.fromisoformat(when).astimezone(timezone.utc).strftime(STAMP)}


def write_record(profile: str | None, arms, seeds, workers: int, start: float, trained: int, failed: list,
                 halted: list | None = None) -> str:
    """The study's record (``results/study.json``; one other profile: ``results/<profile>_study.json``),
    rewritten after every finished run so that an invocation cut off by the end of a session still
    counts. The study spans sessions: each invocation's wall time is kept (the entry with this
    start is replaced), so the study's wall time is their sum, over the invocations that started
    after the preregistration's first commit; those before it trained an earlier design and are
    kept apart (``earlier_invocations``). ``finished_runs`` lists every run finished by the code it
    would run now (a stale or unfinished run is not in it), with when it finished; ``stopped_runs``
    every run the training guard stopped (``halted``, else read from disk), with its message."""
    record = "results/study.json" if profile is None else f"results/{profile}_study.json"
    try:
        before = json.load(open(record))
    except (OSError, ValueError):
        before = {}
    invocations = before.get("earlier_invocations", []) + before.get("invocations", [])
    started = time.strftime(STAMP, time.gmtime(start))
    invocations = [i for i in invocations if i.get("started") != started]
    invocations.append({"started": started, "wall_seconds": round(time.time() - start), "workers": workers,
                        "seeds": list(seeds), "arms": [list(a) for a in arms], "trained": trained})
    prereg = preregistration()
    cut = prereg["committed"] if prereg else ""  # one time format: its strings sort as the times do
    earlier = [i for i in invocations if i.get("started", "") < cut]
    invocations = [i for i in invocations if i.get("started", "") >= cut]
    found = list(finished_runs(arms, seeds))
    done = [{"twin": arm[0], "profile": arm[1], "method": m, "seed": seed, "finished": r.get("finished")}
            for arm, m, seed, r in found]
    records = [r for *_, r in found]
    R.write_json(record, {
        "profile": profile or "+".join(STUDY_PROFILES), "preregistration": prereg, "invocations": invocations,
        "earlier_invocations": earlier,
        "wall_seconds_total": sum(i["wall_seconds"] for i in invocations), "runs": len(records),
        "finished_runs": done,
        "planned": len(seeds) * sum(len(methods_for(*arm)) for arm in arms),
        "stopped_runs": [{k: o[k] for k in ("twin", "profile", "method", "seed", "outcome", "message", "stopped")}
                         for o in (stopped_runs(arms, seeds) if halted is None else halted)],
        "run_wall_seconds_total": round(sum(r.get("wall_seconds", 0) for r in records)),
        "run_train_seconds_total": round(sum(r.get("train_seconds", 0) for r in records)),
        "hardware": P.hardware("cpu"), "versions": P.versions(), "git": P.git_state(),
        "scenarios": list(dict.fromkeys(sc for sc, _ in arms)), "arms": [list(a) for a in arms],
        "ablations": {k: list(v) for k, v in STUDY_ABLATIONS.items()}, "workers": workers, "failed": failed})
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="one profile only (default: the study's plan, every arm)")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the study profile's")
    ap.add_argument("--twins", nargs="+", default=list(TWINS))
    ap.add_argument("--workers", type=int, default=1, help="runs trained at once, one process and thread each")
    ap.add_argument("--commit", action="store_true", help="git-commit each finished (method, seed)")
    ap.add_argument("--notebooks", action="store_true", help="run each arm's notebook at the end")
    ap.add_argument("--status", action="store_true", help="say what is finished and what is left; train nothing")
    ap.add_argument("--until", metavar="HH:MM", help="start only runs expected to end by then (this machine's clock)")
    args = ap.parse_args(argv)
    stop_by = deadline(args.until)
    if args.seeds is None:
        args.seeds = list(dvnlib.scenario("FJ1").profile(args.profile or PROFILE).seeds)
    for sc in args.twins:
        dvnlib.scenario(sc)  # an unknown twin fails here, before any training
    arms = arms_of(args.profile, args.twins)
    if args.status:
        return status(arms, args.seeds)
    start = time.time()
    times = run_times(arms, args.seeds)  # what is finished, and how long each took
    recorded = recorded_times(arms)  # every record on disk, read once
    earlier = earlier_times(recorded)  # how long runs of other code took: estimates until today's finish
    queue = [(seed, arm, m) for seed in args.seeds for arm in arms for m in methods_for(*arm)]
    total = len(queue)
    plans = {(arm, m): resolve(check(*arm, [m], args.seeds)) for arm in arms for m in methods_for(*arm)}
    by_run = {(arm, m, r.seed): (plan, r) for (arm, m), plan in plans.items() for r in plan.runs}
    halted = [o for o in (stopped(*by_run[(arm, m, seed)]) for seed, arm, m in queue) if o is not None]
    queue = [(seed, arm, m) for seed, arm, m in queue if seed not in times[(arm, m)][0]
             and not any((o["twin"], o["profile"], o["method"], o["seed"]) == (*arm, m, seed) for o in halted)]
    jobs = [W.Job(*by_run[(arm, m, seed)], data_root=None, progress=False) for seed, arm, m in queue]
    failed, trained = [], 0
    say(f"{total} runs, {total - len(queue) - len(halted)} finished before, "
        + (f"{len(halted)} stopped by the training guard before (not trained again), " if halted else "")
        + f"{len(queue)} to train, {args.workers} at a time"
        + (f", starting only runs that end by {time.strftime('%H:%M', time.localtime(stop_by))}" if stop_by else ""))

    simd = P.hardware("cpu").get("simd", "")
    prior = machine_pace(recorded, simd) if stop_by else None
    pace = Pace(prior[0] if prior else None)
    if prior:
        say(f"runs on CPUs with {simd} took {prior[0]:.1f}x the time of runs elsewhere ({prior[1]} methods' "
            "records): the deadline uses that until a run finishes here")

    def next_run(waiting: list) -> int | None:
        i = pick([(j.run.seed, arm_of(j), j.run.method) for j in waiting], times,
                 stop_by - time.time() if stop_by else None, margin=1.1 * pace.factor, earlier=earlier)
        if i is not None:
            job = waiting[i]
            est, basis = estimate_with_basis(times, arm_of(job), job.run.method, job.run.seed, earlier)
            # a checkpoint of this run on disk: it resumes, and takes less than a whole run
            checkpoint = job.plan.out / "checkpoints" / job.plan.config_key / job.run.method / f"seed{job.run.seed}"
            resumes = checkpoint.is_dir() and any(checkpoint.iterdir())
            pace.started(label(job), est, measures_pace=basis in MEASURES_PACE and not resumes)
            say(f"start {label(job)}" + (f" (expected {est * pace.factor / 60:.0f} min)" if est else ""))
        return i

    def done(job, status: str, seconds: float) -> None:
        nonlocal trained
        (sc, profile), m, seed = arm_of(job), job.run.method, job.run.seed
        # the arm's metrics.csv and run.json gathered with this run (read back, not trained)
        dvnlib.run(sc, profile, [m], [seed], progress=False)
        if status == "trained":
            factor = pace.factor
            pace.finished(label(job), seconds)
            say(f"done  {label(job)} in {seconds:.0f} s" + (f"; runs here take up to {pace.factor:.2f}x their estimates"
                                                          if pace.factor != factor else ""))
            trained += 1
            times[((sc, profile), m)][0].append(seed)
            times[((sc, profile), m)][1].append(seconds)
        else:
            say(f"done  {label(job)} (finished by another runner)")
        record = write_record(args.profile, arms, args.seeds, args.workers, start, trained, failed, halted)
        if args.commit:
            commit([f"results/{sc}/{profile}", record], f"Study results: {label(job)}")

    def fail(job, error: Exception) -> bool:
        if isinstance(error, Diverged):  # an outcome of the method: recorded, not trained again
            halted.append(record_stopped(job.plan, job.run, error))
            say(f"STOPPED {label(job)} by the training guard ({halted[-1]['outcome']}): {error}")
            record = write_record(args.profile, arms, args.seeds, args.workers, start, trained, failed, halted)
            if args.commit:
                (sc, profile) = arm_of(job)
                commit([f"results/{sc}/{profile}/stopped", record],
                       f"Study outcome: {label(job)} stopped by the training guard ({halted[-1]['outcome']})")
            return True
        failed.append(f"{label(job)}: {type(error).__name__}: {error}")
        say(f"FAILED {failed[-1]}")
        return True  # reported; the other runs go on

    left = W.schedule(jobs, W.Pool(args.workers, threads=1), pick=next_run, on_done=done, on_error=fail).left
    if left:
        say(f"{len(left)} runs left: none ends by {args.until}; the next invocation trains them")
    if args.notebooks and left:
        say("notebooks not run: runs are left (they would train them)")
    elif args.notebooks:
        for sc, profile in arms:
            family = dvnlib.scenario(sc).family
            subprocess.run([sys.executable, "-m", "papermill", f"notebooks/{family}.ipynb",
                            f"results/{sc}/{profile}/{family}.ipynb", "-k", "python3", "--no-progress-bar",
                            "-p", "scenario", sc, "-p", "profile", profile,
                            "-p", "methods", ",".join(methods_for(sc, profile)),
                            "-p", "seeds", ",".join(map(str, args.seeds))], check=True)
            strip_widgets.main([f"results/{sc}/{profile}/{family}.ipynb"])  # no frozen "0%" bars
    record = write_record(args.profile, arms, args.seeds, args.workers, start, trained, failed, halted)
    if args.commit:
        commit([record], f"Study record: {record}")
    for f in failed:
        say(f"failed: {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
