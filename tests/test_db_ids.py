"""Rows numbered by the writer on SQLite: batched inserts, never a clash with rows numbered elsewhere."""

from sqlalchemy import func, insert, select

from models import Event
from models.db import NEXT_IDS, lock_for_writing, make_engine, make_session_factory


def test_rows_numbered_under_the_write_lock_never_clash(database_url: str) -> None:
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        lock_for_writing(session)
        first = [Event(kind="test") for _ in range(3)]
        session.add_all(first)
        session.flush()
        # A row the database numbers itself, between two flushes of the same transaction.
        session.execute(insert(Event.__table__).values(kind="core", data={}))
        second = [Event(kind="test") for _ in range(2)]
        session.add_all(second)
        session.flush()
        ids = [event.id for event in first + second]
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(Event))
    assert len(set(ids)) == 5 and stored == 6
    assert [b - a for a, b in zip(ids, ids[1:3], strict=False)] == [1, 1]  # numbered in order


def test_numbering_ends_with_the_transaction_that_took_the_lock(database_url: str) -> None:
    sessions = make_session_factory(make_engine(database_url))
    with sessions() as session:
        lock_for_writing(session)
        session.add(Event(kind="test"))
        session.commit()
        # The next transaction has no write lock: the database must number its rows again.
        late = Event(kind="test")
        session.add(late)
        session.flush()
        assert NEXT_IDS not in session.info
        session.commit()
    assert late.id is not None
