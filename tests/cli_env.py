"""Run the real `eteam` entry point in-process, with settings from the environment like a user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from eteam.cli import app


class Eteam:
    """Invokes `eteam …` with ETEAM_* variables pointing at a test database and model."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, database_url: str, model_path: Path, var_dir: Path) -> None:
        monkeypatch.delenv("ETEAM_CONFIG", raising=False)
        monkeypatch.setenv("ETEAM_DATABASE_URL", database_url)
        monkeypatch.setenv("ETEAM_MODEL_PATH", str(model_path))
        monkeypatch.setenv("ETEAM_VAR_DIR", str(var_dir))
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        """Run a command; a non-zero exit fails the test with the command's output."""
        result = self.runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, f"eteam {' '.join(args)} failed:\n{result.output}"
        return result

    def json(self, *args: str) -> Any:
        """Run a `--json` command and parse its one JSON document."""
        return json.loads(self(*args).stdout)

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        """Run a command printing one JSON object per line."""
        return [json.loads(line) for line in self(*args).stdout.splitlines() if line.strip()]
