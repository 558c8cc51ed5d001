"""One holder at a time for a run or a shared stage, across processes, runners and cluster nodes.

A lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local filesystems and on NFS v3+),
holding JSON: the host, the pid (and, on Linux, the pid's start time, so that a reused pid is not
mistaken for the holder), what is held and since when. While it is held, a thread touches the
file every ``HEARTBEAT`` seconds: its modification time is the holder's last sign of life.

A lock whose holder is gone is taken over, with a log message:

* on this host: its process is not running (or the pid now belongs to another process);
* on another host (a cluster node): no heartbeat for ``STALE_AFTER`` seconds (generous: a busy
  shared filesystem may delay a touch, never by half an hour).

Takeover is itself guarded (``<lock>.takeover``, exclusive-create), and removes only the exact
lock judged stale, so that two waiters never both take one lock. ``release`` removes the file only
if it is still this holder's. Which process trains a run decides nothing about its numbers: this
module is left out of the run identity's code hash (``provenance``).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("dvnlib")

HEARTBEAT = 60.0  # seconds between touches of a held lock
STALE_AFTER = 30 * 60.0  # seconds without a touch after which another host's lock is stale
WRITE_GRACE = 30.0  # a lock file still empty this long after creation was left by a dead writer
POLL = 2.0  # seconds between looks at a lock held by someone else


def _proc_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


class FileLock:
    """``with FileLock(path, "FJ1 dvn seed 0"):`` waits for the lock, holds it, releases it.
    ``acquire(wait=False)`` returns False at once where a live holder has it."""

    def __init__(self, path, what: str = "", *, poll: float = POLL, stale_after: float = STALE_AFTER,
                 heartbeat: float = HEARTBEAT):
        self.path, self.what = Path(path), what or Path(path).stem
        self.poll, self.stale_after, self.heartbeat = poll, stale_after, heartbeat
        self._mine: bytes | None = None  # the bytes this holder wrote, while held
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- holding ---------------------------------------------------------------------------------
    def acquire(self, wait: bool = True, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        said = False
        while True:
            if self._try_create():
                return True
            raw, info = self._read()
            reason = self._stale(raw, info)
            if reason is not None:
                self._take_over(raw, reason)
                continue
            if not wait or (deadline is not None and time.monotonic() > deadline):
                return False
            if not said and info:
                log.info("%s is held by %s (host %s, pid %s, since %s): waiting", self.what,
                         info.get("what", "another runner"), info.get("host"), info.get("pid"), info.get("started"))
                said = True
            time.sleep(self.poll)

    def release(self) -> None:
        if self._mine is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            if self.path.read_bytes() == self._mine:  # never remove a lock another has taken over
                self.path.unlink()
        except FileNotFoundError:
            pass
        self._mine = None

    def __enter__(self):
        self.acquire(wait=True)
        return self

    def __exit__(self, *exc):
        self.release()

    def holder(self) -> dict | None:
        """The live holder's record (host, pid, what, started), or None where free or stale."""
        raw, info = self._read()
        if raw is None or self._stale(raw, info) is not None:
            return None
        return info or {}

    # -- mechanics -------------------------------------------------------------------------------
    def _try_create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _proc_start(os.getpid()),
                "what": self.what, "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        data = (json.dumps(info, sort_keys=True) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._mine = data
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock {self.what}", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if self.path.read_bytes() != self._mine:
                    log.warning("the lock on %s was taken over by another runner (no heartbeat for %.0f s?)",
                                self.what, self.stale_after)
                    return
                os.utime(self.path)
            except OSError:
                pass  # a missed beat; the next one may succeed

    def _read(self) -> tuple[bytes | None, dict | None]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None, None
        try:
            info = json.loads(raw)
            return raw, info if isinstance(info, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return raw, None  # being written, or left half-written

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _stale(self, raw: bytes | None, info: dict | None) -> str | None:
        """Why the lock's holder is gone, or None while it may be alive (or the lock is free)."""
        if raw is None:
            return None
        if info is None:
            age = self._age()
            return f"its file is unreadable and {age:.0f} s old" if age > WRITE_GRACE else None
        pid = info.get("pid")
        if info.get("host") == socket.gethostname() and isinstance(pid, int):
            if not _alive(pid):
                return f"its process {pid} on this host is no longer running"
            start = _proc_start(pid)
            if info.get("pid_start") and start and start != info["pid_start"]:
                return f"its process {pid} on this host has ended (the pid now belongs to another process)"
            return None
        age = self._age()
        if age > self.stale_after:
            return f"no sign of life from host {info.get('host')} for {age / 60:.0f} minutes"
        return None

    def _take_over(self, raw: bytes | None, reason: str) -> None:
        guard = self.path.with_name(self.path.name + ".takeover")
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:  # a guard is held for milliseconds; an old one was left by a dead process
                if time.time() - guard.stat().st_mtime > WRITE_GRACE:
                    guard.unlink()
            except FileNotFoundError:
                pass
            time.sleep(min(self.poll, 0.1))
            return
        os.close(fd)
        try:
            if self.path.read_bytes() == raw:  # still the lock judged stale, not a new holder's
                self.path.unlink()
                log.warning("%s: taking over the lock %s left by a runner that is gone (%s)",
                            self.what, self.path, reason)
        except FileNotFoundError:
            pass
        finally:
            guard.unlink(missing_ok=True)
