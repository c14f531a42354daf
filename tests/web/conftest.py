"""A real browser (Debian's chromium, driven by Playwright) against a world of real processes.

Chromium comes from ``scripts/tools.sh`` (``make tools``); Playwright's own browser download
is never used. Screenshots are written to ``.artifacts/browser/``."""

import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import text

from openmmo.storage.sql import create_engine
from openmmo.testing.cluster import on_shared_services

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Everyone starts on the spawn point, so a bot and the browser's player meet at once.
    with on_shared_services(
        tmp_path_factory.mktemp("world"), [1, 2], env={"SPAWN_RADIUS": "0"}
    ) as world:
        yield world


@pytest.fixture(scope="module")
def artifacts():
    assert Path(CHROMIUM).exists(), "chromium is missing: run `make tools` (scripts/tools.sh)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser(artifacts):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def page_of(browser, url):
    """A page that fails the test on any uncaught script error."""
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    await page.goto(url)
    return page


async def place(cluster, name, x, y):
    """Put a character (not in the world) somewhere in its zone, straight in the database."""
    engine = create_engine(cluster.base_env["DATABASE_URL"])
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE characters SET x = :x, y = :y WHERE name_key = :key"),
                {"x": x, "y": y, "key": name.lower()},
            )
    finally:
        await engine.dispose()
