"""One settings object for the whole product, read once at the entry point and passed down.

Values come from `ETEAM_*` environment variables, then an optional TOML file named by
`ETEAM_CONFIG`, then the defaults below (the demo, the tests and a fresh install use them).
Secrets (mailbox and SMTP passwords) are never read from the TOML file: only from the
environment or a secret file named in it.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from eteam.tls import verified_context

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_MAILBOX = PACKAGE_DIR / "demo" / "mailbox"


class MailboxSettings(BaseModel):
    """One IMAP mailbox to read; the password comes from `password_env` or `password_file`."""

    name: str
    host: str = "127.0.0.1"
    port: int = 993
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    user: str
    password_env: str = "ETEAM_IMAP_PASSWORD"
    password_file: Path | None = None
    #: a CA certificate file (PEM) to trust for this server besides the system's: for a mail
    #: server whose certificate the organisation's own CA signed
    ca_file: Path | None = None
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    kind: Literal["contact", "outage"] = "contact"
    after_store: Literal["move", "flag"] = "move"
    processed_folder: str = "Processed"
    failed_folder: str = "Failed"

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        """A password written into a config file would leak with it: refuse it."""
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "mailbox password must not be in the config file; "
                "set it in the environment (password_env) or a secret file (password_file)"
            )
        return data

    def password(self) -> str:
        """Read the secret when it is needed, so it never sits in a config file or a log."""
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        value = os.environ.get(self.password_env)
        if value is None:
            raise ValueError(
                f"mailbox {self.name!r}: no password; set {self.password_env} or password_file"
            )
        return value

    def tls_context(self) -> ssl.SSLContext:
        """How the server is verified (`eteam.tls.verified_context`); OSError if `ca_file` is unreadable."""
        return verified_context(self.ca_file)


class Settings(BaseSettings):
    """Everything configurable; see the README's Configuration section for each key."""

    model_config = SettingsConfigDict(env_prefix="ETEAM_", extra="ignore")

    database_url: str = "sqlite:///var/eteam.db"
    var_dir: Path = Path("var")
    our_domain: str = "ladwp.example"
    team_address: str = "contactus@ladwp.example"
    team_name: str = "LADWP Customer Service"
    webform_address: str = "webforms@ladwp.example"
    # more spellings of the Contact Us form's labels: canonical field -> spellings (ingest.webform)
    form_labels: dict[str, list[str]] = Field(default_factory=dict)
    outage_senders: list[str] = Field(default_factory=lambda: ["outage-desk@ladwp.example"])
    outage_require_auth: bool = True
    role_localparts: list[str] = Field(
        default_factory=lambda: ["noreply", "no-reply", "donotreply", "mailer-daemon", "postmaster"]
    )
    model_path: Path | None = None
    reply_mode: Literal["auto", "draft"] = "auto"
    draft_intents: list[str] = Field(default_factory=list)
    restoration_notices: bool = True
    ccb_endpoint_url: str | None = None
    attachment_store_limit: int = 5 * 1024 * 1024
    # processes that parse, extract and classify a backlog ahead of the database work; 0 = none
    prepare_workers: int = Field(default_factory=lambda: min(4, max(0, (os.cpu_count() or 1) - 1)), ge=0)
    mailboxes: list[MailboxSettings] = Field(default_factory=list)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501

    @field_validator("our_domain")
    @classmethod
    def _lower_domain(cls, value: str) -> str:
        return value.lower()

    @property
    def active_model_path(self) -> Path:
        """Where the active intent model lives: the setting, else `var/model.skops`."""
        return self.model_path or self.var_dir / "model.skops"

    @property
    def vector_cache(self) -> Path:
        """Where training keeps encoded word vectors, so a re-training encodes only new words."""
        return self.var_dir / "cache"

    def is_own_address(self, address: str) -> bool:
        """Every address at our domain is ours: never auto-replied to."""
        return address.lower().rsplit("@", 1)[-1] == self.our_domain

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over the TOML file named by ETEAM_CONFIG, which wins over defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("ETEAM_CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(
                    f"ETEAM_CONFIG names {path}, which does not exist; create it or unset ETEAM_CONFIG"
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; entry points call this and pass the result down."""
    return Settings(**overrides)
