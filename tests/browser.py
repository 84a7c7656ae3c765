"""A real headless browser for the tests: Debian's chromium driven by selenium.

    def test_page(chrome):              # the fixture (registered in tests/conftest.py)
        chrome.get("http://127.0.0.1:PORT/page")
        chrome.find_element("css selector", "button[value=approve]").click()

Selenium is pointed at /usr/bin/chromium and /usr/bin/chromedriver explicitly, so that its
selenium-manager never downloads a browser or a driver. `.ci/run` installs both with apt
(`chromium`, `chromium-driver`) and selenium comes with the `test` extra. When any of them is
missing the test is skipped with the reason (pytest -ra lists it), never counted as passed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",  # root in a container has no user namespaces for chromium's sandbox
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=900,700",
)


def missing() -> str | None:
    """Why no browser can be had here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install chromium chromium-driver; see .ci/run)"
    return None


def start_chrome() -> Any:
    """A new headless chromium session (selenium.webdriver.Chrome); the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ARGUMENTS:
        options.add_argument(argument)
    service = Service(executable_path=str(CHROMEDRIVER))
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture
def chrome() -> Iterator[Any]:
    """A headless chromium (selenium WebDriver), or a skip that says why there is none."""
    why = missing()
    if why is not None:
        pytest.skip(f"no headless browser: {why}")
    driver = start_chrome()
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
