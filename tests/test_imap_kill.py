"""`eteam ingest` as a real process under signals: SIGKILL at random moments, SIGTERM in --watch.

Spec §9: a crash at any point of ingest leaves every message either stored once or still in
the mailbox to be fetched again; nothing is moved before it is committed; re-running never
duplicates. The kill test's seed is printed (and can be set with ETEAM_KILL_SEED) to replay
a failure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ingest.parse import message_id_of
from models import Message, MessageStatus
from models.db import make_engine, make_session_factory, upgrade
from tests.dovecot import DovecotServer, demo_messages, dovecot  # noqa: F401 - the fixture

COUNT = 2000
INGEST = [sys.executable, "-m", "eteam", "ingest"]
LOGIN_WAIT_SECONDS = 120.0
FINAL_RUN_TIMEOUT = 600.0


def wait_for_login(server: DovecotServer, process: subprocess.Popen[Any], before: int) -> None:
    """Wait until the run has logged in, so the kill lands in ingest, not in Python's start-up."""
    deadline = time.monotonic() + LOGIN_WAIT_SECONDS
    while server.logins() == before and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def environment(server: DovecotServer, tmp_path: Path, model: Path) -> tuple[dict[str, str], str]:
    """Variables for a subprocess: a migrated SQLite file, a TOML config naming the mailbox, the password."""
    database_url = f"sqlite:///{tmp_path / 'eteam.db'}"
    upgrade(database_url)
    config = tmp_path / "eteam.toml"
    config.write_text(
        f'[[mailboxes]]\nname = "contact"\nhost = "{server.host}"\nport = {server.port}\n'
        f'tls = "none"\nuser = "{server.user}"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "ETEAM_DATABASE_URL": database_url,
        "ETEAM_CONFIG": str(config),
        "ETEAM_IMAP_PASSWORD": server.password,
        "ETEAM_MODEL_PATH": str(model),
        "ETEAM_VAR_DIR": str(tmp_path / "var"),
    }
    return env, database_url


def stored(database_url: str, column: Any) -> Counter[Any]:
    """How many stored messages have each value of a column (Message-ID, status)."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        values = Counter(session.scalars(select(column)))
    engine.dispose()
    return values


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    dovecot: DovecotServer, tmp_path: Path, trained_model_path: Path  # noqa: F811
) -> None:
    env, database_url = environment(dovecot, tmp_path, trained_model_path)
    messages = list(demo_messages(COUNT, "kill"))
    expected = Counter(message_id_of(raw) for raw in messages)
    assert len(expected) == COUNT
    dovecot.append(messages)
    del messages

    seed = int(os.environ.get("ETEAM_KILL_SEED", time.time_ns() % 1_000_000))
    print(f"kill test seed {seed} (set ETEAM_KILL_SEED to replay)")
    rng = random.Random(seed)
    for _ in range(rng.randint(3, 5)):
        before = dovecot.logins()
        process = subprocess.Popen([*INGEST, "--once"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_login(dovecot, process, before)
        time.sleep(rng.uniform(0.2, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()

    final = subprocess.run([*INGEST, "--once"], check=False, env=env, capture_output=True, text=True, timeout=FINAL_RUN_TIMEOUT)
    assert final.returncode == 0, final.stderr

    message_ids = stored(database_url, Message.message_id)
    assert sum(message_ids.values()) == COUNT, "every message stored exactly once"
    assert message_ids == expected

    processed = Counter(message_id_of(header) for header in dovecot.message_ids("Processed"))
    inbox = Counter(message_id_of(header) for header in dovecot.message_ids("INBOX"))
    assert set(processed) <= set(message_ids), "nothing sits in Processed without being stored"
    assert processed + inbox == expected, "the mailbox still holds every message, once"
    assert not inbox, "the finished run moved everything"


def test_watch_ingests_and_processes_new_mail_then_stops_on_sigterm(
    dovecot: DovecotServer, tmp_path: Path, trained_model_path: Path  # noqa: F811
) -> None:
    env, database_url = environment(dovecot, tmp_path, trained_model_path)
    before = dovecot.logins()
    process = subprocess.Popen(
        [*INGEST, "--watch", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_login(dovecot, process, before)
        dovecot.append(demo_messages(5, "watch"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            statuses = stored(database_url, Message.status)
            if sum(statuses.values()) == 5 and not statuses[MessageStatus.RECEIVED]:
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert sum(stored(database_url, Message.message_id).values()) == 5
    reports = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert sum(report["processed"] + report["quarantined"] for report in reports) == 5
    assert dovecot.message_ids("INBOX") == []
