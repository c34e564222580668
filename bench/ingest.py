"""Benchmark: end-to-end IMAP ingest (`eteam ingest --once`) against the raw IMAP fetch rate.

Spec §9 asks for at least 1,000 messages/s end to end (fetch, parse, store, classify, route)
from a real IMAP server on a 2-core machine with SQLite, reported beside the raw fetch rate
of the same messages, with memory flat in the number of messages. This loads N realistic
messages (the bundled demo mailbox's web forms, English and Spanish mail, broadcasts and
bounces, every intent, each copy with a fresh Message-ID) into a throwaway Dovecot with
MULTIAPPEND, times bare imapclient `BODY.PEEK[]` batches, then runs the real command in a
subprocess and times it, start-up included, as an operator would see it.

It also reports the CPU the command used per message (its fetcher and workers included),
which varies less than the rate on a shared machine whose speed changes minute to minute, and
the time of a fixed pure-Python loop run just before (`python_loop_seconds`), which says how
fast the machine was.

    python bench/ingest.py --messages 10000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `tests.dovecot` and the packages importable

from bench.measured import run_eteam
from models.db import upgrade
from tests.dovecot import DovecotServer, demo_messages, running_dovecot

FETCH_BATCH = 500


def python_loop_seconds() -> float:
    """Seconds for a fixed pure-Python loop: how fast this machine runs Python right now.

    The project's machine is a shared virtual machine whose speed moves by a factor of two
    between sessions; this figure beside the rates says which kind of moment they come from.
    """
    started = time.perf_counter()
    total = 0
    for number in range(30_000_000):
        total += number
    return time.perf_counter() - started


def raw_fetch_seconds(server: DovecotServer) -> tuple[int, float]:
    """Seconds to fetch every message's bytes in batches, read-only: the ceiling for ingest."""
    with server.client() as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search()
        started = time.perf_counter()
        fetched = 0
        for start in range(0, len(uids), FETCH_BATCH):
            fetched += len(client.fetch(uids[start : start + FETCH_BATCH], ["BODY.PEEK[]"]))
        return fetched, time.perf_counter() - started


def run_ingest(server: DovecotServer, work: Path, model: Path) -> tuple[dict[str, float], float, resource.struct_rusage]:
    """Run `eteam ingest --once --json` on a fresh database: its report, wall seconds and resource usage.

    The usage covers the command and its fetcher and workers (not Dovecot): CPU seconds, and
    the peak RSS of the largest of them.
    """
    database_url = f"sqlite:///{work / 'bench.db'}"
    upgrade(database_url)
    env = {
        **os.environ,
        "ETEAM_DATABASE_URL": database_url,
        "ETEAM_MODEL_PATH": str(model),
        "ETEAM_VAR_DIR": str(work / "var"),
        "ETEAM_IMAP_PASSWORD": server.password,
    }
    env.pop("ETEAM_CONFIG", None)
    url = f"imap://{server.user}@{server.host}:{server.port}/INBOX"
    return run_eteam(["ingest", "--once", "--json", "--url", url], env, work)


def main() -> None:
    """Parse arguments, run both measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="how many messages to load (default 1000)")
    parser.add_argument("--model", type=Path, help="a trained model file (default: train the bundled corpus first)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    loop_seconds = python_loop_seconds()
    with tempfile.TemporaryDirectory(prefix="eteam-bench-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:  # trained by a separate process: a big parent would inflate the ingest's peak RSS
            model = work / "model.skops"
            subprocess.run(
                [sys.executable, "-m", "eteam", "train", "--no-corrections", "--out", str(model)],
                env={**os.environ, "ETEAM_VAR_DIR": str(work / "var")}, cwd=REPO, check=True, capture_output=True,
            )
        with running_dovecot() as server:
            server.append(demo_messages(args.messages, "bench"))
            fetched, fetch_seconds = raw_fetch_seconds(server)
            report, ingest_seconds, usage = run_ingest(server, work, model)
    if report["fetched"] != args.messages or fetched != args.messages:
        raise SystemExit(f"expected {args.messages} messages, raw fetch saw {fetched}, ingest {report}")
    raw_rate = args.messages / fetch_seconds
    ingest_rate = args.messages / ingest_seconds
    figures = {
        "n": args.messages,
        "raw_fetch_per_s": round(raw_rate, 1),
        "ingest_per_s": round(ingest_rate, 1),
        "ratio": round(ingest_rate / raw_rate, 4),
        "cpu_ms_per_message": round((usage.ru_utime + usage.ru_stime) * 1000 / args.messages, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "ingest_wall_seconds": round(ingest_seconds, 2),
        "command_seconds": report["seconds"],
        "startup_seconds": round(ingest_seconds - report["seconds"], 2),
        "processed": report["processed"],
        "quarantined": report["quarantined"],
        "python_loop_seconds": round(loop_seconds, 2),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
