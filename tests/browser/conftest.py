"""One fleet and one Chromium for all the board's browser tests; screenshots kept under .artifacts/.

Chromium is Debian's (`make install` installs it): Playwright drives it by path, since its own
browser download cannot work here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fleet_testing.board_fleet import BoardFleet

CHROMIUM = os.environ.get("FLEET_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / ".artifacts" / "board"
# Flags for a closed network: no background connections, no updates, no sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            # One worker runs them all: one fleet and one Chromium per session (`make test` runs -n 2).
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium (as root)")
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make install` runs npm ci in web/")
    return CHROMIUM


@pytest.fixture(scope="session")
async def fleet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BoardFleet]:
    # The tests click through pages far faster than a person, and every page asks the API a dozen
    # questions under the person's rate limit (tests/integration/security tests the limit itself).
    async with BoardFleet(
        tmp_path_factory.mktemp("board-fleet"),
        answer_seconds=0.1,
        api_rate_per_minute=6000,
        api_rate_burst=1000,
    ) as running:
        yield running


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


class Shots:
    """Screenshots numbered in the order of the steps, named after them."""

    def __init__(self, folder: Path, test: str) -> None:
        self.folder, self.test, self.n = folder, test, 0

    async def take(self, page: Any, step: str) -> None:
        self.n += 1
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        await page.screenshot(path=str(self.folder / f"{self.test}-{self.n:02d}-{name}.png"), full_page=True)


@pytest.fixture
def shots(artifacts: Path, request: pytest.FixtureRequest) -> Shots:
    return Shots(artifacts, request.node.name.removeprefix("test_"))


async def new_page(browser: Any, fleet: BoardFleet, *, width: int = 1280, height: int = 900) -> Any:
    # axe-core is injected as an inline script: the board's CSP would block it, so tests bypass CSP.
    context = await browser.new_context(
        viewport={"width": width, "height": height}, base_url=fleet.url, bypass_csp=True
    )
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.dialogs = dialogs  # a script that ran would open one: tests assert there was none
    return page


async def sign_in(page: Any, token: str) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("Access token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def assert_accessible(page: Any) -> None:
    violations = await axe_violations(page)
    assert not violations, json.dumps(violations, indent=1)


__all__ = ["Shots", "assert_accessible", "new_page", "sign_in"]
