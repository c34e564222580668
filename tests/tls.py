"""A private CA and a server certificate it signed for 127.0.0.1, for the TLS tests of IMAP and SMTP.

A utility's own mail servers often carry certificates from the organisation's CA, which the
product trusts through a CA file it is given (`ca_file`, `ETEAM_SMTP_CA_FILE`). The tests do
the same with a CA made for them by `openssl` (a dependency of Dovecot's package, so present
wherever the IMAP tests run): nothing is trusted system-wide, and nothing is mocked.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestCertificates:
    """The files: the CA's certificate (what clients trust) and the server's certificate and key."""

    __test__ = False  # not a test class, whatever its name

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate (for aiosmtpd)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_test_certificates(directory: Path) -> TestCertificates:
    """Create the CA and a certificate for IP 127.0.0.1 in `directory` (created), valid two days."""
    directory.mkdir(parents=True)
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        encoding="utf-8",
    )
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec_key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=E-Team test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec_key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
    ):
        subprocess.run(["openssl", *command], cwd=directory, check=True, capture_output=True, timeout=30)
    return TestCertificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
