"""What every `eteam` command shares: consoles, clear failures, settings, sessions, services."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session, sessionmaker

from classify.data import bundled_paths, read_many
from classify.model import MODEL_FORMAT, IntentModel
from eteam.settings import Settings
from eteam.stages import Services
from models.db import make_engine, make_session_factory
from respond.render import Renderer
from respond.routing import RoutingTable

#: Allocations between young-generation collections while mail is processed (Python's default: 700).
YOUNG_GENERATION = 10_000

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@contextmanager
def progress_counter(enabled: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    """A live counter on stderr for long runs (SPEC 8: long work shows progress).

    Yields the function to call with each batch's count, or None when printing JSON or not on
    a terminal, where a counter would only garble the output.
    """
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description} {task.completed}"), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda count: progress.advance(task, count)


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
    err_console.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code=1)


def ensure_model(settings: Settings) -> IntentModel:
    """The active model; trained from the bundled corpus when there is none yet.

    A model file of the earlier format is saved again in the current one (the same model),
    so that from then on it loads without scikit-learn: a fraction of a second, not three.
    """
    path = settings.active_model_path
    if not path.exists():
        err_console.print(f"No model at {path}: training one from the bundled corpus…")
        data = read_many(bundled_paths())
        model = IntentModel.train(data.texts, data.labels, vector_cache=settings.vector_cache)
        model.save(path)
        return model
    model = IntentModel.load(path)
    if model.file_format != MODEL_FORMAT:
        err_console.print(f"Model {model.version} at {path} is in an earlier file format: saving it in the current one.")
        model.save(path)
    return model


def build_services(settings: Settings) -> Services:
    """The pipeline's long-lived parts: the active model, routing table, renderer, clock.

    What exists once they are built lives as long as the process, so it is handed to
    `settle_collector`.
    """
    services = Services(
        settings=settings,
        model=ensure_model(settings),
        routing=RoutingTable.load(),
        renderer=Renderer(),
        clock=lambda: datetime.now(timezone.utc),
    )
    settle_collector()
    return services


def settle_collector() -> None:
    """Keep the garbage collector off what lives for the whole run, and let a batch's objects be.

    With Python's defaults, processing a backlog spent about a third of its time in the
    collector: every full collection walked the imported libraries and the model again, and
    every 700 allocations it walked the batch's messages, which live until the batch commits
    anyway. Frozen objects are never walked again (and stay shared with forked workers instead
    of being copied on write); a larger young generation walks the batch far less often.
    Memory is unchanged in practice: cycles are still collected, only later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])
