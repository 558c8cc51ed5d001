"""One holder at a time for a run or a shared stage, across processes, runners and cluster nodes.

A lock is a file that appears whole or not at all: its record is written to a private file and
hard-linked to the lock's name (``link`` fails where the name exists: atomic on local
filesystems and NFS). The record is JSON: the host and its boot, the pid and the pid's start time
(from ``/proc``), what is held, since when, and a heartbeat counter that the holder rewrites every
``HEARTBEAT`` seconds.

Whether a holder is gone is never judged by a clock another machine set (a file's modification
time, a time written in the lock): clocks of cluster nodes disagree, and a future or past time
would make a lock live forever or stale too early. A waiter instead watches the lock's content on
its own monotonic clock:

* a holder on this host (same host name and boot; a record without a boot counts as this one) is
  gone when its pid is not running, or runs a process with another start time (the pid was
  reused);
* any other lock (another host's, or a file that is not a lock record at all) is gone when its
  content has not changed for ``STALE_AFTER`` seconds of this waiter's watching: a live holder
  rewrites its heartbeat ten times in that window.

A lock whose holder is gone is taken over, with a warning naming the file and why. Takeovers,
heartbeats and releases each run under a guard (``<lock>.takeover``, exclusive-create, held for
milliseconds), so that a takeover never removes a lock that was just renewed or taken by someone
else, and a holder never rewrites or removes a lock that is no longer its own. A guard whose
content does not change for ``GUARD_STALE`` seconds was left by a dead process and is removed.

While waiting, the waiter logs which lock it waits for and who holds it, at first and then every
``SAY_EVERY`` seconds. Which process trains a run decides nothing about its numbers: this module
is left out of the run identity's code hash (``provenance``).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("dvnlib")

HEARTBEAT = 60.0  # seconds between rewrites of a held lock's heartbeat
STALE_AFTER = 10 * 60.0  # seconds of unchanged content (on the waiter's clock) after which a lock is stale
GUARD_STALE = 30.0  # seconds of unchanged content after which a takeover guard was left by a dead process
POLL = 2.0  # seconds between looks at a lock held by someone else
SAY_EVERY = 5 * 60.0  # seconds between "still waiting" messages


def _proc_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _boot_id() -> str | None:
    """This boot of this machine (Linux): a pid means the same process only within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


# What each watched file looked like when this process first saw its present content, on this
# process's monotonic clock: shared by every FileLock of the process, so that a runner that looks
# at a lock again through a new FileLock keeps counting from its first look.
_SEEN: dict[str, tuple[bytes, float]] = {}
_SEEN_LOCK = threading.Lock()


def _unchanged_for(path: Path, raw: bytes) -> float:
    """Seconds (monotonic, this process) for which ``path`` has held exactly ``raw``."""
    now = time.monotonic()
    with _SEEN_LOCK:
        seen = _SEEN.get(str(path))
        if seen is None or seen[0] != raw:
            _SEEN[str(path)] = (raw, now)
            return 0.0
        return now - seen[1]


