"""A real browser for tests: Debian's Chromium, driven over WebDriver by its own chromedriver.

Selenium rather than playwright (both measured here, each ~1 s to a first page): Debian
ships `chromium-driver` from the same source as `chromium`, so the driver always speaks the
browser's protocol version, while playwright pins the Chromium build it was made for and,
pointed at another, breaks on whichever security update moves them apart; selenium is also
a quarter of the size (12 MB against 53 MB, with a bundled Node). Nothing is downloaded:
the driver's path is given, so Selenium Manager never runs.

`browser` yields a fresh driver per test (its own profile directory); when the test fails
its screenshot and page source go to `.micro/test-artifacts/` (or `MICRO_TEST_ARTIFACTS`).
`install` in `cli/stack/binaries.py` puts the packages in place (`micro dev deps --browser`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from cli.stack.binaries import find_browser

ROOT = Path(__file__).resolve().parents[2]
# As root in a container Chromium needs --no-sandbox; the rest keep it from calling out
# (component updates, sync, QUIC probes), which a closed network refuses and which only
# slow a test down.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def artifacts_dir() -> Path:
    return Path(os.environ.get("MICRO_TEST_ARTIFACTS") or ROOT / ".micro" / "test-artifacts")


def open_browser(profile: Path) -> WebDriver:
    found = find_browser()
    if found is None:
        pytest.fail(
            "chromium and chromium-driver are needed for browser tests: run "
            "`micro dev deps --browser` (as root on Debian) or "
            "`apt-get install chromium chromium-driver`"
        )
    chromium, chromedriver = found
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(chromedriver)), options=options)


def save_artifacts(driver: WebDriver, name: str) -> Path:
    """The page as a PNG (and its HTML beside it); returns the PNG's path."""
    folder = artifacts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    png = folder / f"{stem}.png"
    driver.save_screenshot(str(png))
    (folder / f"{stem}.html").write_text(driver.page_source)
    return png


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebDriver]:
    profile = tmp_path / "chromium-profile"
    driver = open_browser(profile)
    try:
        yield driver
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            path = save_artifacts(driver, request.node.nodeid)
            print(f"browser screenshot: {path}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the test, so `browser` knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{call.when}", report)
    return report
