"""The E-Team Inbox dashboard: `streamlit run dashboard/app.py` (what `eteam dashboard` starts).

Pages are thin: each opens a session, calls plain functions from `dashboard.queries`, and lays
out what they return, so every figure shown is tested without Streamlit. Settings come from the
environment (`ETEAM_DATABASE_URL`, …) and are read once per server process, with the engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

# `streamlit run` puts only this file's folder on sys.path. When the project is installed
# (pip install -e .) the repo root is already there; appending it covers a plain checkout.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.append(_REPO_ROOT)

from dashboard import queries  # noqa: E402
from classify.corrections import ModelRegistry  # noqa: E402
from eteam.settings import Settings, load_settings  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402

TITLE = "E-Team Inbox"
EMPTY_STATE = "No messages yet — run `eteam import` or `make demo`"
ALL_QUEUES = "All queues"
MESSAGE_LIMIT = 200
RECENT_OUTAGES = timedelta(days=7)

# Labels and formats for the message tables, shared so every page shows a column the same way.
# (A comment, not a docstring: Streamlit's "magic" would print a bare string in the page.)
COLUMNS = {
    "id": st.column_config.NumberColumn("ID", format="%d"),
    "received_at": st.column_config.DatetimeColumn("Received (UTC)", format="YYYY-MM-DD HH:mm"),
    "from": "From",
    "subject": "Subject",
    "kind": "Kind",
    "intent": "Intent",
    "confidence": st.column_config.ProgressColumn(
        "Confidence", min_value=0.0, max_value=1.0, format="%.2f"
    ),
    "action": "Action",
    "queue": "Queue",
    "status": "Status",
    "stage": "Stage",
    "reason": "Reason",
}


@st.cache_resource(show_spinner=False)
def app_settings() -> Settings:
    """Read the settings once per server process (the environment `eteam dashboard` passes)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def session_factory() -> sessionmaker[Session]:
    """Build the engine once per server process; sessions share its pool."""
    return make_session_factory(make_engine(app_settings().database_url))


def format_age(age: timedelta | None) -> str:
    """An age as a lead reads it at a glance ("3 d 4 h", "5 h 20 m", "12 m"); "—" for none."""
    if age is None:
        return "—"
    days, minutes = divmod(max(int(age.total_seconds()) // 60, 0), 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m"


def show_messages(frame: pd.DataFrame) -> None:
    """A sortable table of messages (any of the query functions' message frames)."""
    st.dataframe(frame, hide_index=True, column_config=COLUMNS)


def open_work_chart(summaries: list[queries.QueueSummary]) -> alt.Chart:
    """Open messages per queue, stacked by action, busiest queue on top."""
    data = pd.DataFrame(
        [
            {"Queue": summary.queue, "Action": action, "Open": count}
            for summary in summaries
            for action, count in summary.open_by_action.items()
        ]
    )
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("sum(Open):Q", title="Open messages", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("Queue:N", sort="-x", title=None),
            color=alt.Color("Action:N"),
            tooltip=["Queue", "Action", "Open"],
        )
    )


def queues_page(session: Session) -> None:
    """Queue depth and age for leads, then what the whole inbox holds by kind, intent and action."""
    summaries = queries.queue_summary(session, datetime.now(timezone.utc))
    ages = [s.oldest_open_age for s in summaries if s.oldest_open_age is not None]
    left, middle, right = st.columns(3)
    left.metric("Open messages", sum(summary.open for summary in summaries))
    middle.metric("Oldest open", format_age(max(ages, default=None)))
    right.metric("Queues in use", len(summaries))
    if not summaries:
        st.info("No message has been routed to a queue yet.")
    else:
        st.table(
            pd.DataFrame(
                {
                    "Queue": [summary.queue for summary in summaries],
                    "Open": [summary.open for summary in summaries],
                    "Oldest open": [format_age(summary.oldest_open_age) for summary in summaries],
                    "Open by action": [
                        ", ".join(f"{action} {n}" for action, n in summary.open_by_action.items())
                        for summary in summaries
                    ],
                    "Total": [summary.total for summary in summaries],
                }
            ),
            hide_index=True,
        )
    if ages:
        st.altair_chart(open_work_chart(summaries))

    st.subheader("All stored messages")
    breakdowns = {
        "Kind": queries.counts_by_kind(session),
        "Current intent": queries.counts_by_intent(session),
        "Action": queries.counts_by_action(session),
    }
    for column, (label, counts) in zip(st.columns(len(breakdowns)), breakdowns.items()):
        column.dataframe(
            pd.DataFrame(list(counts.items()), columns=[label, "Messages"]), hide_index=True
        )


def messages_page(session: Session) -> None:
    """The newest messages, optionally of one queue (the filter is kept in the URL)."""
    choice = st.selectbox(
        "Queue", [ALL_QUEUES, *queries.queue_names(session)], key="queue", bind="query-params"
    )
    frame = queries.recent_messages(
        session, queue=None if choice == ALL_QUEUES else choice, limit=MESSAGE_LIMIT
    )
    st.caption(f"The {len(frame)} newest messages (at most {MESSAGE_LIMIT}).")
    show_messages(frame)


def outages_page(session: Session) -> None:
    """Active outages and those restored lately, with the customer reports linked to each."""
    items = queries.outages(session, datetime.now(timezone.utc), recent=RECENT_OUTAGES)
    if not items:
        st.info(f"No active outage, and none restored in the last {RECENT_OUTAGES.days} days.")
        return
    st.caption(
        f"{sum(item.active for item in items)} active; "
        f"outages restored in the last {RECENT_OUTAGES.days} days are listed below them."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "Outage ID": [item.ref for item in items],
                "Service": [item.service for item in items],
                "Status": [item.status for item in items],
                "Areas": [", ".join(item.areas) for item in items],
                "ZIP codes": [", ".join(item.zips) for item in items],
                "Customers affected": [item.customers_affected for item in items],
                "Cause": [item.cause for item in items],
                "Started": [item.started for item in items],
                "Estimated restoration": [item.estimated_restoration for item in items],
                "Last update (UTC)": [item.updated_at for item in items],
                "Linked reports": [item.linked_messages for item in items],
            }
        ),
        hide_index=True,
    )
    by_ref = {item.ref: item for item in items}
    chosen = st.selectbox("Linked reports of", list(by_ref), key="outage")
    show_messages(
        queries.recent_messages(session, outage_id=by_ref[chosen].id, limit=MESSAGE_LIMIT)
    )


