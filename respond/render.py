"""Rendering replies from Jinja2 templates in a sandbox, with the facts file as their data.

Templates are trusted files in `respond/templates/<lang>/<intent>.txt.j2`; customer text only
ever reaches them as data in the context, never as template source, so a message containing
`{{ config }}` is quoted literally. StrictUndefined turns a template's typo into an error at
test time instead of a blank in a customer's reply.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_DIR = Path(__file__).parent / "templates"
FACTS_FILE = Path(__file__).parent / "facts.toml"
LANGUAGES = ("en", "es")


class Renderer:
    """Renders one template per intent and language; reads the facts file once."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR, facts_file: Path = FACTS_FILE) -> None:
        self.environment = SandboxedEnvironment(
            loader=FileSystemLoader(template_dir),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html", "htm"]),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.facts: dict[str, Any] = tomllib.loads(facts_file.read_text(encoding="utf-8"))
        self.template_dir = template_dir

    def has_template(self, name: str, lang: str) -> bool:
        """Whether `<lang>/<name>.txt.j2` exists."""
        return (self.template_dir / lang / f"{name}.txt.j2").is_file()

    def render(
        self,
        name: str,
        lang: str,
        *,
        customer_name: str = "",
        sr_number: str | None = None,
        outage: dict[str, Any] | None = None,
        plan: dict[str, Any] | None = None,
        verified: bool = False,
    ) -> str:
        """The reply body; `lang` falls back to English when not en or es."""
        lang = lang if lang in LANGUAGES else "en"
        template = self.environment.get_template(f"{lang}/{name}.txt.j2")
        return template.render(
            customer_name=customer_name,
            sr_number=sr_number,
            facts=self.facts,
            outage=outage,
            plan=plan,
            verified=verified,
        )
