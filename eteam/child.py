"""What every helper process we fork does first: die with its parent, leave Ctrl-C to it.

Helper processes (the preparing workers, the mail fetcher of `eteam ingest`) hold no state
that the parent could not rebuild: a killed or interrupted parent must not leave one running,
half-way through work nobody will collect. Linux's `PR_SET_PDEATHSIG` has the kernel kill the
child when the parent dies, however it dies; Ctrl-C reaches the whole process group, and only
the parent decides what it means.
"""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def follow_parent() -> None:
    """Call first thing in a forked child: ignore Ctrl-C, obey SIGTERM, die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
