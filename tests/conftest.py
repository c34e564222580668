"""Shared fixtures: databases (SQLite and a throwaway PostgreSQL database), settings, a model.

PostgreSQL tests use the server at 127.0.0.1:5432 (user postgres, trust auth): one fresh
database per test run, dropped afterwards. Without the server they skip with the reason,
except under CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path

import pytest

from classify.data import bundled_paths, read_many
from classify.model import IntentModel
from eteam.stages import Services
from respond.render import Renderer
from respond.routing import RoutingTable
from eteam.settings import Settings
from models.db import upgrade

pytest_plugins = ("tests.smtp_server",)

PG_ADMIN_URL = os.environ.get("ETEAM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip with a reason outside CI; fail in CI, where every server must be present."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped at the end."""
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        connection = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require(False, f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
        raise
    name = f"eteam_test_{uuid.uuid4().hex[:10]}"
    connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.close()


def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from models.db import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fresh_database(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """An empty, migrated database: a SQLite file in `directory`, or the run's PostgreSQL one reset."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'eteam.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database on each backend."""
    return fresh_database(request, request.param, tmp_path)


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled corpus's model, trained once per run."""
    data = read_many(bundled_paths())
    path = tmp_path_factory.mktemp("model") / "model.skops"
    IntentModel.train(data.texts, data.labels).save(path)
    return path


@pytest.fixture
def settings(database_url: str, trained_model_path: Path, tmp_path: Path) -> Settings:
    """Default settings on a test database with the shared trained model."""
    return Settings(database_url=database_url, model_path=trained_model_path, var_dir=tmp_path / "var")


@pytest.fixture
def services(settings: Settings) -> Services:
    """The pipeline's shared services on the test database, with a fixed clock."""
    return Services(
        settings=settings,
        model=IntentModel.load(settings.active_model_path),
        routing=RoutingTable.load(),
        renderer=Renderer(),
        clock=lambda: datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc),
    )


def store_and_process(settings: Settings, services: Services, raws: list[bytes]) -> None:
    """Store raw messages as an import would, then run the whole pipeline over them."""
    from eteam.pipeline import build_stages, process_pending
    from ingest.store import store_stream
    from models.db import make_engine, make_session_factory

    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        store_stream(session, [(f"test:{i}", raw) for i, raw in enumerate(raws)])
    process_pending(sessions, build_stages(services))
