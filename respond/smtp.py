"""SMTP plumbing for the outbox: where to deliver, how to connect, and the exact message bytes.

The relay is named by one URL (`smtp://`, `smtps://`, `smtp+starttls://`) so an operator sets a
single variable; the password never sits in that URL, it is handed in separately from the
environment. `build_email` is the only place an outbox row becomes a MIME message, and it is
built so that nothing a customer wrote (subject, display name, references) can add a header:
every value is flattened with `one_line` and then stored through `email.policy.SMTP`, which
refuses any value that still holds a line break. The envelope recipient is the one parsed
address, never whatever the headers say, so even a header that looked like `Bcc:` could not
add a recipient.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from eteam.tls import untrusted, verified_context
from models import OutboundReply
from respond.outbox import one_line

TlsMode = Literal["implicit", "starttls", "none"]
SCHEMES: dict[str, tuple[TlsMode, int]] = {
    "smtp": ("none", 25),
    "smtps": ("implicit", 465),
    "smtp+starttls": ("starttls", 587),
}
DEFAULT_TIMEOUT = 30.0
#: where an operator names the relay's private CA (read by `eteam.send_command`)
CA_FILE_SETTING = "ETEAM_SMTP_CA_FILE"
ANGLE_ADDR = re.compile(r"^(?P<name>.*)<(?P<addr>[^<>]*)>\s*$")
PLAIN_ADDRESS = re.compile(r"(?=[\x21-\x7e]+\Z)[^@<>()\[\],;:\\\"]+@[^@<>()\[\],;:\\\"]+")


@dataclass(frozen=True)
class SmtpSettings:
    """The relay to deliver through; built once at the entry point from ETEAM_SMTP_URL."""

    host: str
    port: int
    tls: TlsMode = "none"
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line or traceback
    timeout: float = DEFAULT_TIMEOUT
    #: a CA certificate file (PEM) to trust for the relay besides the system's (ETEAM_SMTP_CA_FILE)
    ca_file: Path | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        password: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: Path | None = None,
    ) -> SmtpSettings:
        """Parse `smtp://HOST:PORT`, `smtps://USER@HOST:PORT` or `smtp+starttls://USER@HOST:PORT`.

        A password inside the URL is refused (URLs end up in logs and shell history), and so is
        a login over a connection without TLS, which would send the password in clear.
        """
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"SMTP URL must start with one of {', '.join(s + '://' for s in SCHEMES)}: {url!r}")
        if not parts.hostname:
            raise ValueError(f"SMTP URL has no host: {url!r}")
        if parts.password is not None:
            raise ValueError("SMTP URL must not contain a password; set ETEAM_SMTP_PASSWORD instead")
        tls, default_port = SCHEMES[parts.scheme]
        user = unquote(parts.username) if parts.username else None
        if user and tls == "none":
            raise ValueError("refusing to log in over an unencrypted connection; use smtps:// or smtp+starttls://")
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            tls=tls,
            user=user,
            password=password,
            timeout=timeout,
            ca_file=ca_file,
        )


def connect(settings: SmtpSettings, helo: str) -> smtplib.SMTP:
    """An open, greeted (and if configured, encrypted and logged-in) connection to the relay.

    `helo` is passed explicitly because smtplib's default looks up the local FQDN, which can
    stall for seconds on a host with slow DNS. The relay's certificate is verified
    (`eteam.tls`); one that does not verify raises `UntrustedServerError` naming
    ETEAM_SMTP_CA_FILE, before any password is sent.
    """
    context = verified_context(settings.ca_file)
    client: smtplib.SMTP
    try:
        if settings.tls == "implicit":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, local_hostname=helo, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, local_hostname=helo, timeout=settings.timeout)
    except ssl.SSLCertVerificationError as exc:
        raise untrusted(f"SMTP relay {settings.host}:{settings.port}", exc, CA_FILE_SETTING) from exc
    try:
        client.ehlo()
        if settings.tls == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
    except BaseException as exc:
        client.close()
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise untrusted(f"SMTP relay {settings.host}:{settings.port}", exc, CA_FILE_SETTING) from exc
        raise
    return client


def recipient(to_addr: str) -> tuple[str, str]:
    """(display name, bare address) of an outbox recipient; ValueError when there is no usable address.

    Deliberately not `email.utils.parseaddr`: its lenient grammar reads
    `Maria Bcc: victim@evil.example <maria@example.com>` as a group and returns the victim's
    address. Here the address is the last `<…>` (or the whole value), everything before it is
    display name, and the address must be one plain ASCII `local@domain`.
    """
    value = one_line(to_addr)
    angle = ANGLE_ADDR.match(value)
    name, address = (angle["name"].strip().strip('"').strip(), angle["addr"].strip()) if angle else ("", value)
    if not PLAIN_ADDRESS.fullmatch(address):
        raise ValueError(f"no usable recipient address in {to_addr!r}")
    return name, address


def build_email(
    reply: OutboundReply, from_addr: str, from_name: str, *, date: datetime | None = None
) -> EmailMessage:
    """The reply as it goes on the wire: threading headers, RFC 3834 marking, UTF-8 text body.

    `Auto-Submitted: auto-replied` (and Exchange's `X-Auto-Response-Suppress`) go only on
    replies no person approved, so other robots do not answer our robots. Raises ValueError
    when the row has no usable recipient address; the sender records that as a permanent
    failure.
    """
    name, address = recipient(reply.to_addr)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(display_name=one_line(from_name), addr_spec=from_addr)
    message["To"] = Address(display_name=name, addr_spec=address)
    message["Subject"] = one_line(reply.subject)
    message["Date"] = format_datetime(date or datetime.now(timezone.utc))
    message["Message-ID"] = one_line(reply.header_message_id)
    if reply.in_reply_to:
        message["In-Reply-To"] = one_line(reply.in_reply_to)
    if reply.references:
        message["References"] = one_line(reply.references)
    if reply.auto_submitted:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    # Quoted-printable keeps the body 7-bit clean, so any relay passes Spanish text unchanged.
    # set_content drops every Content-* header, so Content-Language is set after it.
    message.set_content(reply.body, subtype="plain", charset="utf-8", cte="quoted-printable")
    message["Content-Language"] = one_line(reply.lang)
    return message
