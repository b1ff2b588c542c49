"""The dashboard's admin pages, against the whole stack: a tenant admin's API keys, team and
settings; the platform admin's tenants, users, health and ledger verify.

The flows a person clicks through run in Chromium; refusals and bad input go through the
no-JavaScript client (`DashboardClient`), and every effect is checked through the API too.
"""

from __future__ import annotations

import re
import secrets
from html import unescape
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from services.auth.settings import DEV_ADMIN_EMAIL
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    create_key,
    key_headers,
    platform_admin,
    register,
    signup_user,
    tenant_slug,
    unique_email,
)
from tests.e2e.stack import RunningStack
from tests.support.dashboard import (
    DashboardClient,
    click_button,
    form_to,
    heading,
    screenshot,
    sign_in,
    wait,
)
from tests.support.dashboard import (
    text_of as page_text,
)
from tests.support.secrets import TEST_ADMIN_PASSWORD

pytestmark = pytest.mark.e2e


def text_of(html: str) -> str:
    """What a person reads (entities such as &#39; read as the characters they are)."""
    return unescape(page_text(html))


def keys_of(gw: httpx.Client, owner: Account) -> list[dict[str, Any]]:
    response = gw.get("/auth/api_keys", params={"limit": 100}, headers=owner.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def users_of(gw: httpx.Client, owner: Account) -> list[dict[str, Any]]:
    response = gw.get("/auth/users", params={"limit": 100}, headers=owner.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def signed_in(stack: RunningStack, email: str, password: str = PASSWORD) -> DashboardClient:
    client = DashboardClient(stack.gateway)
    answer = client.sign_in(email, password)
    assert "/dashboard/login" not in str(answer.url), answer.text[:2000]
    return client


def page_is(browser: WebDriver, title: str) -> None:
    """Wait for the page whose heading is `title` (the one before may still be showing)."""

    def shown(driver: WebDriver) -> bool:
        try:
            return bool(driver.find_element(By.CSS_SELECTOR, "main h1").text == title)
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    # The message is not built up front: reading the heading while the page is being left
    # finds a stale element (seen once on a loaded CI machine, right after a click).
    try:
        wait(browser).until(shown)
    except TimeoutException:
        raise AssertionError(f"no page headed {title!r}: {heading(browser)!r}") from None


def notice_says(browser: WebDriver, text: str) -> None:
    """Wait for the one-time notice saying `text` (the page before may show another)."""

    def shown(driver: WebDriver) -> bool:
        try:
            return text in driver.find_element(By.CSS_SELECTOR, "p.notice").text
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    wait(browser).until(shown, f"no notice saying {text!r}")


def row_text(browser: WebDriver, row_id: str) -> str:
    text: str = browser.find_element(By.ID, row_id).text
    return text


class TestInBrowser:
    def test_a_tenant_admin_creates_rolls_and_revokes_a_key_and_adds_a_member(
        self, browser: WebDriver, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        sign_in(browser, stack.gateway, owner.email)
        browser.get(f"{stack.gateway}/dashboard/keys")
        page_is(browser, "API keys")
        Select(browser.find_element(By.ID, "key-environment")).select_by_value("test")
        browser.find_element(By.ID, "key-name").send_keys("checkout server")
        click_button(browser, "Create key")
        page_is(browser, "Your new API key")
        assert "Copy it now: it will not be shown again." in browser.page_source
        secret = browser.find_element(By.ID, "secret").get_attribute("value") or ""
        assert secret.startswith("sk_test_")
        screenshot(browser, "keys-created")
        # The key works with the API; the secret is on no page after this one.
        assert gw.get("/payments/payment_intents", headers=key_headers(secret)).status_code == 200
        browser.get(f"{stack.gateway}/dashboard/keys")
        assert secret not in browser.page_source
        (key,) = keys_of(gw, owner)
        row = row_text(browser, f"key-{key['id']}")
        assert key["masked"] in row
        assert secret[-4:] in row
        assert "checkout server" in row
        assert "active" in row
        assert "never" not in row  # the key was just used: its last use is shown
        screenshot(browser, "keys-list")

        click_button(browser, "Roll")
        page_is(browser, "Your rolled API key")
        rolled = browser.find_element(By.ID, "secret").get_attribute("value") or ""
        assert rolled.startswith("sk_test_")
        assert rolled != secret
        browser.get(f"{stack.gateway}/dashboard/keys")
        assert rolled not in browser.page_source
        assert "revoked" in row_text(browser, f"key-{key['id']}")
        assert gw.get("/payments/payment_intents", headers=key_headers(secret)).status_code == 401
        new = next(k for k in keys_of(gw, owner) if k["id"] != key["id"])
        assert new["status"] == "active"

        click_button(browser, "Revoke")
        notice_says(browser, "Revoked the key")
        assert "revoked" in row_text(browser, f"key-{new['id']}")
        assert {k["status"] for k in keys_of(gw, owner)} == {"revoked"}
        assert gw.get("/payments/payment_intents", headers=key_headers(rolled)).status_code == 401

        browser.get(f"{stack.gateway}/dashboard/team")
        page_is(browser, "Team")
        email = unique_email("clerk")
        browser.find_element(By.ID, "member-email").send_keys(email)
        browser.find_element(By.ID, "member-password").send_keys(PASSWORD)
        Select(browser.find_element(By.ID, "member-role")).select_by_value("TENANT_ADMIN")
        click_button(browser, "Add member")
        notice_says(browser, f"Added {email} as TENANT_ADMIN")
        added = next(u for u in users_of(gw, owner) if u["email"] == email)
        assert added["role"] == "TENANT_ADMIN"
        assert added["is_active"]
        assert "TENANT_ADMIN" in row_text(browser, f"user-{added['id']}")
        screenshot(browser, "team-members")

        click_button(browser, "Deactivate")
        notice_says(browser, f"Deactivated {email}")
        assert "deactivated" in row_text(browser, f"user-{added['id']}")
        assert not next(u for u in users_of(gw, owner) if u["id"] == added["id"])["is_active"]

        browser.get(f"{stack.gateway}/dashboard/settings")
        page_is(browser, "Settings")
        assert browser.find_element(By.ID, "live-mode").text == "off"
        click_button(browser, "Request live mode")
        notice_says(browser, "Live mode requested")
        assert browser.find_element(By.ID, "live-mode").text == "requested"
        screenshot(browser, "settings-tenant")

    def test_the_platform_admin_finds_a_tenant_turns_live_mode_on_and_checks_the_system(
        self, browser: WebDriver, stack: RunningStack, gw: httpx.Client
    ) -> None:
        name = f"Dash Admin {secrets.token_hex(3)}"
        owner = register(gw, business_name=name)
        asked = gw.post(f"/auth/tenants/{owner.tenant_id}/live_mode/request", headers=owner.headers)
        assert asked.status_code == 200, asked.text
        sign_in(browser, stack.gateway, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        assert browser.current_url.endswith("/dashboard/platform/tenants")
        page_is(browser, "Tenants")
        search = browser.find_element(By.ID, "tenant-q")
        search.send_keys(name.upper())
        click_button(browser, "Search")
        wait(browser).until(lambda d: "q=" in d.current_url)
        rows = browser.find_elements(By.CSS_SELECTOR, "main tbody tr")
        assert [r.get_attribute("id") for r in rows] == [f"tenant-{owner.tenant_id}"]
        assert "requested" in rows[0].text
        screenshot(browser, "platform-tenants")

        browser.find_element(By.LINK_TEXT, name).click()
        page_is(browser, name)
        click_button(browser, "Turn live mode on")
        notice_says(browser, "Live mode is on")
        assert browser.find_element(By.ID, "tenant-live-mode").text == "on"
        tenant = gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers).json()
        assert tenant["live_mode"] == "on"
        rate = browser.find_element(By.ID, "rate-limit")
        rate.clear()
        rate.send_keys("777")
        click_button(browser, "Set rate limit")
        notice_says(browser, "Rate limit now 777 a minute.")
        assert "777" in browser.find_element(By.ID, "tenant-rate-limit").text
        assert owner.email in row_text(browser, f"user-{owner.user_id}")
        screenshot(browser, "platform-tenant")

        browser.get(f"{stack.gateway}/dashboard/platform/users?tenant={tenant['slug']}")
        page_is(browser, "Users")
        assert "TENANT_ADMIN" in row_text(browser, f"user-{owner.user_id}")
        screenshot(browser, "platform-users")

        browser.get(f"{stack.gateway}/dashboard/platform/health")
        page_is(browser, "System health")
        assert browser.find_element(By.ID, "health-status").text == "ok"
        for service in ("auth", "payments", "ledger", "wallet", "events"):
            assert "ready" in row_text(browser, f"service-{service}")
        assert browser.find_element(By.ID, "outbox-failed").text.isdigit()
        assert browser.find_element(By.ID, "outbox-pending").text.replace(",", "").isdigit()
        # Every service's event outbox, as its readiness reports it.
        for service in ("auth", "payments", "ledger", "wallet", "events"):
            cells = row_text(browser, f"outbox-{service}")
            assert "no replica answered" not in cells, cells
        # Webhook deliveries and the event lag, from the events service.
        assert browser.find_element(By.ID, "deliveries-pending").text.replace(",", "").isdigit()
        assert "/" in browser.find_element(By.ID, "endpoints-failing").text
        assert browser.find_element(By.ID, "event-lag").text
        screenshot(browser, "platform-health")

        browser.get(f"{stack.gateway}/dashboard/platform/ledger")
        click_button(browser, "Run ledger verify")
        result = wait(browser).until(lambda d: d.find_element(By.ID, "verify-result"))
        assert "The ledger verifies" in result.text
        screenshot(browser, "platform-ledger")


class TestRefusals:
    def test_a_revoke_without_its_csrf_token_is_403_and_revokes_nothing(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        key = create_key(gw, owner)
        with signed_in(stack, owner.email) as client:
            answer = client.http.post(f"/dashboard/keys/{key['id']}/revoke", data={})
            assert answer.status_code == 403
            assert "This form has expired" in text_of(answer.text)
            forged = client.http.post(
                f"/dashboard/keys/{key['id']}/revoke", data={"csrf_token": "forged"}
            )
            assert forged.status_code == 403
        assert keys_of(gw, owner)[0]["status"] == "active"

    @pytest.mark.parametrize(
        "path",
        [
            "/dashboard/platform/tenants",
            "/dashboard/platform/users",
            "/dashboard/platform/health",
            "/dashboard/platform/ledger",
        ],
    )
    def test_a_tenant_admin_gets_the_404_page_for_platform_pages(
        self, stack: RunningStack, owner: Account, path: str
    ) -> None:
        with signed_in(stack, owner.email) as client:
            answer = client.get(path)
            assert answer.status_code == 404
            assert "There is nothing here, or it is not yours to see." in text_of(answer.text)

    def test_a_tenant_admin_cannot_reach_a_platform_action(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        other = register(gw)
        with signed_in(stack, owner.email) as client:
            csrf = form_to(client.get("/dashboard/keys").text, "/dashboard/keys")["csrf_token"]
            for action, fields in (
                ("live_mode", {"enabled": "on"}),
                ("rate_limit", {"rate_limit": "100000"}),
                ("disable", {}),
            ):
                answer = client.http.post(
                    f"/dashboard/platform/tenants/{other.tenant_id}/{action}",
                    data={"csrf_token": csrf, **fields},
                )
                assert answer.status_code == 404, action
        tenant = gw.get(f"/tenants/{other.tenant_id}", headers=other.headers).json()
        assert tenant["status"] == "active"
        assert tenant["live_mode"] == "off"
        assert tenant["rate_limit"] is None

    @pytest.mark.parametrize("path", ["/dashboard/keys", "/dashboard/team", "/dashboard/settings"])
    def test_a_user_gets_the_404_page(
        self, stack: RunningStack, gw: httpx.Client, owner: Account, path: str
    ) -> None:
        user = signup_user(gw, owner)
        with signed_in(stack, user.email) as client:
            answer = client.get(path)
            assert answer.status_code == 404
            assert "not yours to see" in text_of(answer.text)

    def test_another_tenants_key_is_the_404_page_and_nothing_changes(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        other = register(gw)
        theirs = create_key(gw, other)
        with signed_in(stack, owner.email) as client:
            csrf = form_to(client.get("/dashboard/keys").text, "/dashboard/keys")["csrf_token"]
            for action in ("revoke", "roll"):
                answer = client.http.post(
                    f"/dashboard/keys/{theirs['id']}/{action}", data={"csrf_token": csrf}
                )
                assert answer.status_code == 404, action
                assert "sk_test_" not in answer.text
        assert [(k["id"], k["status"]) for k in keys_of(gw, other)] == [(theirs["id"], "active")]
        assert keys_of(gw, owner) == []

    def test_another_tenants_user_cannot_be_deactivated(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        other = register(gw)
        with signed_in(stack, owner.email) as client:
            csrf = form_to(client.get("/dashboard/team").text, "/dashboard/team")["csrf_token"]
            answer = client.http.post(
                f"/dashboard/team/{other.user_id}/deactivate", data={"csrf_token": csrf}
            )
            assert answer.status_code == 404
        assert users_of(gw, other)[0]["is_active"] is True


class TestBadInput:
    def test_a_key_without_an_environment_is_said_and_not_made(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        with signed_in(stack, owner.email) as client:
            for environment in ("", "staging"):
                answer = client.submit(
                    "/dashboard/keys", "/dashboard/keys", environment=environment
                )
                assert answer.status_code == 400
                assert "Choose the key's environment: test or live." in text_of(answer.text)
            too_long = client.submit(
                "/dashboard/keys", "/dashboard/keys", environment="test", name="x" * 300
            )
            assert too_long.status_code == 400
            assert "name" in text_of(too_long.text)
        assert keys_of(gw, owner) == []

    @pytest.mark.parametrize(
        ("fields", "said"),
        [
            ({"email": "not-an-email", "password": PASSWORD}, "Check the email"),
            ({"email": "", "password": PASSWORD}, "Enter the new member's email and password."),
            ({"password": "short"}, "Check the password"),
            ({"role": "PLATFORM_ADMIN"}, "Choose a role: USER or TENANT_ADMIN."),
        ],
    )
    def test_a_bad_member_is_said_and_not_added(
        self,
        stack: RunningStack,
        gw: httpx.Client,
        owner: Account,
        fields: dict[str, str],
        said: str,
    ) -> None:
        values = {"email": unique_email("clerk"), "password": PASSWORD, "role": "USER", **fields}
        with signed_in(stack, owner.email) as client:
            answer = client.submit("/dashboard/team", "/dashboard/team", **values)
            assert answer.status_code == 400, answer.text[:2000]
            assert said in text_of(answer.text)
        assert [u["id"] for u in users_of(gw, owner)] == [owner.user_id]

    def test_a_taken_email_is_said(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        other = register(gw)
        with signed_in(stack, owner.email) as client:
            answer = client.submit(
                "/dashboard/team", "/dashboard/team", email=other.email, password=PASSWORD,
                role="USER",
            )  # fmt: skip
            assert answer.status_code == 409
            assert "already exists" in text_of(answer.text)

    def test_a_bad_webhook_url_is_said_and_not_kept(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        with signed_in(stack, owner.email) as client:
            bad = client.submit(
                "/dashboard/settings", "/dashboard/settings/webhook_url", webhook_url="not a url"
            )
            assert bad.status_code == 400
            assert "Check the webhook_url" in text_of(bad.text)
            good = client.submit(
                "/dashboard/settings", "/dashboard/settings/webhook_url",
                webhook_url="https://hooks.example.com/micro",
            )  # fmt: skip
            assert good.status_code == 200
            assert "Webhooks now go to https://hooks.example.com/micro." in text_of(good.text)
        tenant = gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers).json()
        assert tenant["webhook_url"] == "https://hooks.example.com/micro"

    def test_a_bad_rate_limit_is_said_and_not_set(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        page = f"/dashboard/platform/tenants/{owner.tenant_id}"
        with signed_in(stack, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD) as client:
            for value, said in (("lots", "whole number"), ("0", "Check the rate_limit")):
                answer = client.submit(page, f"{page}/rate_limit", rate_limit=value)
                assert answer.status_code == 400
                assert said in text_of(answer.text)
            missing = client.get("/dashboard/platform/tenants/ten_missing")
            assert missing.status_code == 404
        tenant = gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers).json()
        assert tenant["rate_limit"] is None


class TestSecrets:
    def test_no_secret_is_on_any_page_but_its_creation(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        provider_secret = "sk_test_" + secrets.token_hex(16)
        stored = gw.put(
            "/payments/providers/paystack",
            json={"secret_key": provider_secret, "public_key": "pk_test_visible"},
            headers=owner.headers,
        )
        assert stored.status_code == 200, stored.text
        with signed_in(stack, owner.email) as client:
            created = client.submit("/dashboard/keys", "/dashboard/keys", environment="test")
            assert "it will not be shown again" in text_of(created.text)
            found = re.search(r'value="(sk_test_[A-Za-z0-9_]+)"', created.text)
            assert found is not None
            secret = found.group(1)
            pages = [
                "/dashboard/",
                "/dashboard/keys",
                "/dashboard/team",
                "/dashboard/settings",
            ]
            for path in pages:
                html = client.get(path).text
                assert secret not in html, path
                assert provider_secret not in html, path
            settings = text_of(client.get("/dashboard/settings").text)
            assert "••••" + provider_secret[-4:] in settings
            assert "pk_test_visible" in settings
        with signed_in(stack, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD) as admin:
            for path in (
                f"/dashboard/platform/tenants/{owner.tenant_id}",
                f"/dashboard/platform/users?tenant={tenant_slug(gw, owner)}",
                "/dashboard/platform/tenants",
            ):
                html = admin.get(path).text
                assert secret not in html, path
                assert provider_secret not in html, path

    def test_a_platform_admin_signs_in_at_the_same_door(self, stack: RunningStack) -> None:
        with DashboardClient(stack.gateway) as client:
            answer = client.sign_in(DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
            assert str(answer.url).endswith("/dashboard/platform/tenants")
            assert answer.status_code == 200

    def test_the_platform_admins_api_session_is_the_dashboards(self, gw: httpx.Client) -> None:
        # What the pages show is the API's: a platform admin finds tenants by name through it.
        admin = platform_admin(gw)
        owner = register(gw, business_name=f"Findable {secrets.token_hex(3)}")
        name = gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers).json()["name"]
        found = gw.get("/tenants", params={"q": name.lower()}, headers=admin.headers).json()
        assert [t["id"] for t in found["data"]] == [owner.tenant_id]


class TestPlatformActions:
    def test_disabling_a_tenant_ends_its_credentials(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        key = create_key(gw, owner)
        page = f"/dashboard/platform/tenants/{owner.tenant_id}"
        with signed_in(stack, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD) as client:
            answer = client.submit(page, f"{page}/disable")
            assert answer.status_code == 200
            said = text_of(answer.text)
            assert "its users, sessions and API keys stopped working" in said
            assert "Disable tenant" not in said  # nothing more to do to it
            assert "disabled" in said
        assert (
            gw.get("/payments/payment_intents", headers=key_headers(key["secret"])).status_code
            == 401
        )
        assert gw.get("/auth/me", headers=owner.headers).status_code == 401

    def test_live_mode_is_declined_and_turned_off(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        gw.post(f"/auth/tenants/{owner.tenant_id}/live_mode/request", headers=owner.headers)
        page = f"/dashboard/platform/tenants/{owner.tenant_id}"
        action = f"{page}/live_mode"

        def live_mode() -> str:
            found: str = gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers).json()[
                "live_mode"
            ]
            return found

        with signed_in(stack, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD) as client:
            assert "The tenant asked for live mode." in text_of(client.get(page).text)
            client.submit(page, action, enabled="off")
            assert live_mode() == "off"
            client.submit(page, action, enabled="on")
            assert live_mode() == "on"
            bad = client.submit(page, action, enabled="maybe")
            assert bad.status_code == 400
            assert "Turn live mode on or off." in text_of(bad.text)
            assert live_mode() == "on"

    def test_an_unknown_tenant_on_the_users_page_is_said(self, stack: RunningStack) -> None:
        with signed_in(stack, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD) as client:
            answer = client.get("/dashboard/platform/users?tenant=no-such-tenant")
            assert answer.status_code == 404
            assert "No tenant has the id or slug 'no-such-tenant'." in text_of(answer.text)
            own = client.get("/dashboard/platform/users")
            assert own.status_code == 200
            assert DEV_ADMIN_EMAIL in text_of(own.text)
