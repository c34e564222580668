"""Running an `eteam` command the way the benchmarks measure it: a subprocess, timed, with its own rusage.

The peak RSS must be the command's own (its largest process: itself, a fetcher or a worker),
not that of every child the benchmark ever had (training a model forks workers), so the
child is reaped with `os.wait4` rather than `Popen.wait`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_eteam(args: list[str], env: dict[str, str], work: Path) -> tuple[Any, float, resource.struct_rusage]:
    """`python -m eteam ARGS` (a `--json` command): its parsed output, wall seconds and rusage."""
    out_path, err_path = work / "command.out", work / "command.err"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen([sys.executable, "-m", "eteam", *args], env=env, cwd=REPO, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    if child.returncode != 0:
        raise SystemExit(f"eteam {args[0]} failed:\n{err_path.read_text(errors='replace')}")
    return json.loads(out_path.read_text()), seconds, usage
