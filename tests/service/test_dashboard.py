"""The ops dashboard in a real headless Chromium (Debian ``chromium``, driven by Playwright).

While a job runs, the page (loaded once, never reloaded) shows its progress advancing; a text
search shows thumbnails. An interrupted job shows the command that resumes it, and its button
resumes it. With a read key configured, the page asks for a key once and then works as without
one. Screenshots go to ``artifacts/`` at the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from modalign.ingest.runner import JobRunner
from modalign.ingest.sources import SourceSpec
from modalign.service.app import create_app

from .helpers import LiveServer, make_images, make_settings, register_tiny_model, wait_for_job

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
JOB_IMAGES = 120
INTERRUPTED_IMAGES = 6
ALL_THUMBNAILS_LOADED = (
    "[...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"
)
COUNT = re.compile(r"^(\d+) / (\d+)$")
WRITE_KEY = "dash-write"
READ_KEY = "dash-read"
KEYED_IMAGES = 6


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian package `chromium` is needed (make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def job_count(page: Page, job_id: int) -> tuple[int, int] | None:
    cell = page.locator(f'tr[data-job="{job_id}"] .count')
    if cell.count() == 0:
        return None
    match = COUNT.match(cell.inner_text().strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


@pytest.mark.slow
def test_progress_advances_without_a_reload_and_search_shows_thumbnails(
    live: LiveServer, http: httpx.Client, page: Page
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    folder = live.app.state.settings.paths.data_dir / "sources" / "browser"
    make_images(folder, JOB_IMAGES, offset=1000)
    page.goto(f"{live.url}/?poll_ms=250")
    page.evaluate("window.__loadedOnce = 'yes'")
    job_id = http.post("/v1/jobs", json={"source": "sources/browser"}).json()["id"]

    page.wait_for_selector(f'tr[data-job="{job_id}"]', timeout=60_000)
    seen: list[tuple[int, int]] = []
    while True:
        count = job_count(page, job_id)
        if count is not None and (not seen or count != seen[-1]):
            seen.append(count)
            if 0 < count[0] < count[1] and not any(0 < c[0] < c[1] for c in seen[:-1]):
                page.screenshot(path=str(ARTIFACTS / "dashboard-job-running.png"), full_page=True)
        if count is not None and count[1] == JOB_IMAGES and count[0] == JOB_IMAGES:
            break
        page.wait_for_timeout(100)
        assert len(seen) < 10_000
    partial = [c for c in seen if 0 < c[0] < JOB_IMAGES]
    assert partial, f"never saw the job part-way: {seen}"
    finished = [done for done, _ in seen]
    assert finished == sorted(finished), seen
    page.wait_for_selector(f'tr[data-job="{job_id}"] .badge.completed', timeout=30_000)
    assert page.evaluate("window.__loadedOnce") == "yes"
    assert wait_for_job(http, job_id)["done_items"] == JOB_IMAGES

    page.fill("#search-text", "a red circle")
    page.click("#search-button")
    page.wait_for_selector("#results figure img", timeout=30_000)
    page.wait_for_function(ALL_THUMBNAILS_LOADED, timeout=30_000)
    thumbnails = page.locator("#results img")
    assert thumbnails.count() == 24
    assert "images in" in page.inner_text("#search-status")
    page.screenshot(path=str(ARTIFACTS / "dashboard-search.png"), full_page=True)

    page.set_input_files("#search-image", str(folder / "img1005.png"))
    assert page.input_value("#search-text") == ""
    page.click("#search-button")
    page.wait_for_function(
        "document.querySelector('#results img').alt.includes('number 1005')", timeout=30_000
    )
    page.fill("#search-text", "1003")  # typing drops the chosen image; keyword mode ranks by
    assert page.input_value("#search-image") == ""  # the words of the captions
    page.select_option("#search-mode", "keyword")
    page.check("#search-collapse")
    page.click("#search-button")
    page.wait_for_function(
        "document.querySelector('#results img').alt.includes('number 1003')"
        " && document.querySelector('#search-status').textContent.includes('images in')",
        timeout=30_000,
    )

    http.post("/v1/check").raise_for_status()  # the page shows each collection's check state
    page.wait_for_function(
        "document.querySelectorAll('#collections td.check .badge.completed').length === 2",
        timeout=30_000,
    )
    assert "checked" in page.inner_text("#check-status")
    assert page.text_content(f'tr[data-job="{job_id}"] .kind') == "ingest"


def test_the_page_is_useful_without_scripts(live: LiveServer, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(live.url)
        assert page.locator("#jobs tbody tr[data-job]").count() >= 1
        assert "tiny-v1" in page.inner_text("#collections")
        assert "active" in page.inner_text("#collections")
    finally:
        context.close()


@pytest.fixture
def interrupted_job(live: LiveServer) -> int:
    """A job left as a stopped `modalign ingest` leaves it: created, then given up unfinished."""
    settings = live.app.state.settings
    folder = settings.paths.data_dir / "sources" / "left-behind"
    make_images(folder, INTERRUPTED_IMAGES, offset=3000)
    runner = JobRunner(settings)
    try:
        return runner.create(SourceSpec(folder, "folder"))
    finally:
        runner.close()  # gives the job up: no live process holds it now


def test_an_interrupted_job_shows_its_resume_command_and_button_resumes_it(
    live: LiveServer, http: httpx.Client, page: Page, browser: Browser, interrupted_job: int
) -> None:
    row = f'tr[data-job="{interrupted_job}"]'
    context = browser.new_context(java_script_enabled=False)
    try:
        rendered = context.new_page()
        rendered.goto(live.url)
        assert rendered.inner_text(f"{row} .badge") == "interrupted"
        assert rendered.inner_text(f"{row} .resume code") == (
            f"modalign jobs resume {interrupted_job}"
        )
        assert rendered.locator(f"{row} .resume-button").count() == 1
    finally:
        context.close()

    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live.url}/?poll_ms=250")
    page.wait_for_selector(f"{row} .badge.interrupted", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "dashboard-job-interrupted.png"), full_page=True)
    page.click(f"{row} .resume-button")
    page.wait_for_selector(f"{row} .badge.completed", timeout=120_000)
    assert page.locator(f"{row} .resume-button").count() == 0
    assert f"job {interrupted_job} resumed" in page.inner_text("#jobs-status")
    assert wait_for_job(http, interrupted_job)["done_items"] == INTERRUPTED_IMAGES


@pytest.fixture(scope="module")
def keyed_live(
    tmp_path_factory: pytest.TempPathFactory, tower_cache: Path
) -> Iterator[LiveServer]:
    """A server with a write and a read key, a few images ingested."""
    data = tmp_path_factory.mktemp("keyed") / "data"
    settings = make_settings(
        data, tower_cache, service={"api_key": WRITE_KEY, "read_api_key": READ_KEY}
    )
    register_tiny_model(settings)
    make_images(data / "sources" / "few", KEYED_IMAGES)
    server = LiveServer(create_app(settings))
    try:
        with server.client(headers={"x-api-key": WRITE_KEY}) as client:
            job = client.post("/v1/jobs", json={"source": "sources/few"}).raise_for_status()
            wait_for_job(client, job.json()["id"])
        yield server
    finally:
        server.stop()


def test_with_a_read_key_the_page_asks_for_it_once(keyed_live: LiveServer, page: Page) -> None:
    page.goto(f"{keyed_live.url}/?poll_ms=250")
    assert page.locator("#key-form").is_visible()
    assert page.locator("#jobs tbody tr[data-job]").count() == 0  # nothing shown without a key
    page.fill("#key-input", "not-the-key")
    page.click("#key-button")
    page.wait_for_function("document.querySelector('#updated').textContent.includes('refused')")
    assert page.locator("#key-form").is_visible()

    page.fill("#key-input", READ_KEY)
    page.click("#key-button")
    page.wait_for_selector("#jobs tbody tr[data-job] .badge.completed", timeout=30_000)
    assert not page.locator("#key-form").is_visible()
    assert "tiny-v1" in page.inner_text("#collections")

    page.fill("#search-text", "a red circle")
    page.click("#search-button")
    page.wait_for_selector("#results figure img", timeout=30_000)
    page.wait_for_function(ALL_THUMBNAILS_LOADED, timeout=30_000)
    assert page.locator("#results img").count() == KEYED_IMAGES

    page.reload()  # the key is kept for the tab
    page.wait_for_selector("#jobs tbody tr[data-job]", timeout=30_000)
    assert not page.locator("#key-form").is_visible()