def _write_new(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` only if it does not exist; readers never see it partial."""
    return _publish(path, data, os.link)


def _replace(path: Path, data: bytes) -> None:
    _publish(path, data, os.replace)


def _publish(path: Path, data: bytes, place) -> bool:
    """Write ``data`` aside in full, then ``place`` it at ``path`` (``os.link``: only where nothing
    is; ``os.replace``: over what is). False where ``os.link`` found the path taken."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            place(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class FileLock:
    """``with FileLock(path, "FJ1 dvn seed 0"):`` waits for the lock, holds it, releases it.
    ``acquire(wait=False)`` returns False at once where a holder that may be alive has it.
    ``stale_after``, ``heartbeat``, ``poll``, ``say_every`` and ``guard_stale`` are seconds."""

    def __init__(self, path, what: str = "", *, poll: float = POLL, stale_after: float = STALE_AFTER,
                 heartbeat: float = HEARTBEAT, say_every: float = SAY_EVERY, guard_stale: float = GUARD_STALE):
        self.path, self.what = Path(path), what or Path(path).stem
        self.poll, self.stale_after, self.heartbeat = poll, stale_after, heartbeat
        self.say_every, self.guard_stale = say_every, guard_stale
        self._guard = self.path.with_name(self.path.name + ".takeover")
        self._info: dict | None = None  # this holder's record, while held
        self._mine: bytes | None = None  # the bytes of that record now in the file
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- holding ---------------------------------------------------------------------------------
    def acquire(self, wait: bool = True, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        said = None  # monotonic time of the last "waiting" message
        while True:
            if self._try_create():
                return True
            raw = _read(self.path)
            if raw is None:
                continue  # released between our two looks
            reason = self._stale(raw)
            if reason is not None:
                self._take_over(raw, reason)
                continue
            if not wait or (deadline is not None and time.monotonic() > deadline):
                return False
            now = time.monotonic()
            if said is None or now - said >= self.say_every:
                log.info("%s: %swaiting for the lock %s, %s", self.what, "still " if said is not None else "",
                         self.path, self._describe(raw))
                said = now
            time.sleep(self.poll)

    def release(self) -> None:
        if self._mine is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        with self._guarded(wait=True):
            if _read(self.path) == self._mine:  # never remove a lock another has taken over
                self.path.unlink()
        self._mine = self._info = None

    def __enter__(self):
        self.acquire(wait=True)
        return self

    def __exit__(self, *exc):
        self.release()

    def holder(self) -> dict | None:
        """The record of a holder that may be alive (host, pid, what, started; ``{}`` for a lock
        that is not a record), or None where the lock is free or its holder is gone."""
        raw = _read(self.path)
        if raw is None or self._stale(raw) is not None:
            return None
        return _parse(raw) or {}

    # -- mechanics -------------------------------------------------------------------------------
    def _try_create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(),
                "pid_start": _proc_start(os.getpid()), "what": self.what,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "beat": 0}
        data = _dump(info)
        if not _write_new(self.path, data):
            return False
        self._info, self._mine = info, data
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock {self.what}", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                with self._guarded(wait=True):
                    if _read(self.path) != self._mine:
                        log.warning("%s: the lock %s was taken over by another runner (no heartbeat seen "
                                    "for %.0f s)", self.what, self.path, self.stale_after)
                        return
                    info = {**self._info, "beat": self._info["beat"] + 1}
                    data = _dump(info)
                    _replace(self.path, data)
                    self._info, self._mine = info, data
            except OSError:
                pass  # a missed beat; the next one may succeed, and ten may be missed

    def _stale(self, raw: bytes) -> str | None:
        """Why the lock's holder is gone, or None while it may be alive."""
        info = _parse(raw)
        if info is not None and info.get("host") == socket.gethostname() and info.get("boot") in (None, _boot_id()) \
                and isinstance(info.get("pid"), int):
            pid = info["pid"]
            if not _alive(pid):
                return f"its process {pid} on this host is no longer running"
            start = _proc_start(pid)
            if info.get("pid_start") is not None and start is not None and str(start) != str(info["pid_start"]):
                return f"its process {pid} on this host has ended (the pid now belongs to another process)"
            return None
        quiet = _unchanged_for(self.path, raw)
        if quiet < self.stale_after:
            return None
        if info is None:
            return f"it holds no lock record ({_preview(raw)}) and has not changed for {quiet:.0f} s"
        return f"no heartbeat from host {info.get('host')} for {quiet:.0f} s"

    def _describe(self, raw: bytes) -> str:
        info = _parse(raw)
        if info is None:
            return (f"which holds no lock record ({_preview(raw)}): it is taken over if it does not change "
                    f"for {self.stale_after:.0f} s")
        return (f"held by {info.get('what', 'another runner')} (host {info.get('host')}, pid {info.get('pid')}, "
                f"since {info.get('started')})")

    def _take_over(self, raw: bytes, reason: str) -> None:
        with self._guarded(wait=False) as got:
            if not got:  # another waiter is at it: look again in a moment
                time.sleep(min(self.poll, 0.1))
                return
            if _read(self.path) == raw:  # still the lock judged stale, not a renewed or new one
                self.path.unlink()
                log.warning("%s: taking over the lock %s, whose holder is gone: %s", self.what, self.path, reason)

    def _guarded(self, wait: bool):
        return _Guard(self._guard, wait, self.guard_stale, min(self.poll, 0.05))


class _Guard:
    """Exclusive-create guard around one check-and-change of a lock file; ``as`` gives whether
    it was taken (always, with ``wait``)."""

    def __init__(self, path: Path, wait: bool, stale: float, poll: float):
        self.path, self.wait, self.stale, self.poll, self.got = path, wait, stale, poll, False

    def __enter__(self) -> bool:
        token = _dump({"pid": os.getpid(), "host": socket.gethostname(), "token": uuid.uuid4().hex})
        while True:
            if _write_new(self.path, token):
                self.got = True
                return True
            raw = _read(self.path)
            if raw is not None and _unchanged_for(self.path, raw) > self.stale:
                try:  # left by a process that died inside its few milliseconds
                    if self.path.read_bytes() == raw:
                        self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            if not self.wait:
                return False
            time.sleep(self.poll)

    def __exit__(self, *exc):
        if self.got:
            self.path.unlink(missing_ok=True)


def _dump(info: dict) -> bytes:
    return (json.dumps(info, sort_keys=True) + "\n").encode()


def _parse(raw: bytes) -> dict | None:
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) else None


def _preview(raw: bytes) -> str:
    return f"{len(raw)} bytes: {raw[:40]!r}" if raw else "empty"
