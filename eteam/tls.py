"""TLS as the IMAP reader and the SMTP sender both do it: verified, with an optional private CA.

A utility's own mail servers often carry certificates that its internal CA signed. Turning
verification off for them would hand the mailbox password to anyone on the path, so instead
the operator names that CA's certificate file, trusted beside the system's CAs, and a server
that still does not verify is refused with a message that says which setting to use.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class UntrustedServerError(OSError):
    """The server's TLS certificate did not verify; the message says what to configure.

    An OSError like the other connection failures, so loops that retry a server that went
    away (the IMAP watch, the sender's backoff) treat it the same way instead of dying.
    """


def verified_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """The system's CAs plus `ca_file`'s; certificate and host name checked.

    Raises OSError (ssl.SSLError included) when `ca_file` cannot be read as PEM.
    """
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def untrusted(server: str, exc: ssl.SSLCertVerificationError, setting: str) -> UntrustedServerError:
    """The error for a server whose certificate failed verification, naming the setting to fix it."""
    return UntrustedServerError(
        f"{server}: the server's TLS certificate is not trusted ({exc.verify_message or exc}); if your "
        f"organisation's own CA signed it, set {setting} to that CA's certificate file (PEM)"
    )
