"""Running out of memory or disk, recognised wherever it happens and said in one line: what ran
out and what to do. ``runner.run`` raises ``ResourceExhausted`` with that line (so a notebook shows
it), and the command line prints it as it prints the user's other errors."""
from __future__ import annotations

import errno
import sys
from pathlib import Path

_SMALLER = ("use a smaller batch (--set batch_size=32, or overrides={'batch_size': 32}) or a smaller "
            "profile, or train fewer runs at once (--workers 1)")
_RESUMES = "the same command then resumes: finished runs and each stage's last checkpoint are kept"


class ResourceExhausted(RuntimeError):
    """Memory or disk ran out; the message says which and what to do."""


def exhausted(e: BaseException, folder=None) -> str | None:
    """The one line for ``e`` if it is memory or disk running out, else None. ``folder``: where
    the failed write went, when the error does not name its file."""
    if isinstance(e, ResourceExhausted):
        return str(e)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(e, torch.cuda.OutOfMemoryError):
        return f"the GPU ran out of memory: {_SMALLER}, or use another device (--device cpu)"
    # torch's CPU allocator raises a RuntimeError, not a MemoryError
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e)):
        return f"the machine ran out of memory (RAM): {_SMALLER}"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "disk quota was exceeded" if e.errno == errno.EDQUOT else "disk ran out of space"
        if e.filename:
            where, at = f" writing {e.filename}", Path(e.filename).parent
        else:
            at = Path(folder) if folder is not None else Path(".")
            where = f" writing under {at}" if folder is not None else ""
        return f"the {what}{where}: free disk space at {at} (df -h {at}) or write elsewhere (--out); {_RESUMES}"
    return None
