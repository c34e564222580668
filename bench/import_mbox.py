"""Benchmark: `eteam import` of one large mbox file, its rate and its memory.

`eteam import` must stream (constant memory, whatever the file's size): an export of a year's
Contact Us mail is tens of thousands of messages. This writes N realistic messages (the bundled
demo mailbox cycled, each copy with a fresh Message-ID) into an mbox file with the standard
library's writer, then runs the real command in a subprocess on a fresh SQLite database and
prints its rate and the command's own peak RSS.

    python bench/import_mbox.py --messages 50000 --json
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `tests.dovecot` and the packages importable

from bench.measured import run_eteam
from models.db import upgrade
from tests.dovecot import demo_messages


def write_mbox(path: Path, count: int) -> None:
    """`count` demo messages in one mbox file."""
    box = mailbox.mbox(path)
    box.lock()
    try:
        for raw in demo_messages(count, "import-bench"):
            box.add(raw)
        box.flush()
    finally:
        box.unlock()
        box.close()


def main() -> None:
    """Parse arguments, write the file, time the import, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000, help="how many messages the mbox holds (default 10000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eteam-import-bench-") as tmp:
        work = Path(tmp)
        mbox = work / "export.mbox"
        write_mbox(mbox, args.messages)
        database_url = f"sqlite:///{work / 'bench.db'}"
        upgrade(database_url)
        env = {**os.environ, "ETEAM_DATABASE_URL": database_url, "ETEAM_VAR_DIR": str(work / "var")}
        env.pop("ETEAM_CONFIG", None)
        report, seconds, usage = run_eteam(["import", str(mbox), "--json"], env, work)
        figures = {
            "n": args.messages,
            "mbox_mb": round(mbox.stat().st_size / 1e6, 1),
            "import_per_s": round(args.messages / seconds, 1),
            "seconds": round(seconds, 2),
            "stored": report["stored"],
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>14}: {value}")


if __name__ == "__main__":
    main()
