"""Service-request numbers are per-day and unique; due times skip weekends and holidays."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from models.db import make_engine, make_session_factory
from respond.cases import LOS_ANGELES, CaseNumbers, due_time, next_sr_number

NOV_24 = datetime(2026, 11, 24, 10, 0, tzinfo=LOS_ANGELES)


def test_numbers_count_per_day(database_url: str) -> None:
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        first = next_sr_number(session, NOV_24)
        second = next_sr_number(session, NOV_24)
        next_day = next_sr_number(session, NOV_24.replace(day=25))
    assert (first, second, next_day) == ("261124-000001", "261124-000002", "261125-000001")


def test_numbers_unique_under_concurrency(database_url: str) -> None:
    sessions = make_session_factory(make_engine(database_url))

    def take(_: int) -> str:
        with sessions.begin() as session:
            return next_sr_number(session, NOV_24)

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = list(pool.map(take, range(40)))
    assert len(set(numbers)) == 40


def test_due_time_skips_thanksgiving_and_weekend() -> None:
    wednesday = datetime(2026, 11, 25, 16, 0, tzinfo=LOS_ANGELES)  # +24h is Thanksgiving
    # Thursday is Thanksgiving, Friday the day after (a holiday too), then the weekend.
    assert due_time(wednesday) == datetime(2026, 11, 30, 17, 0, tzinfo=LOS_ANGELES)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=LOS_ANGELES)
    assert due_time(monday) == datetime(2026, 11, 24, 9, 0, tzinfo=LOS_ANGELES)


def test_batch_reservation_hands_back_what_it_did_not_use(database_url: str) -> None:
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        numbers = CaseNumbers(session, block=2)
        taken = [numbers.take(NOV_24) for _ in range(3)]  # the third needs a second block
        numbers.release()
        after = next_sr_number(session, NOV_24)
    assert taken == ["261124-000001", "261124-000002", "261124-000003"]
    assert after == "261124-000004"  # no gap where the second block's spare number was
