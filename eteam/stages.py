"""The processing steps, one small unit each with a `name` and one `run` method.

As in GNU Mailman's handler chain, each step does one thing to a `WorkItem` and the order of
steps is data (`eteam.pipeline.DEFAULT_STAGES`). A step that raises makes the runner
quarantine the message with the step's name; the run goes on. Steps live here, in the wiring
package, because each joins the work of one package (ingest, classify, respond) to the stored
message; the packages themselves stay free of pipeline concerns.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from classify.extract import Facts, extract_facts, mask_pii, pii_spans
from classify.model import IntentModel, Prediction
from eteam.prepare import Preparable
from eteam.settings import Settings
from ingest.parse import ParsedMessage, parse_message
from models import (
    Attachment,
    Base,
    CcbNote,
    Classification,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    OutboundReply,
    Outage,
    ServiceRequest,
    ThreadEntry,
)
from respond.cases import LOS_ANGELES, CaseNumbers, entry_values, open_service_request
from respond.ccb import note_text, note_values
from respond.loop_guard import QueueGuard
from respond.outages import (
    active_outages,
    find_active_outage,
    outage_context,
    record_broadcast,
    restoration_recipients,
)
from respond.outbox import OUR_MESSAGE_ID_PREFIX, reply_event, reply_values
from respond.payment_plan import money_value, payment_plan
from respond.render import Renderer
from respond.routing import Decision, RouteFacts, RoutingTable

SR_SUBJECT_RE = re.compile(r"\[SR (\d{6}-\d{6})\]")
UNCLASSIFIED_KINDS = frozenset({MessageKind.AUTO, MessageKind.BOUNCE, MessageKind.OUTAGE_BROADCAST})


@dataclass(eq=False)
class ClaimedMessage:
    """A stored message while the steps work on it: the row's columns as plain attributes.

    The steps set two dozen columns of every message; an ORM object would track each
    assignment, lazily load its links and compare every column at the flush, which cost about
    a third of writing a batch. A message is claimed only while `received`, that is as the
    importer stored it, so every column the steps may set still holds its default: the copy
    starts from those defaults (a test holds them to the model's) and is written whole with
    one executemany UPDATE per batch (`Batch.save`). `service_request` and `outage` hold the
    case and outage it is linked to, whose ids a new case gets only at the flush.
    """

    id: int
    message_id: str
    created_at: datetime
    raw: bytes = b""
    status: str = MessageStatus.RECEIVED
    headers: dict[str, Any] = field(default_factory=dict)
    from_addr: str = ""
    from_name: str = ""
    reply_to: str = ""
    subject: str = ""
    text: str = ""
    new_text: str = ""
    form_fields: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    lang: str = ""
    action: str | None = None
    queue: str | None = None
    rule: str | None = None
    reason: str | None = None
    quarantine_stage: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    account_number: str | None = None
    zip: str | None = None
    pii: list[Any] = field(default_factory=list)
    in_reply_to: str = ""
    references: str = ""
    received_at: datetime | None = None
    service_request: ServiceRequest | None = None
    outage: Outage | None = None

    def fresh(self) -> ClaimedMessage:
        """The message as claimed, before any step touched it (for a retry after a rollback)."""
        return ClaimedMessage(id=self.id, message_id=self.message_id, created_at=self.created_at, raw=self.raw)

    def values(self) -> dict[str, Any]:
        """The columns to write, keyed for `WRITE_MESSAGE` (`message_pk` names the row)."""
        values = {name: getattr(self, name) for name in WRITTEN_COLUMNS}
        values["message_pk"] = self.id
        values["service_request_id"] = self.service_request.id if self.service_request is not None else None
        values["outage_id"] = self.outage.id if self.outage is not None else None
        return values


#: What the steps may set on a message; the rest (id, Message-ID, hash, source, raw bytes,
#: arrival time) is the importer's and never rewritten.
WRITTEN_COLUMNS: tuple[str, ...] = tuple(
    name for name in ClaimedMessage.__dataclass_fields__
    if name not in ("id", "message_id", "created_at", "raw", "service_request", "outage")
)
WRITE_MESSAGE = (
    update(Message.__table__)
    .where(Message.__table__.c.id == bindparam("message_pk"))
    .values({name: bindparam(name) for name in (*WRITTEN_COLUMNS, "service_request_id", "outage_id")})
)


def write_messages(session: Session, messages: Sequence[ClaimedMessage]) -> None:
    """Save what the steps set on these messages, in one executemany UPDATE."""
    if messages:
        session.connection().execute(WRITE_MESSAGE, [message.values() for message in messages])


def customer_name(message: Message | ClaimedMessage) -> str:
    """The name to greet: the web form's First and Last Name, else the From display name."""
    fields = message.form_fields or {}
    name = " ".join(filter(None, [fields.get("First Name", ""), fields.get("Last Name", "")]))
    return (name or message.from_name or "").strip()


@dataclass
class Services:
    """Long-lived things the steps share: settings, the model, routing table and renderer."""

    settings: Settings
    model: IntentModel
    routing: RoutingTable
    renderer: Renderer
    clock: Callable[[], datetime]


class Batch:
    """What the messages written together share until they are written.

    The runner makes one per batch it tries to write at once, and a fresh one for each message
    it retries alone, so nothing learnt from work that was rolled back survives it.
    """

    def __init__(self, items: Sequence[Preparable] = ()) -> None:
        self._size = len(items)
        self._likely_recipients = [item.parsed.reply_to for item in items if item.parsed is not None]
        self._guard: QueueGuard | None = None
        self._case_numbers: CaseNumbers | None = None
        self._outages: list[Outage] | None = None
        self._rows: defaultdict[type[Base], list[tuple[dict[str, Any], ServiceRequest | None]]] = defaultdict(list)
        self._done: list[ClaimedMessage] = []

    def guard(self, session: Session, services: Services) -> QueueGuard:
        """Loop protection for the replies this batch queues, made when the first one is."""
        if self._guard is None:
            self._guard = QueueGuard(session, services.settings, services.clock(), self._likely_recipients)
        return self._guard

    def case_numbers(self, session: Session) -> CaseNumbers:
        """Case numbers reserved for the batch (a message opens at most one case)."""
        if self._case_numbers is None:
            self._case_numbers = CaseNumbers(session, self._size)
        return self._case_numbers

    def active_outages(self, session: Session) -> list[Outage]:
        """The outages not yet restored, read once for the batch (again after `forget_outages`)."""
        if self._outages is None:
            self._outages = active_outages(session)
        return self._outages

    def forget_outages(self) -> None:
        """A broadcast opened an outage: read the active ones again when next asked."""
        self._outages = None

    def record(self, entity: type[Base], row: dict[str, Any], *, case: ServiceRequest | None = None) -> None:
        """Keep a row that nothing reads back before the commit (an event, an entry, a reply).

        Building an ORM object costs more than the rest of such a row's work; `save` writes
        the rows of one kind together in one multi-row INSERT. A row of a `case` opened in this
        batch gets the case's id then, once the case has one.
        """
        self._rows[entity].append((row, case))

    def done(self, message: ClaimedMessage) -> None:
        """Every step has run on `message`: write it with the batch's next `save`."""
        self._done.append(message)

    def save(self, session: Session) -> None:
        """Write what the batch has so far: the session's objects, the finished messages, the rows.

        Steps that must see the batch's own work in a query (restoration notices, bounces)
        call this first; the runner calls `close`. The flush comes first because a message
        may link to a case that gets its id there.
        """
        session.flush()
        write_messages(session, self._done)
        self._done.clear()
        connection = session.connection()
        for entity, entries in self._rows.items():
            rows = [row if case is None else {**row, "service_request_id": case.id} for row, case in entries]
            connection.execute(insert(entity.__table__), rows)  # type: ignore[arg-type]
        self._rows.clear()

    def close(self, session: Session) -> None:
        """Before the batch commits: save everything, give back the case numbers it did not use."""
        self.save(session)
        if self._case_numbers is not None:
            self._case_numbers.release()


@dataclass
class WorkItem:
    """One message passing through the steps, with what earlier steps learned about it."""

    session: Session
    message: ClaimedMessage
    batch: Batch = field(default_factory=Batch)
    parsed: ParsedMessage | None = None
    facts: Facts | None = None
    prediction: Prediction | None = None
    decision: Decision | None = None
    failure: tuple[str, Exception] | None = None

    @property
    def raw(self) -> bytes:
        """The message as it arrived, for the steps that read it."""
        return self.message.raw


def queue_reply(
    item: WorkItem,
    services: Services,
    message: Message | ClaimedMessage,
    *,
    body: str,
    template: str,
    request: ServiceRequest | None,
    send_now: bool,
) -> None:
    """Put a reply in the outbox, unless loop protection vetoes it before anyone can send it.

    A vetoed reply stays in the outbox as `suppressed` with its reason, and the case history
    says why the customer was not answered.
    """
    settings = services.settings
    reply = reply_values(
        message,
        body=body,
        template=template,
        lang=message.lang if message.lang in ("en", "es") else "en",
        domain=settings.our_domain,
        sr_number=request.number if request else None,
        send_now=send_now,
    )
    reason = item.batch.guard(item.session, services).refusal(
        reply["to_addr"], request, automatic=reply["auto_submitted"]
    )
    if reason:
        reply["status"] = "suppressed"
        reply["reason"] = reason
        if request is not None:
            record_entry(item, request, "private_note", f"Reply not sent: {reason}")
    item.batch.record(OutboundReply, reply, case=request)
    item.batch.record(Event, reply_event(reply))


def record_entry(
    item: WorkItem, request: ServiceRequest, entry_type: str, body: str, *, message_id: int | None = None
) -> None:
    """Append to the case's thread as a row of the batch (see `respond.cases.entry_values`)."""
    item.batch.record(ThreadEntry, entry_values(entry_type, body, message_id=message_id), case=request)


class Stage(Protocol):
    """A processing step.

    A step may also define `prepare(items)`: work that needs no database (parsing, extraction,
    the model), done for a whole batch at once because a model call costs far less per message
    in bulk, and possibly in another process (`eteam.prepare`), so it may only fill the item's
    `parsed`, `facts`, `prediction` and `failure`. `run` then finds the result on the item;
    without `prepare`, `run` does it alone.
    """

    name: str

    def run(self, item: WorkItem) -> None:
        """Do this step's one job on the item, or raise to quarantine it."""


class ParseStage:
    """Understand the raw MIME: kind, text, new text, form fields, outage notice, bounce."""

    name = "parse"

    def __init__(self, services: Services) -> None:
        self.services = services

    def prepare(self, items: Sequence[Preparable]) -> None:
        """Parse every message of the batch (pure work, no database)."""
        for item in items:
            item.parsed = parse_message(item.raw, self.services.settings)

    def run(self, item: WorkItem) -> None:
        """Fill the message's parsed fields and record attachments, outages and bounces."""
        if item.parsed is None:
            self.prepare([item])
        parsed = item.parsed
        assert parsed is not None
        message = item.message
        message.headers = parsed.headers
        message.from_addr = parsed.from_addr
        message.from_name = parsed.from_name
        message.reply_to = parsed.reply_to
        message.subject = parsed.subject
        message.text = parsed.text
        message.new_text = parsed.new_text
        message.form_fields = parsed.form_fields
        message.kind = parsed.kind
        message.in_reply_to = parsed.in_reply_to
        message.references = " ".join(parsed.references)
        message.received_at = parsed.date or message.created_at
        message.reason = parsed.auto_reason or None
        item.session.add_all(
            Attachment(
                message_id=message.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                content=a.content,
            )
            for a in parsed.attachments
        )
        if parsed.outage is not None:
            outage = record_broadcast(item.session, parsed.outage, self.services.clock())
            item.batch.forget_outages()
            message.outage = outage
            if outage.status == "Restored" and self.services.settings.restoration_notices:
                self._notify_restoration(item, outage)
        if parsed.bounce is not None and parsed.bounce.original_message_ids:
            self._mark_bounced(item, parsed)

    def _notify_restoration(self, item: WorkItem, outage: Outage) -> None:
        """Queue one restoration notice for each customer linked to the outage."""
        settings = self.services.settings
        context = outage_context(outage)
        item.batch.save(item.session)  # reports linked earlier in this batch are customers too
        for report in restoration_recipients(item.session, outage):
            body = self.services.renderer.render(
                "restoration_notice", report.lang, customer_name=customer_name(report), outage=context
            )
            queue_reply(
                item,
                self.services,
                report,
                body=body,
                template="restoration_notice",
                request=report.service_request,
                send_now=settings.reply_mode == "auto",
            )

    def _mark_bounced(self, item: WorkItem, parsed: ParsedMessage) -> None:
        assert parsed.bounce is not None
        replies = item.session.scalars(
            select(OutboundReply).where(
                OutboundReply.header_message_id.in_(parsed.bounce.original_message_ids)
            )
        )
        for reply in replies:
            reply.status = "bounced"
            reply.reason = f"{'hard' if parsed.bounce.hard else 'soft'} bounce {parsed.bounce.status}"
            item.batch.save(item.session)  # later messages of this batch must not be answered at a dead address
            item.batch.guard(item.session, self.services).forget(reply.to_addr)


class ThreadStage:
    """Join a customer's reply to its case: our Message-ID first, then the SR number."""

    name = "thread"

    def run(self, item: WorkItem) -> None:
        """Link the message to the case it answers and mark the case Updated."""
        message = item.message
        if message.kind not in (MessageKind.CUSTOMER, MessageKind.WEBFORM):
            return
        request = self._by_message_id(item) or self._by_subject(item)
        if request is None:
            return
        message.kind = MessageKind.REPLY
        message.service_request = request
        if request.status != "Solved":
            request.status = "Updated"
        record_entry(item, request, "customer_message", mask_pii(message.new_text), message_id=message.id)

    @staticmethod
    def _by_message_id(item: WorkItem) -> ServiceRequest | None:
        candidates = [item.message.in_reply_to, *reversed(item.message.references.split())]
        for candidate in (c for c in candidates if c and c.startswith(OUR_MESSAGE_ID_PREFIX)):
            reply = item.session.scalar(
                select(OutboundReply).where(OutboundReply.header_message_id == candidate)
            )
            if reply is not None and reply.service_request_id is not None:
                return item.session.get(ServiceRequest, reply.service_request_id)
        return None

    @staticmethod
    def _by_subject(item: WorkItem) -> ServiceRequest | None:
        match = SR_SUBJECT_RE.search(item.message.subject)
        if not match:
            return None
        request = item.session.scalar(select(ServiceRequest).where(ServiceRequest.number == match.group(1)))
        sender = (item.message.reply_to or item.message.from_addr).lower()
        if request is not None and request.customer_email.lower() == sender:
            return request
        return None


class ExtractStage:
    """Facts, PII kinds and language; web-form fields win over what the text suggests."""

    name = "extract"

    def prepare(self, items: Sequence[Preparable]) -> None:
        """Extract the batch's facts from the parsed text (pure work, no database)."""
        for item in items:
            if item.parsed is not None:
                item.facts = self._facts(item.parsed.new_text, item.parsed.text, item.parsed.form_fields,
                                         item.parsed.preferred_lang)

    @staticmethod
    def _facts(new_text: str, text: str, fields: dict[str, str], preferred_lang: str | None) -> Facts:
        facts = extract_facts(new_text or text)
        if text != new_text:
            facts.pii = sorted(pii_spans(text))  # PII in quoted history must be flagged too
        account = re.sub(r"\D", "", fields.get("Account Number", ""))
        if len(account) == 10:
            facts.account_number = account
        zip_field = re.sub(r"\D", "", fields.get("ZIP", ""))[:5]
        if len(zip_field) == 5:
            facts.zip = zip_field
        if fields.get("Service Address"):
            facts.service_address = fields["Service Address"]
        if preferred_lang:
            facts.lang = preferred_lang
        return facts

    def run(self, item: WorkItem) -> None:
        """Store the facts the router, templates and CCB notes need."""
        message = item.message
        if item.facts is None:
            item.facts = self._facts(
                message.new_text, message.text, message.form_fields or {},
                item.parsed.preferred_lang if item.parsed else None,
            )
        facts = item.facts
        message.account_number = facts.account_number
        message.zip = facts.zip
        message.pii = facts.pii
        message.lang = facts.lang
        message.facts = facts.as_json()


class ClassifyStage:
    """The intent model's verdict on the new text, kept with its runners-up and model version."""

    name = "classify"

    def __init__(self, services: Services) -> None:
        self.services = services

    @staticmethod
    def _wanted(item: Preparable) -> bool:
        return item.parsed is not None and item.parsed.kind not in UNCLASSIFIED_KINDS

    @staticmethod
    def _text(parsed: ParsedMessage) -> str:
        return parsed.new_text or parsed.text or parsed.subject

    def prepare(self, items: Sequence[Preparable]) -> None:
        """One model call for the whole batch: per-call overhead dwarfs per-message cost."""
        wanted = [item for item in items if self._wanted(item)]
        predictions = self.services.model.predict_many(
            [self._text(item.parsed) for item in wanted],  # type: ignore[arg-type]
            topics=[item.parsed.topic for item in wanted],  # type: ignore[union-attr]
        )
        for item, prediction in zip(wanted, predictions, strict=True):
            item.prediction = prediction

    def run(self, item: WorkItem) -> None:
        """Classify customer mail; automatic mail and broadcasts are not classified."""
        message = item.message
        if message.kind in UNCLASSIFIED_KINDS:
            return
        if item.prediction is None:
            item.prediction = self.services.model.predict(
                message.new_text or message.text or message.subject,
                topic=(message.form_fields or {}).get("Topic"),
            )
        prediction = item.prediction
        event = Event.row("classified", message_id=message.id, data={"intent": prediction.intent})
        item.batch.record(
            Classification,
            {
                "message_id": message.id,
                "intent": prediction.intent,
                "confidence": prediction.confidence,
                "runners_up": [list(pair) for pair in prediction.runners_up],
                "model_version": self.services.model.version,
                "source": "model",
                "created_at": event["at"],
            },
        )
        item.batch.record(Event, event)


class RouteStage:
    """Apply the routing table and record which rule fired and why."""

    name = "route"

    def __init__(self, services: Services) -> None:
        self.services = services

    def run(self, item: WorkItem) -> None:
        """Decide the action and queue; outage reports are checked against active outages."""
        message = item.message
        prediction = item.prediction
        intent = prediction.intent if prediction else None
        outage = None
        if intent == "outage":
            outage = find_active_outage(
                item.batch.active_outages(item.session), zip_code=message.zip, text=message.new_text
            )
        facts = RouteFacts(
            kind=message.kind,
            intent=intent,
            below_threshold=bool(prediction and not prediction.above_threshold),
            in_active_outage=outage is not None,
        )
        decision = self.services.routing.decide(facts)
        if decision.queue is None and message.service_request is not None:
            decision = Decision(
                decision.action, message.service_request.queue, decision.rule, decision.reason, decision.handling
            )
        item.decision = decision
        message.action = decision.action
        message.queue = decision.queue
        message.rule = decision.rule
        why = message.reason if message.kind in UNCLASSIFIED_KINDS and message.reason else decision.reason
        message.reason = f"{decision.rule}: {why}"
        if decision.action == "outage_link" and outage is not None:
            message.outage = outage
            item.batch.record(Event, Event.row("outage_linked", message_id=message.id))


class RespondStage:
    """Carry out the decision: open the case, draft or queue the reply, draft the CCB note."""

    name = "respond"

    def __init__(self, services: Services) -> None:
        self.services = services

    def run(self, item: WorkItem) -> None:
        """Act on the routing decision; automatic mail and triage get nothing sent."""
        decision = item.decision
        message = item.message
        if decision is None or decision.handling is None or item.prediction is None:
            return
        if message.kind == MessageKind.REPLY:
            return  # the case's agent answers a customer who wrote again
        if decision.action not in ("auto_reply", "service_request", "human", "outage_link"):
            return
        intent = item.prediction.intent
        handling = decision.handling
        request = message.service_request
        if decision.action == "service_request" and request is None:
            request = open_service_request(
                item.session,
                intent=intent,
                queue=decision.queue or handling.queue,
                customer_email=message.reply_to or message.from_addr,
                customer_name=customer_name(message),
                account_number=message.account_number,
                urgent=handling.urgent or bool(item.facts and item.facts.urgency),
                now=self.services.clock(),
                numbers=item.batch.case_numbers(item.session),
            )
            message.service_request = request
            record_entry(item, request, "customer_message", mask_pii(message.new_text), message_id=message.id)
        if handling.reply != "none":
            self._reply(item, intent, handling.reply, request)
        if handling.ccb != "none":
            note = note_values(
                note_type=handling.ccb,
                text=note_text(
                    sr_number=request.number if request else None,
                    customer_name=customer_name(message),
                    verified=False,
                    issue=intent.replace("_", " "),
                    action=self._action_words(decision),
                    next_step=f"{decision.queue} queue",
                ),
                account_number=message.account_number,
                message_id=message.id,
            )
            item.batch.record(CcbNote, note, case=request)

    def _reply(self, item: WorkItem, intent: str, mode: str, request: ServiceRequest | None) -> None:
        settings = self.services.settings
        message = item.message
        outage = message.outage if item.decision and item.decision.action == "outage_link" else None
        body = self.services.renderer.render(
            intent,
            message.lang,
            customer_name=customer_name(message),
            sr_number=request.number if request else None,
            outage=outage_context(outage) if outage else None,
            plan=self._plan(item) if intent == "payment_arrangement" else None,
        )
        send_now = (
            mode == "auto" and settings.reply_mode == "auto" and intent not in settings.draft_intents
        )
        queue_reply(
            item,
            self.services,
            message,
            body=body,
            template=intent,
            request=request,
            send_now=send_now,
        )
        if request is not None:
            record_entry(item, request, "rule_response", body)

    def _plan(self, item: WorkItem) -> dict[str, Any] | None:
        """An Option 1 plan example for the largest amount the customer mentions, if any.

        The template presents it as an example to an unverified sender: the amount is the
        customer's own figure, not a balance we looked up.
        """
        if item.facts is None:
            return None
        amounts = [money_value(text) for text in item.facts.amounts]
        balance = max((a for a in amounts if a is not None), default=None)
        if balance is None:
            return None
        today = self.services.clock().astimezone(LOS_ANGELES).date()
        return payment_plan(balance, 1, today).as_template_context()

    @staticmethod
    def _action_words(decision: Decision) -> str:
        return {
            "auto_reply": "emailed standard reply",
            "service_request": "SR opened, acknowledgement emailed",
            "human": "routed to agent",
            "outage_link": "linked to active outage, ETR emailed",
        }[decision.action]
