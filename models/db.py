"""Engine and session factories, and the schema upgrade that `eteam init` runs.

The engine is built from a URL handed in by the entry point (never at import), so tests can
point the same code at a temp SQLite file or a throwaway PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapper, Session, SessionTransaction, object_session, sessionmaker

from models.schema import Base

if TYPE_CHECKING:  # Alembic (and Mako, Pygments under it) loads only for a schema upgrade
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite also create the file's folder and turn on WAL and foreign keys.

    WAL lets the dashboard read while the worker writes; a busy timeout makes concurrent writers
    wait instead of failing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def lock_for_writing(session: Session) -> None:
    """On SQLite, take the write lock now (BEGIN IMMEDIATE), for a transaction that reads first.

    The driver begins a transaction at a SAVEPOINT or the first write; a transaction that has
    read and then writes fails at once with "database is locked" if another writer committed
    in between, whatever the busy timeout. Taken up front, the lock is waited for instead.
    Elsewhere (PostgreSQL) row locks do this job and nothing happens here.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    session.info[NEXT_IDS] = {}


NEXT_IDS = "eteam_next_ids"


@event.listens_for(Base, "before_insert", propagate=True)
def _assign_id(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    """On SQLite, while this session holds the write lock, number new rows here, not in the database.

    SQLite cannot say which RETURNING row belongs to which row of a multi-row INSERT, so the
    ORM inserts rows whose ids the database assigns one statement at a time; rows that arrive
    numbered are written with one `executemany` per table, several times faster. The lock
    (`lock_for_writing`) guarantees no other writer takes the numbers meanwhile; the numbers
    are forgotten after each flush, so rows another statement inserted since are seen.
    """
    session = object_session(target)
    if session is None or NEXT_IDS not in session.info:
        return
    key = mapper.primary_key
    if len(key) != 1 or key[0].name != "id" or getattr(target, "id", None) is not None:
        return
    table = mapper.local_table
    next_ids: dict[Any, int] = session.info[NEXT_IDS]
    if table not in next_ids:
        next_ids[table] = connection.scalar(select(func.coalesce(func.max(key[0]), 0))) + 1
    target.id = next_ids[table]
    next_ids[table] += 1


@event.listens_for(Session, "after_flush_postexec")
def _forget_ids(session: Session, _context: Any) -> None:
    if NEXT_IDS in session.info:
        session.info[NEXT_IDS] = {}


@event.listens_for(Session, "after_transaction_end")
def _stop_numbering(session: Session, transaction: SessionTransaction) -> None:
    """The write lock ends with the transaction, and so does numbering rows here."""
    if transaction.parent is None:
        session.info.pop(NEXT_IDS, None)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit (the CLI prints them)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An Alembic config that needs no alembic.ini: the URL comes from settings."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Create or upgrade the database to the newest migration."""
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite folder when needed
    command.upgrade(alembic_config(url), "head")
