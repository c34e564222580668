"""The dashboard as a user meets it: a real `streamlit run` server and a real Chromium.

AppTest checks the script; this checks the rest of the path — the server starts from the command
line `eteam dashboard` uses, imports resolve when run as a script, and the page actually renders
in a browser. Screenshots land in the test's tmp_path for a look by eye.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import require
from tests.dashboard_fixtures import ACTIVE_OUTAGE, build_fixture_database

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT = 60.0

pytestmark = pytest.mark.browser


def _free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll Streamlit's health endpoint; fail with the server's log if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"streamlit did not answer within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    """Start the dashboard on the fixture inbox the way `eteam dashboard` does; always stop it."""
    require(
        CHROMIUM.exists(),
        f"{CHROMIUM} is missing; install Debian's chromium package to run browser tests",
    )
    database_url = build_fixture_database(tmp_path, now=datetime.now(timezone.utc))
    env = {key: value for key, value in os.environ.items() if key != "ETEAM_CONFIG"}
    env["ETEAM_DATABASE_URL"] = database_url
    port = _free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = tmp_path / "streamlit.log"
    with log.open("wb") as log_file:
        # cwd is the tmp dir: the app must not depend on being started from the repo root.
        server = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_dashboard_renders_queues_and_outages_in_chromium(
    dashboard_url: str, tmp_path: Path
) -> None:
    """Title, queue table and chart render; the sidebar switches to Outages and into the URL."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(dashboard_url)

            expect(page.get_by_role("heading", name="E-Team Inbox")).to_be_visible(timeout=30_000)
            queue_table = page.get_by_test_id("stTable")
            expect(queue_table.get_by_text("Field Investigation", exact=True)).to_be_visible()
            expect(queue_table.get_by_text("Billing", exact=True)).to_be_visible()
            expect(page.get_by_test_id("stVegaLiteChart")).to_be_visible()
            page.screenshot(path=tmp_path / "queues.png", full_page=True)

            page.get_by_test_id("stSidebar").get_by_text("Outages", exact=True).click()
            expect(page.get_by_role("heading", name="Outages")).to_be_visible()
            expect(page.get_by_role("combobox", name="Linked reports of")).to_have_value(
                ACTIVE_OUTAGE
            )
            # The outage table is drawn on a canvas; its accessible grid carries the cell text.
            cell = page.get_by_role("gridcell", name=ACTIVE_OUTAGE, include_hidden=True)
            expect(cell.first).to_be_attached()
            assert "page=Outages" in page.url
            page.screenshot(path=tmp_path / "outages.png", full_page=True)
        finally:
            browser.close()
