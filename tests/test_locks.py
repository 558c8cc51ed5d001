"""Locks (``dvnlib.locks``): a holder is judged gone by its process on this host (pid and start
time) or by its heartbeat seen changing on the waiter's own clock, never by a file's time, so
clock skew neither keeps a dead holder's lock forever nor takes a live one early. Windows are
fractions of a second here, passed as parameters."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from dvnlib import locks

REPO = Path(__file__).resolve().parent.parent
DAY = 86400


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _lock(path: Path, mtime_offset: float = 0.0, **record) -> bytes:
    """Write a lock record (or raw bytes, ``raw=``) and set its modification time ``mtime_offset``
    seconds from now."""
    raw = record.pop("raw", None)
    data = raw if raw is not None else (json.dumps({"what": "a test's holder", "started": "2026-01-01T00:00:00+00:00",
                                                    **record}) + "\n").encode()
    path.write_bytes(data)
    t = time.time() + mtime_offset
    os.utime(path, (t, t))
    return data


def _fast(path, **kw):
    return locks.FileLock(path, "the test", **{"poll": 0.02, **kw})


def test_a_dead_holder_on_this_host_is_taken_over_whatever_the_file_time(tmp_path, caplog):
    path = tmp_path / "a.lock"
    _lock(path, +DAY, host=socket.gethostname(), pid=_dead_pid())
    with caplog.at_level("WARNING", logger="dvnlib"):
        lk = _fast(path)
        assert lk.acquire(wait=False)  # at once: its process is gone, no heartbeat needed
    assert "no longer running" in caplog.text and str(path) in caplog.text
    lk.release()
    assert not path.exists()


def test_a_silent_lock_of_another_host_with_a_future_time_is_taken_over_after_the_window(tmp_path, caplog):
    # another host's clock is a day ahead; its holder died. The waiter does not wait for that
    # time (nor that time plus the window): only for the window, on its own clock.
    path = tmp_path / "b.lock"
    _lock(path, +DAY, host="node-that-is-not-here", pid=1, beat=7)
    lk = _fast(path, stale_after=0.4)
    t0 = time.monotonic()
    with caplog.at_level("WARNING", logger="dvnlib"):
        assert lk.acquire(wait=True, timeout=20)
    waited = time.monotonic() - t0
    assert 0.4 <= waited < 20
    assert "no heartbeat from host node-that-is-not-here" in caplog.text
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lk.release()


def test_a_live_heartbeat_keeps_another_hosts_lock_even_with_a_past_time(tmp_path):
    # its clock is a day behind (the file looks ancient), but its heartbeat changes: alive
    path = tmp_path / "c.lock"
    stop = threading.Event()

    def beat():
        n = 0
        while not stop.is_set():
            _lock(path, -DAY, host="node-that-is-not-here", pid=1, beat=n)
            n += 1
            time.sleep(0.05)
    t = threading.Thread(target=beat)
    t.start()
    try:
        time.sleep(0.1)
        lk = _fast(path, stale_after=0.4)
        assert not lk.acquire(wait=True, timeout=1.5)
        assert lk.holder()["host"] == "node-that-is-not-here"
    finally:
        stop.set()
        t.join()
    assert lk.acquire(wait=True, timeout=20)  # its heartbeat stopped: stale after the window
    lk.release()


def test_a_garbage_lock_with_a_future_time_is_taken_over_once_it_stops_changing(tmp_path, caplog):
    path = tmp_path / "d.lock"
    _lock(path, +DAY, raw=b"\x00\x01 not a lock")
    changing_until = time.monotonic() + 0.8

    def scribble():  # a writer still at work: the content changes, so it is not stale yet
        n = 0
        while time.monotonic() < changing_until:
            _lock(path, +DAY, raw=f"\x00 garbage {n}".encode())
            n += 1
            time.sleep(0.05)
    t = threading.Thread(target=scribble)
    t.start()
    lk = _fast(path, stale_after=0.4)
    with caplog.at_level("INFO", logger="dvnlib"):
        assert lk.acquire(wait=True, timeout=20)
    done = time.monotonic()
    t.join()
    assert done >= changing_until + 0.4 - 0.1  # not before its content had been still for the window
    assert f"waiting for the lock {path}, which holds no lock record" in caplog.text
    assert "taking over the lock" in caplog.text and "holds no lock record" in caplog.text
    lk.release()


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path, caplog):
    # the pid is running, but it is another process than the one that wrote the lock
    path = tmp_path / "e.lock"
    live = os.getpid()
    _lock(path, host=socket.gethostname(), boot=locks._boot_id(), pid=live, pid_start="1")
    with caplog.at_level("WARNING", logger="dvnlib"):
        lk = _fast(path)
        assert lk.acquire(wait=False)
    assert "the pid now belongs to another process" in caplog.text
    lk.release()
    # the same pid with its own start time is the holder
    _lock(path, host=socket.gethostname(), boot=locks._boot_id(), pid=live, pid_start=locks._proc_start(live))
    assert not _fast(path).acquire(wait=False)


def test_a_pid_from_an_earlier_boot_is_not_taken_for_the_holder(tmp_path):
    # same host name, same pid and start ticks, but the machine has rebooted since: the pid says
    # nothing, and only the heartbeat rule is left
    path = tmp_path / "f.lock"
    live = os.getpid()
    _lock(path, +DAY, host=socket.gethostname(), boot="an-earlier-boot", pid=live, pid_start=locks._proc_start(live))
    lk = _fast(path, stale_after=0.3)
    assert lk.acquire(wait=True, timeout=20)
    lk.release()


def test_the_holder_rewrites_its_heartbeat_and_releases_only_its_own_lock(tmp_path):
    path = tmp_path / "g.lock"
    lk = locks.FileLock(path, "holder", heartbeat=0.05)
    assert lk.acquire(wait=False)
    first = json.loads(path.read_text())
    time.sleep(0.4)
    later = json.loads(path.read_text())
    assert later["beat"] > first["beat"] and later["pid"] == os.getpid() and later["boot"] == locks._boot_id()
    lk.release()
    assert not path.exists()
    # a lock taken over by another is left to it
    lk = locks.FileLock(path, "holder", heartbeat=60)
    assert lk.acquire(wait=False)
    other = _lock(path, host="node-that-is-not-here", pid=1)
    lk.release()
    assert path.read_bytes() == other


def test_a_guard_left_by_a_dead_process_does_not_block_for_ever(tmp_path):
    path = tmp_path / "h.lock"
    _lock(path, host=socket.gethostname(), pid=_dead_pid())
    _lock(path.with_name("h.lock.takeover"), +DAY, raw=b'{"pid": 1}')
    lk = _fast(path, guard_stale=0.3)
    assert lk.acquire(wait=True, timeout=20)
    lk.release()
    assert not path.with_name("h.lock.takeover").exists()


def test_waiting_names_the_lock_and_its_holder_and_says_so_again(tmp_path, caplog):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from dvnlib.locks import FileLock
        l = FileLock({str(path)!r}, "FJ1 dvn seed 3")
        assert l.acquire(wait=False)
        print("held", flush=True)
        sys.stdin.read()  # until the test closes our stdin
        l.release()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = _fast(path, say_every=0.2)
        assert not mine.acquire(wait=False)
        assert mine.holder()["pid"] == holder.pid
        with caplog.at_level("INFO", logger="dvnlib"):
            assert not mine.acquire(wait=True, timeout=0.7)  # still held: waited, then gave up
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    said = [r.getMessage() for r in caplog.records if "waiting for the lock" in r.getMessage()]
    assert len(said) >= 2 and said[1].startswith("the test: still waiting"), said
    assert all(str(path) in m and "held by FJ1 dvn seed 3" in m and f"host {socket.gethostname()}" in m
               and f"pid {holder.pid}" in m and "since 20" in m for m in said), said
    assert mine.acquire(wait=True, timeout=30)  # released by its holder: ours now
    mine.release()
    assert not path.exists()


def test_training_imports_no_scheduling_code():
    # a run's training is told which lock its shared stages take (train.RunContext's shared_lock);
    # it never reaches up for the scheduler's locks or workers itself
    code = ("import sys, dvnlib.train, dvnlib.runs, dvnlib.methods; "
            "print(sorted({'dvnlib.locks', 'dvnlib.workers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout
    assert out.strip() == "[]", out
