"""The dashboard's doors, against the whole stack: signing in and out in Chromium, what a
signed-out browser is sent to, the session cookie, CSRF on every form, the API's own per-IP
sign-in limit, and sessions ended by the API's revocation."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.accounts import PASSWORD, register, signup_user
from tests.e2e.gateways import extra_gateway
from tests.e2e.stack import RunningStack
from tests.support.dashboard import (
    DashboardClient,
    click_button,
    form_to,
    heading,
    notice,
    screenshot,
    sign_in,
    text_of,
    wait,
)
from tests.support.endpoint_app import receiver
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


def _cookie_header(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert found, response.headers
    return found[-1]


class TestInABrowser:
    def test_sign_in_see_home_and_sign_out(
        self, stack: RunningStack, gw: httpx.Client, browser: WebDriver
    ) -> None:
        owner = register(gw)
        browser.get(f"{stack.gateway}/dashboard/?from=a-link")
        # Signed out: sent to sign in, and back to the page asked for afterwards.
        wait(browser).until(lambda d: "/dashboard/login" in d.current_url)
        assert heading(browser) == "Sign in to Micro"
        screenshot(browser, "signin")
        browser.find_element(By.ID, "email").send_keys(owner.email)
        field = browser.find_element(By.ID, "password")
        field.send_keys(PASSWORD)
        field.submit()
        wait(browser).until(lambda d: d.current_url.endswith("/dashboard/?from=a-link"))
        assert heading(browser) == "Home"
        header = browser.find_element(By.CSS_SELECTOR, "header").text
        assert owner.email in header
        assert "test mode" in header
        # The cookie is out of JavaScript's reach.
        assert browser.execute_script("return document.cookie") == ""
        browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
        wait(browser).until(lambda d: "/dashboard/login" in d.current_url)
        browser.get(f"{stack.gateway}/dashboard/")
        wait(browser).until(lambda d: "/dashboard/login" in d.current_url)

    def test_a_wrong_password_is_said_and_nothing_opens(
        self, stack: RunningStack, gw: httpx.Client, browser: WebDriver
    ) -> None:
        owner = register(gw)
        sign_in_page = f"{stack.gateway}/dashboard/login"
        browser.get(sign_in_page)
        browser.find_element(By.ID, "email").send_keys(owner.email)
        field = browser.find_element(By.ID, "password")
        field.send_keys("not the password")
        field.submit()
        alert = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "[role=alert]"))
        assert "do not match" in alert.text
        # The field keeps what was typed and the error is tied to it for screen readers.
        email = browser.find_element(By.ID, "email")
        assert email.get_attribute("value") == owner.email
        assert email.get_attribute("aria-describedby") == "signin-error"

    def test_the_keyboard_reaches_the_form_and_focus_is_visible(
        self, stack: RunningStack, browser: WebDriver
    ) -> None:
        browser.get(f"{stack.gateway}/dashboard/login")
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("\t")  # the skip link first
        assert browser.switch_to.active_element.text == "Skip to content"
        outline = browser.switch_to.active_element.value_of_css_property("outline-style")
        assert outline == "solid"
        labels = browser.find_elements(By.CSS_SELECTOR, "label[for]")
        assert {label.get_attribute("for") for label in labels} == {"email", "password"}


class TestSessions:
    def test_the_cookie_is_httponly_lax_and_scoped(self, stack: RunningStack) -> None:
        owner_gw = httpx.Client(base_url=stack.gateway, timeout=30)
        with owner_gw, DashboardClient(stack.gateway) as browser:
            owner = register(owner_gw)
            page = browser.get("/dashboard/login")
            fields = form_to(page.text, "/dashboard/login")
            response = browser.http.post(
                "/dashboard/login",
                data={**fields, "email": owner.email, "password": PASSWORD},
                follow_redirects=False,
            )
        assert response.status_code == 303
        cookie = _cookie_header(response, "micro_dashboard").lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/dashboard" in cookie
        assert "secure" not in cookie  # plain http here; see the https test below
        for header, value in {
            "content-security-policy": "script-src 'self'",
            "x-frame-options": "DENY",
            "cache-control": "no-store",
        }.items():
            assert value in page.headers[header]

    def test_behind_an_https_proxy_the_cookie_is_secure(self, stack: RunningStack) -> None:
        with (
            extra_gateway(stack, trusted_proxies='["127.0.0.1"]') as gateway,
            gateway.client() as http,
        ):
            page = http.get("/dashboard/login", headers={"X-Forwarded-Proto": "https"})
            plain = http.get("/dashboard/login")
        assert "secure" in _cookie_header(page, "micro_dashboard_signin").lower()
        assert "secure" not in _cookie_header(plain, "micro_dashboard_signin").lower()

    def test_a_form_without_its_csrf_token_is_403_and_does_nothing(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        with DashboardClient(stack.gateway) as browser:
            browser.sign_in(owner.email)
            for token in (None, "", "forged"):
                data = {"mode": "live"} if token is None else {"mode": "live", "csrf_token": token}
                refused = browser.http.post("/dashboard/mode", data=data)
                assert refused.status_code == 403
                assert "This form has expired" in text_of(refused.text)
            # Still in test mode: nothing was switched.
            assert "test mode" in text_of(browser.get("/dashboard/").text)
            # A JSON body is no form at all.
            assert browser.http.post("/dashboard/mode", json={"mode": "live"}).status_code == 403
            # Signing out needs the token too: a cross-site POST cannot sign anyone out.
            assert browser.http.post("/dashboard/logout", data={}).status_code == 403
            assert browser.get("/dashboard/").url.path == "/dashboard/"

    def test_the_sign_in_form_needs_its_own_token(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        with httpx.Client(base_url=stack.gateway, timeout=30) as http:
            refused = http.post(
                "/dashboard/login", data={"email": owner.email, "password": PASSWORD}
            )
        assert refused.status_code == 403
        assert "micro_dashboard=" not in refused.headers.get("set-cookie", "")

    @pytest.mark.parametrize(
        "target",
        ["//elsewhere.example/x", "https://elsewhere.example/", "/dashboard\\..\\x", "/auth/me"],
    )
    def test_after_sign_in_the_browser_stays_on_the_dashboard(
        self, stack: RunningStack, gw: httpx.Client, target: str
    ) -> None:
        owner = register(gw)
        with DashboardClient(stack.gateway) as browser:
            page = browser.get("/dashboard/login").text
            fields = {**form_to(page, "/dashboard/login"), "next": target}
            response = browser.http.post(
                "/dashboard/login",
                data={**fields, "email": owner.email, "password": PASSWORD},
                follow_redirects=False,
            )
        assert response.headers["location"] == "/dashboard/"

    def test_an_unknown_or_forged_cookie_is_signed_out(self, stack: RunningStack) -> None:
        with httpx.Client(base_url=stack.gateway, timeout=30) as http:
            for cookie in ("nothing-like-a-session", "x" * 5000, ""):
                http.cookies.set("micro_dashboard", cookie, path="/dashboard")
                response = http.get("/dashboard/", follow_redirects=False)
                assert response.status_code == 303
                assert response.headers["location"].startswith("/dashboard/login")

    def test_sign_out_revokes_the_api_session_too(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        with DashboardClient(stack.gateway) as browser:
            browser.sign_in(owner.email)
            cookie = browser.http.cookies.get("micro_dashboard")
            assert cookie
            browser.submit("/dashboard/", "/dashboard/logout")
        # The old cookie opens nothing now.
        with httpx.Client(base_url=stack.gateway, timeout=30) as http:
            http.cookies.set("micro_dashboard", cookie, path="/dashboard")
            assert http.get("/dashboard/", follow_redirects=False).status_code == 303

    def test_a_user_deactivated_through_the_api_is_signed_out_of_the_dashboard(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        user = signup_user(gw, owner)
        with DashboardClient(stack.gateway) as browser:
            first = browser.sign_in(user.email)
            assert first.url.path == "/dashboard/wallets", text_of(first.text)[:500]
            ended = gw.delete(f"/auth/users/{user.user_id}", headers=owner.headers)
            assert ended.status_code == 200, ended.text
            after = browser.get("/dashboard/wallets")
        assert after.url.path == "/dashboard/login"

    def test_the_apis_per_ip_sign_in_limit_applies(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        with (
            extra_gateway(stack, login_rate_limit="3", trusted_proxies='["127.0.0.1"]') as gateway,
            DashboardClient(gateway.url) as browser,
        ):
            texts = []
            for _ in range(4):
                page = browser.get("/dashboard/login").text
                fields = {**form_to(page, "/dashboard/login"), "email": owner.email}
                answer = browser.http.post(
                    "/dashboard/login",
                    data={**fields, "password": "wrong"},
                    headers={"X-Forwarded-For": "203.0.113.9"},
                )
                texts.append((answer.status_code, text_of(answer.text)))
            assert [status for status, _ in texts[:3]] == [401, 401, 401]
            assert texts[3][0] == 429
            assert "Too many sign-in attempts" in texts[3][1]
            # Another address still signs in: the limit is per address, not per account.
            page = browser.get("/dashboard/login").text
            fields = {**form_to(page, "/dashboard/login"), "email": owner.email}
            other = browser.http.post(
                "/dashboard/login",
                data={**fields, "password": PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.7"},
            )
        assert other.url.path == "/dashboard/", text_of(other.text)[:300]


def test_live_mode_is_not_switched_on_for_a_tenant_without_it(
    stack: RunningStack, gw: httpx.Client
) -> None:
    owner = register(gw)
    with DashboardClient(stack.gateway) as browser:
        browser.sign_in(owner.email)
        page = browser.submit("/dashboard/", "/dashboard/mode")
        assert "Live mode is not enabled for this tenant yet" in text_of(page.text)
        assert "test mode" in text_of(page.text)


def test_an_unknown_dashboard_page_is_the_dashboards_404(
    stack: RunningStack, gw: httpx.Client
) -> None:
    owner = register(gw)
    with DashboardClient(stack.gateway) as browser:
        # Signed out: sign in first, as for any page.
        assert browser.get("/dashboard/no/such/page").url.path == "/dashboard/login"
        browser.sign_in(owner.email)
        missing = browser.get("/dashboard/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "it is not yours to see" in text_of(missing.text)


def test_sign_in_helper_works_for_other_modules(
    stack: RunningStack, gw: httpx.Client, browser: WebDriver
) -> None:
    owner = register(gw)
    sign_in(browser, stack.gateway, owner.email)
    assert heading(browser) == "Home"
    screenshot(browser, "home")


def test_a_page_is_one_request_of_its_sessions_rate_limit(
    stack: RunningStack, gw: httpx.Client
) -> None:
    # Home makes two API calls (balance, recent payments): six pages under a limit of six a
    # minute, then the seventh refused, as six requests of the API would be.
    owner = register(gw)
    with (
        extra_gateway(stack, session_rate_limit="6") as gateway,
        DashboardClient(gateway.url) as browser,
    ):
        browser.sign_in(owner.email)  # its landing page is the first of the six
        pages = [browser.get("/dashboard/") for _ in range(6)]
    assert [p.status_code for p in pages] == [200] * 5 + [429]
    assert "Too many requests" in text_of(pages[-1].text)


def test_the_whole_flow_a_person_clicks_through(
    stack: RunningStack, gw: httpx.Client, browser: WebDriver
) -> None:
    """Sign in, create an API key, make a test payment from the form, find it in the list,
    open it, refund it, watch the refund's event arrive in the live tail (another tab),
    resend its delivery, sign out."""
    owner = register(gw)
    with receiver() as app:
        made = gw.post(
            "/webhook_endpoints",
            json={"url": app.url, "enabled_events": ["refund.created", "refund.updated"]},
            headers=owner.headers,
        )
        assert made.status_code == 200, made.text
        app.secret = made.json()["secret"]
        sign_in(browser, stack.gateway, owner.email)

        browser.get(f"{stack.gateway}/dashboard/keys")
        click_button(browser, "Create key")
        field = wait(browser).until(lambda d: d.find_element(By.ID, "secret"))
        secret = field.get_attribute("value") or ""
        assert secret.startswith("sk_test_")
        # The key works: the API answers it.
        answer = gw.get("/ledger/balance", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, answer.text

        browser.get(f"{stack.gateway}/dashboard/payments")
        browser.find_element(By.ID, "t-amount").send_keys("19.99")
        click_button(browser, "Make test payment")
        wait(browser).until(lambda d: heading(d).startswith("Payment pi_"))
        intent_id = heading(browser).removeprefix("Payment ")

        browser.get(f"{stack.gateway}/dashboard/payments?status=succeeded")
        browser.find_element(By.LINK_TEXT, intent_id).click()
        assert heading(browser) == f"Payment {intent_id}"
        payment_tab = browser.current_window_handle

        # The live tail open in another tab before the refund.
        browser.switch_to.new_window("tab")
        browser.get(f"{stack.gateway}/dashboard/events")
        wait(browser).until(lambda d: d.find_element(By.ID, "tail-status").text.startswith("Live"))
        tail_tab = browser.current_window_handle
        browser.switch_to.window(payment_tab)
        click_button(browser, "Refund")
        assert "succeeded" in notice(browser)

        browser.switch_to.window(tail_tab)

        def refund_row(driver: WebDriver) -> WebElement | bool:
            rows = driver.find_elements(By.CSS_SELECTOR, "#events tr")
            return next((r for r in rows if "refund.created" in r.text), False)

        row = wait(browser, 30).until(refund_row)
        assert isinstance(row, WebElement)
        assert browser.current_url.endswith("/dashboard/events")  # never reloaded
        event_id = row.text.split()[0]
        row.find_element(By.TAG_NAME, "a").click()
        assert heading(browser) == f"Event {event_id}"
        eventually(lambda: event_id in app.ids(), within=30, what="the first delivery")
        click_button(browser, "Resend")
        notice(browser)
        eventually(lambda: app.ids().count(event_id) >= 2, within=30, what="the resent delivery")
        browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
        wait(browser).until(lambda d: "/dashboard/login" in d.current_url)
