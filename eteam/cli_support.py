"""What every `eteam` command shares: the consoles, clear failures, settings and sessions."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from eteam.settings import Settings
from models.db import make_engine, make_session_factory

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the entry point read once (stored on the Typer context)."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "eteam.cli.main stores the settings first"
    return settings


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    """A session factory on the configured database."""
    return make_session_factory(make_engine(settings.database_url))


def fail(message: str) -> typer.Exit:
    """Print what is wrong (and what to do) and return the exit to raise."""
    err_console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code=1)
