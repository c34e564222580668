"""Every command has help with an example and is documented in the README."""

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from eteam.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_commands_exist() -> None:
    assert {"init", "import", "process", "messages", "demo", "dashboard"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_example(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"eteam {name}" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_in_readme(name: str) -> None:
    text = README.read_text(encoding="utf-8")
    assert re.search(rf"`eteam {re.escape(name)}\b", text), f"README does not document `eteam {name}`"