def quarantine_page(session: Session) -> None:
    """Messages the pipeline set aside, with the stage that gave up and its reason."""
    frame = queries.quarantined(session)
    if frame.empty:
        st.success("Nothing is quarantined.")
        return
    st.caption(f"{len(frame)} quarantined messages, newest first.")
    show_messages(frame)


def model_page(session: Session) -> None:
    """The active intent model beside the newest candidate, and the corrections not yet learnt."""
    registry = ModelRegistry(app_settings().var_dir / "models.json").read()
    table = queries.model_table(registry)
    if table.empty:
        st.info("No trained model is recorded yet — run `eteam train`.")
        return
    active = registry.get("active") or {}
    trained_at = active.get("trained_at")
    since = datetime.fromisoformat(trained_at) if trained_at else None
    st.metric("Agent corrections since the active model was trained", queries.corrections_since(session, since))
    st.dataframe(table, hide_index=True)
    st.caption(
        "A retrained model replaces the active one only when it is no worse on the same hold-out "
        "messages; otherwise it waits here as the candidate. Retrain with `eteam train`."
    )


PAGES: dict[str, Callable[[Session], None]] = {
    "Queues": queues_page,
    "Messages": messages_page,
    "Outages": outages_page,
    "Quarantine": quarantine_page,
    "Model": model_page,
}


def main() -> None:
    """Lay out the chosen page, or the empty state until the database holds a message."""
    st.set_page_config(page_title=TITLE, page_icon="📬", layout="wide")
    st.title(TITLE)
    page = st.sidebar.radio("Page", list(PAGES), key="page", bind="query-params")
    with session_factory()() as session:
        try:
            if not queries.has_messages(session):
                st.info(EMPTY_STATE)
                return
            st.header(page)
            PAGES[page](session)
        except DatabaseError as error:  # unreachable server, corrupt or locked file
            url = session.get_bind().url.render_as_string(hide_password=True)
            st.error(f"Cannot read the database at {url}: {error.orig}")


if __name__ == "__main__":
    main()
