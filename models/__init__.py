"""Data model and database access: typed SQLAlchemy models, the engine/session factory, migrations.

Nothing here opens a connection at import time; callers build an engine from settings with
`models.db.make_engine` and pass sessions down.
"""

from models.schema import (
    Attachment,
    Base,
    CcbNote,
    Classification,
    Correction,
    Event,
    FolderState,
    Message,
    MessageKind,
    MessageStatus,
    OutboundReply,
    Outage,
    ServiceRequest,
    SrCounter,
    ThreadEntry,
    User,
)

__all__ = [
    "Attachment",
    "Base",
    "CcbNote",
    "Classification",
    "Correction",
    "Event",
    "FolderState",
    "Message",
    "MessageKind",
    "MessageStatus",
    "OutboundReply",
    "Outage",
    "ServiceRequest",
    "SrCounter",
    "ThreadEntry",
    "User",
]
