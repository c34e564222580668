"""The database schema: every table E-Team Inbox keeps, as SQLAlchemy 2.0 typed models.

One module so that Alembic autogenerate and the models-match-migrations test see the whole
schema at once. Raw message bytes are always kept so any later stage can be re-run, and
metrics come from the `Event` rows written when things happen, not from current state.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    func,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware now, so SQLite and PostgreSQL rows compare the same way."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base; its metadata is what Alembic compares against."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class MessageKind:
    """What a stored message is; the `kind` key of `eteam messages --json`."""

    CUSTOMER = "customer"
    WEBFORM = "webform"
    OUTAGE_BROADCAST = "outage_broadcast"
    AUTO = "auto"
    BOUNCE = "bounce"
    REPLY = "reply"


class MessageStatus:
    """Where a message is in the pipeline: received, then processed or quarantined."""

    RECEIVED = "received"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"


class FolderState(Base):
    """IMAP cursor per mailbox folder: fetch only UIDs above `last_uid` while UIDVALIDITY holds."""

    __tablename__ = "folder_state"
    __table_args__ = (UniqueConstraint("mailbox", "folder", name="uq_folder_state_mailbox_folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    """One inbound message, stored exactly once (by Message-ID, else content hash)."""

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_status", "status"), Index("ix_message_queue", "queue"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(500), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(320), default="")
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    new_text: Mapped[str] = mapped_column(Text, default="")
    form_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    kind: Mapped[str] = mapped_column(String(32), default="")
    lang: Mapped[str] = mapped_column(String(8), default="")
    status: Mapped[str] = mapped_column(String(32), default=MessageStatus.RECEIVED)
    action: Mapped[str | None] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    quarantine_stage: Mapped[str | None] = mapped_column(String(64))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    account_number: Mapped[str | None] = mapped_column(String(10))
    zip: Mapped[str | None] = mapped_column(String(10))
    pii: Mapped[list[Any]] = mapped_column(JSON, default=list)
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    service_request_id: Mapped[int | None] = mapped_column(ForeignKey("service_request.id"))
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outage.id"))

    attachments: Mapped[list[Attachment]] = relationship(back_populates="message")
    classifications: Mapped[list[Classification]] = relationship(
        back_populates="message", order_by="Classification.id"
    )
    service_request: Mapped[ServiceRequest | None] = relationship(foreign_keys=[service_request_id])
    outage: Mapped[Outage | None] = relationship(foreign_keys=[outage_id])


class Attachment(Base):
    """An attachment's metadata; its bytes are kept up to a size limit (the raw message has all)."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)

    message: Mapped[Message] = relationship(back_populates="attachments")


class Classification(Base):
    """One model verdict on a message; the newest row is current, older rows are history."""

    __tablename__ = "classification"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    intent: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    runners_up: Mapped[list[Any]] = mapped_column(JSON, default=list)
    model_version: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16), default="model")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    message: Mapped[Message] = relationship(back_populates="classifications")


class Correction(Base):
    """An agent's reclassification; `eteam train` learns from these."""

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    old_intent: Mapped[str | None] = mapped_column(String(64))
    new_intent: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServiceRequest(Base):
    """A case, as Customer Connect keeps them: `YYMMDD-NNNNNN`, a status, a queue and a thread."""

    __tablename__ = "service_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(13), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="Unresolved")
    intent: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    customer_email: Mapped[str] = mapped_column(String(320), default="")
    customer_name: Mapped[str] = mapped_column(String(320), default="")
    account_number: Mapped[str | None] = mapped_column(String(10))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    solved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    entries: Mapped[list[ThreadEntry]] = relationship(
        back_populates="service_request", order_by="ThreadEntry.id"
    )


class SrCounter(Base):
    """Per-day counter behind SR numbers; one row per day, incremented under a row lock."""

    __tablename__ = "sr_counter"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ThreadEntry(Base):
    """One entry of a case's thread: customer message, agent or rule response, private note."""

    __tablename__ = "thread_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(ForeignKey("service_request.id"), index=True)
    entry_type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    author: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    service_request: Mapped[ServiceRequest] = relationship(back_populates="entries")


class CcbNote(Base):
    """A one-line note for the billing system, waiting in the CCB outbox until exported or posted."""

    __tablename__ = "ccb_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int | None] = mapped_column(ForeignKey("service_request.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    note_type: Mapped[str] = mapped_column(String(32))
    account_number: Mapped[str | None] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    service_request: Mapped[ServiceRequest | None] = relationship(foreign_keys=[service_request_id])


class OutboundReply(Base):
    """The outbox: a reply is committed here before any attempt to send it."""

    __tablename__ = "outbound_reply"
    __table_args__ = (
        Index("ix_outbound_reply_status", "status"),
        # loop protection looks replies up by recipient, case-insensitively, for every reply
        Index("ix_outbound_reply_to_addr_lower", func.lower(Column("to_addr"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)
    service_request_id: Mapped[int | None] = mapped_column(ForeignKey("service_request.id"))
    header_message_id: Mapped[str] = mapped_column(String(300), unique=True)
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(100))
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    service_request: Mapped[ServiceRequest | None] = relationship(foreign_keys=[service_request_id])


class Outage(Base):
    """An outage as the outage desk broadcasts it; updated in place by its Outage ID."""

    __tablename__ = "outage"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_ref: Mapped[str] = mapped_column(String(64), unique=True)
    service: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(16), default="Active")
    areas: Mapped[list[Any]] = mapped_column(JSON, default=list)
    zips: Mapped[list[Any]] = mapped_column(JSON, default=list)
    customers_affected: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(Text, default="")
    started: Mapped[str] = mapped_column(String(64), default="")
    estimated_restoration: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    restored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """Something that happened (received, classified, replied, SR opened…), for metrics."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    service_request_id: Mapped[int | None] = mapped_column(ForeignKey("service_request.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    service_request: Mapped[ServiceRequest | None] = relationship(foreign_keys=[service_request_id])

    def __init__(self, **fields: Any) -> None:
        """An event stamped when it happens, not when it is written.

        Every event then reaches the flush with the same columns set, which lets a batch's
        events go out in one multi-row INSERT instead of one statement per change of shape.
        """
        fields.setdefault("data", {})
        fields.setdefault("at", utcnow())
        super().__init__(**fields)

    @staticmethod
    def row(kind: str, *, message_id: int | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The same event as a plain row, for writing many at once with one INSERT."""
        return {
            "kind": kind, "message_id": message_id, "service_request_id": None, "user_id": None,
            "data": data or {}, "at": utcnow(),
        }


class User(Base):
    """A dashboard user: agent, lead or manager; passwords only as argon2 hashes."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="agent")
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
