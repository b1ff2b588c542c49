"""Driving the dashboard as a person would: in Chromium (`browser` fixture), or as a plain
HTTP client that keeps cookies and sends each form's hidden fields back (no JavaScript)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.accounts import PASSWORD
from tests.support.browser import artifacts_dir

SCREENSHOTS = "dashboard"


def wait(driver: WebDriver, seconds: float = 20) -> WebDriverWait[WebDriver]:
    """A wait that also tries again when an element went stale: after a click the page
    being left can still answer a find, and its element is gone by the time it is read."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))


def left_the_page(element: WebElement) -> bool:
    """Whether `element` is gone from the document, the page it was on replaced (selenium's
    `staleness_of` knows only the stale-element error; Chromium can also answer a read made
    while the next page replaces the document with "Node with given id does not belong to
    the document", an inspector error: the CI run of 05871d5 failed on it)."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error.msg):
            return True
        raise
    return False


def sign_in(driver: WebDriver, base: str, email: str, password: str = PASSWORD) -> None:
    """Open the sign-in page, fill it in and submit it like a person (tab order, Enter)."""
    driver.get(f"{base}/dashboard/login")
    driver.find_element(By.ID, "email").send_keys(email)
    field = driver.find_element(By.ID, "password")
    field.send_keys(password)
    field.submit()
    wait(driver).until(lambda d: "/dashboard/login" not in d.current_url)


def heading(driver: WebDriver) -> str:
    """The page's `<h1>`, read again if the page changed under it (a click's navigation
    makes the element read a moment before stale)."""

    def read(d: WebDriver) -> str:
        try:
            text: str = d.find_element(By.CSS_SELECTOR, "main h1").text
        except (NoSuchElementException, StaleElementReferenceException):
            return ""
        return text

    found: str = wait(driver).until(read)
    return found


def click_button(driver: WebDriver, label: str) -> None:
    """Press the button whose visible text is `label` (confirmations accepted)."""
    button = driver.find_element(By.XPATH, f"//button[normalize-space()={_xpath(label)}]")
    driver.execute_script("window.confirm = function () { return true; };")
    button.click()


def notice(driver: WebDriver) -> str:
    found: str = wait(driver).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "p.notice").text or False
    )
    return found


def screenshot(driver: WebDriver, name: str) -> Path:
    """A page's screenshot kept as a test artifact (`<artifacts>/dashboard/<name>.png`)."""
    folder = screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    driver.save_screenshot(str(png))
    return png


def screenshots_dir() -> Path:
    return artifacts_dir() / SCREENSHOTS


def _xpath(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + text.replace("'", "', \"'\", '") + "')"


# -- without a browser ---------------------------------------------------------------------


class _Forms(HTMLParser):
    """Every <form>: its action, method and the values of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": found.get("action", ""), "method": found.get("method",
                              "get").lower(), "fields": {}})  # fmt: skip
        elif tag in ("input", "textarea", "select") and self.forms and "name" in found:
            self.forms[-1]["fields"][found["name"]] = found.get("value", "")


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form_to(html: str, action: str) -> dict[str, str]:
    """The fields of the form that posts to `action` (its hidden fields filled in)."""
    for form in forms(html):
        if form["action"] == action:
            fields: dict[str, str] = form["fields"]
            return fields
    raise AssertionError(f"no form to {action} in the page:\n{html[:3000]}")


class DashboardClient:
    """A browser without JavaScript: cookies kept, redirects followed, forms sent with the
    hidden fields the page drew into them."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=True)

    def __enter__(self) -> DashboardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(self, page: str, action: str, **values: str) -> httpx.Response:
        """Open `page`, fill the form posting to `action` with `values`, send it."""
        html = self.get(page).text
        fields = {**form_to(html, action), **values}
        return self.http.post(action, data=fields)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.submit("/dashboard/login", "/dashboard/login", email=email, password=password)


def text_of(html: str) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
