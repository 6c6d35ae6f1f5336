"""The dashboard in a real browser: `spotify-bulk dashboard` in a subprocess, Debian's headless Chromium
through Playwright, a demo-loaded warehouse, then more data loaded and built while the page is open.

The screenshot goes to a temporary file; `UPDATE_SCREENSHOT=1` rewrites the committed `docs/dashboard.png`.
Chromium missing is a skip naming the install command on a developer's machine, and a failure under
`CI=true` (`.ci/run` installs it); see `dash_kit.require_chromium`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from pipeline.dashboard import queries
from pipeline.layout import Layout
from pipeline.warehouse.build import build_warehouse
from tests.kits import dashboard as dash_kit
from tests.kits.dashboard import MORE_DAY, land, require_chromium, warehouse
from tests.kits.risk import labelled_lake, labels_of

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART = "[data-testid='stVegaLiteChart']"
TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the dashboard did not answer within 60 s:\n{log.read_text()}")


@contextmanager
def _serve(data_dir: Path, tmp_path: Path) -> Iterator[str]:
    """`spotify-bulk dashboard` over `data_dir` on a free loopback port; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "SPOTIFY_BULK_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "dashboard.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli.main", "dashboard", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def dashboard(demo_dir, copy_of, tmp_path) -> Iterator[tuple[str, Path]]:
    """The CLI's dashboard on a free loopback port over a private copy of the demo warehouse."""
    data_dir = copy_of(demo_dir)
    with _serve(data_dir, tmp_path) as url:
        yield url, data_dir


def _top_track_names(data_dir: Path, count: int) -> list[str]:
    con = warehouse(data_dir)
    try:
        filters = queries.filter_options(con).default_filters()
        return queries.top_tracks(con, filters, limit=count)["track_name"].to_list()
    finally:
        con.close()


def _cell(page: Page, text: str) -> Locator:
    """A table cell showing exactly `text` (tables draw on a canvas; their cells are mirrored in the
    DOM for accessibility, which is what this finds)."""
    return (
        page.locator("[data-testid='stDataFrame'] td")
        .filter(has_text=re.compile(f"^{re.escape(text)}$"))
        .first
    )


def _wait_rendered(page: Page, top_track: str) -> None:
    """Charts drawn, the top-tracks table filled, and the script run finished."""
    expect(page.get_by_role("heading", name="Top tracks")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(f"{CHART} canvas, {CHART} svg").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(_cell(page, top_track)).to_be_attached(timeout=TIMEOUT_MS)
    expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)  # let the charts finish drawing before anything is read or shot


def _assert_no_error(page: Page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    text = page.locator("body").inner_text()
    for word in ("Traceback", "Error", "Exception", "rebuilt while this page"):
        assert word not in text, text[:2000]


def _load_more_and_build(emulator, data_dir: Path) -> None:
    layout = Layout(data_dir)
    land(emulator, layout, [MORE_DAY])
    result = build_warehouse(layout)
    assert result.passed, result.failed_checks


@pytest.fixture
def chromium() -> Path:
    return require_chromium()


def test_the_dashboard_in_headless_chromium(chromium, dashboard, emulator, tmp_path):
    url, data_dir = dashboard
    names = _top_track_names(data_dir, 5)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            _wait_rendered(page, names[0])
            assert page.locator(CHART).count() == 7
            for name in names:  # the top-tracks table shows real track names, in order
                expect(_cell(page, name)).to_be_attached()
            expect(page.get_by_text("Streams on Jun 13")).to_be_visible()
            _assert_no_error(page)
            shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
            page.screenshot(path=str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

            # A new day is loaded and published while the page is open (in another thread: the
            # loader runs its own event loop); a refresh then shows it, without an error.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(_load_more_and_build, emulator, data_dir).result()
            page.reload()
            _wait_rendered(page, _top_track_names(data_dir, 1)[0])
            expect(page.get_by_text("Streams on Jun 14")).to_be_visible()
            _assert_no_error(page)
        finally:
            browser.close()


def test_the_artificial_streaming_section_in_headless_chromium(chromium, tmp_path):
    """A labelled warehouse (a normal day, then one with farms): the flagged tracks, their charts and
    the listeners behind them, as pseudonyms, in the "Artificial streaming" section."""
    layout = Layout(tmp_path / "data")
    plan = labelled_lake(layout, tmp_path / "gen", date(2026, 6, 1), days=2, fraud_days=1, rows=3000)
    result = build_warehouse(layout)
    assert result.passed, result.failed_checks
    bots = next(label for label in labels_of(date(2026, 6, 2), 3000, plan) if label.pattern == "bot_farm")
    with _serve(layout.data_dir, tmp_path) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            heading = page.get_by_role("heading", name="Artificial streaming")
            expect(heading).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=TIMEOUT_MS)
            heading.scroll_into_view_if_needed()
            expect(_cell(page, bots.track_ids[0])).to_be_attached(timeout=TIMEOUT_MS)
            expect(page.get_by_text("Artificial share").first).to_be_attached()
            page.get_by_text("Suspicious listeners").click()
            pseudonym = page.locator("[data-testid='stDataFrame'] td").filter(
                has_text=re.compile(r"^L[0-9a-f]{16}$")
            )
            expect(pseudonym.first).to_be_attached(timeout=TIMEOUT_MS)
            body = page.locator("body").inner_text()
            assert not any(user in body for user in bots.user_ids)
            _assert_no_error(page)
        finally:
            browser.close()


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_browser_skips_locally_and_fails_in_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(dash_kit, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"apt-get install chromium"):
        require_chromium()
    monkeypatch.setattr(dash_kit, "find_chromium", lambda: Path("/opt/chromium/chrome"))
    assert require_chromium() == Path("/opt/chromium/chrome")
