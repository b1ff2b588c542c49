"""The dashboard's payments pages: a test payment made from the form, found in the list,
opened, refunded (the refund and its ledger posting on the payment's page), the home
chart; and, without JavaScript, what bad input and strangers get."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.e2e.accounts import Account, platform_admin, register
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

pytestmark = pytest.mark.e2e

INTENTS = "/payments/payment_intents"
# What a browser sends for the test payment form's selects (the no-JS client reads inputs'
# values only).
CHOSEN = {"currency": "usd", "payment_method": "pm_card_visa", "capture_method": "automatic"}


def intents_of(gw: httpx.Client, owner: Account, **params: Any) -> list[dict[str, Any]]:
    response = gw.get(INTENTS, params={"limit": 100, **params}, headers=owner.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def pay(gw: httpx.Client, owner: Account, **fields: Any) -> dict[str, Any]:
    body = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    response = gw.post(INTENTS, json={**body, **fields}, headers=owner.headers)
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    return made


def refunds_of(gw: httpx.Client, owner: Account, intent_id: str) -> list[dict[str, Any]]:
    response = gw.get(
        "/payments/refunds", params={"payment_intent": intent_id}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def signed_in(stack: RunningStack, owner: Account) -> DashboardClient:
    client = DashboardClient(stack.gateway)
    assert client.sign_in(owner.email).status_code == 200
    return client


def test_a_test_payment_found_opened_and_refunded(
    stack: RunningStack, gw: httpx.Client, owner: Account, browser: WebDriver
) -> None:
    base = stack.gateway
    sign_in(browser, base, owner.email)
    browser.get(f"{base}/dashboard/payments")
    assert heading(browser) == "Payments"
    browser.find_element(By.ID, "t-amount").send_keys("42.50")
    Select(browser.find_element(By.ID, "t-currency")).select_by_value("usd")
    Select(browser.find_element(By.ID, "t-method")).select_by_value("pm_card_visa")
    click_button(browser, "Make test payment")
    wait(browser).until(lambda d: "/dashboard/payments/pi_" in d.current_url)
    intent_id = browser.current_url.rsplit("/", 1)[-1]
    assert heading(browser) == f"Payment {intent_id}"
    assert "42.50 USD: succeeded" in notice(browser)

    # Found in the list, filtered by status.
    browser.get(f"{base}/dashboard/payments")
    Select(browser.find_element(By.ID, "f-status")).select_by_value("succeeded")
    click_button(browser, "Filter")
    wait(browser).until(lambda d: "status=succeeded" in d.current_url)
    row = browser.find_element(By.XPATH, f"//table//tr[td/a[normalize-space()='{intent_id}']]")
    assert "42.50 USD" in row.text
    assert "succeeded" in row.text
    screenshot(browser, "payments-list")
    browser.find_element(By.LINK_TEXT, intent_id).click()
    wait(browser).until(lambda d: d.current_url.endswith(intent_id))

    # Refunded in full (the amount field left empty).
    click_button(browser, "Refund")
    said = notice(browser)
    assert "42.50 USD: succeeded" in said
    assert "Refund re_" in said
    refund_id = said.split()[1]

    def shown(d: WebDriver) -> bool:
        page = d.find_element(By.TAG_NAME, "main").text
        if refund_id in page and "refund.succeeded" in page and "pi_" in page:
            postings = d.find_elements(By.CSS_SELECTOR, "section [data-transaction]")
            texts = " ".join(p.text for p in postings)
            if refund_id in texts and intent_id in texts:
                return True
        d.refresh()
        return False

    wait(browser, 40).until(shown)
    refund_row = browser.find_element(By.CSS_SELECTOR, f"tr[data-refund='{refund_id}']")
    assert "42.50 USD" in refund_row.text
    assert "succeeded" in refund_row.text
    assert (
        "payment_intent.succeeded"
        in browser.find_element(By.ID, "timeline").find_element(By.XPATH, "..").text
    )
    screenshot(browser, "payments-detail")
    # The API agrees.
    assert [(r["id"], r["amount"], r["status"]) for r in refunds_of(gw, owner, intent_id)] == [
        (refund_id, 4250, "succeeded")
    ]

    # Home: the week's chart has the payment, its figures in words too.
    browser.get(f"{base}/dashboard/")
    chart = browser.find_element(By.CSS_SELECTOR, "figure[data-volume='usd']")
    assert "42.50 USD in 1 succeeded payment" in chart.text
    assert chart.find_elements(By.CSS_SELECTOR, "svg title")
    screenshot(browser, "payments-home")


class TestWithoutJavaScript:
    @pytest.mark.parametrize(
        ("amount", "said"),
        [
            ("", "Enter an amount"),
            ("-5", "is not an amount"),
            ("ten", "is not an amount"),
            ("0", "is not an amount"),
            ("99999999999999", "amount"),
        ],
    )
    def test_bad_amounts_create_nothing(
        self, stack: RunningStack, gw: httpx.Client, owner: Account, amount: str, said: str
    ) -> None:
        with signed_in(stack, owner) as client:
            answer = client.submit(
                "/dashboard/payments", "/dashboard/payments/test", **{**CHOSEN, "amount": amount}
            )
        assert answer.status_code == 400
        text = text_of(answer.text)
        assert said in text, text
        assert "Test payment" in text  # the form again, to mend
        assert intents_of(gw, owner) == []

    def test_a_declined_card_shows_the_decline(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        with signed_in(stack, owner) as client:
            answer = client.submit(
                "/dashboard/payments", "/dashboard/payments/test",
                **{**CHOSEN, "amount": "12.00", "payment_method": "pm_card_chargeDeclined"},
            )  # fmt: skip
        assert answer.status_code == 200, text_of(answer.text)
        assert "/dashboard/payments/pi_" in str(answer.url)
        text = text_of(answer.text)
        assert "Declined: Your card was declined." in text
        assert "generic_decline" in text
        [intent] = intents_of(gw, owner)
        assert intent["status"] == "requires_payment_method"
        assert intent["last_payment_error"]["decline_code"] == "generic_decline"

    def test_another_tenants_payment_is_not_found(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        stranger = register(gw)
        theirs = pay(gw, stranger)
        with signed_in(stack, owner) as client:
            page = client.get(f"/dashboard/payments/{theirs['id']}")
            assert page.status_code == 404
            assert "There is nothing here" in text_of(page.text)
            csrf = form_to(client.get("/dashboard/payments").text, "/dashboard/payments/test")
            refused = client.http.post(
                f"/dashboard/payments/{theirs['id']}/refund",
                data={"csrf_token": csrf["csrf_token"], "amount": ""},
            )
            assert refused.status_code == 404
            for junk in ("volume", "test", "pi_bad!", "x" * 300):
                assert client.get(f"/dashboard/payments/{junk}").status_code == 404
        assert refunds_of(gw, stranger, theirs["id"]) == []

    def test_a_refund_form_without_its_csrf_token_is_refused(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        mine = pay(gw, owner)
        with signed_in(stack, owner) as client:
            fields = form_to(
                client.get(f"/dashboard/payments/{mine['id']}").text,
                f"/dashboard/payments/{mine['id']}/refund",
            )
            del fields["csrf_token"]
            answer = client.http.post(f"/dashboard/payments/{mine['id']}/refund", data=fields)
        assert answer.status_code == 403
        assert refunds_of(gw, owner, mine["id"]) == []

    def test_a_partial_refund_and_a_bad_refund_amount(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        mine = pay(gw, owner, amount=5000)
        page = f"/dashboard/payments/{mine['id']}"
        with signed_in(stack, owner) as client:
            bad = client.submit(page, f"{page}/refund", amount="lots")
            assert "Not refunded:" in text_of(bad.text)
            assert refunds_of(gw, owner, mine["id"]) == []
            good = client.submit(page, f"{page}/refund", amount="12.34")
            assert "of 12.34 USD: succeeded" in text_of(good.text)
            too_much = client.submit(page, f"{page}/refund", amount="40.00")
            assert "Not refunded:" in text_of(too_much.text)
        assert [r["amount"] for r in refunds_of(gw, owner, mine["id"])] == [1234]

    def test_capture_and_cancel(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        held = pay(gw, owner, capture_method="manual")
        other = pay(gw, owner, capture_method="manual")
        assert held["status"] == "requires_capture"
        with signed_in(stack, owner) as client:
            page = f"/dashboard/payments/{held['id']}"
            captured = client.submit(page, f"{page}/capture")
            assert "Payment captured: succeeded." in text_of(captured.text)
            page = f"/dashboard/payments/{other['id']}"
            canceled = client.submit(page, f"{page}/cancel")
            assert "Payment canceled: canceled." in text_of(canceled.text)
        statuses = {i["id"]: i["status"] for i in intents_of(gw, owner)}
        assert statuses == {held["id"]: "succeeded", other["id"]: "canceled"}

    def test_live_mode_has_no_test_payment_form(
        self, stack: RunningStack, gw: httpx.Client, owner: Account
    ) -> None:
        # Live mode is the tenant's once a platform admin turned it on.
        admin = platform_admin(gw)
        on = gw.post(f"/auth/tenants/{owner.tenant_id}/live_mode", json={"enabled": True},
                     headers=admin.headers)  # fmt: skip
        assert on.status_code == 200, on.text
        with signed_in(stack, owner) as client:
            csrf = form_to(client.get("/dashboard/payments").text, "/dashboard/payments/test")
            switched = client.submit("/dashboard/payments", "/dashboard/mode", mode="live")
            assert "Now in live mode" in text_of(switched.text)
            page = client.get("/dashboard/payments")
            assert "Make test payment" not in page.text
            assert "/dashboard/payments/test" not in page.text
            refused = client.http.post(
                "/dashboard/payments/test",
                data={**csrf, "amount": "10.00", "payment_method": "pm_card_visa"},
            )
            assert refused.status_code == 403
            assert "test mode only" in text_of(refused.text)
        assert intents_of(gw, owner) == []

    @pytest.mark.parametrize(
        ("query", "said"),
        [
            ("from=2026-13-40", "is not a date"),
            ("to=yesterday", "is not a date"),
            ("from=2026-12-05&to=2026-12-01", "after the “to” date"),
            ("status=paid", "status"),
        ],
    )
    def test_bad_filters_are_said(
        self, stack: RunningStack, owner: Account, query: str, said: str
    ) -> None:
        with signed_in(stack, owner) as client:
            answer = client.get(f"/dashboard/payments?{query}")
        assert answer.status_code == 400
        assert said in text_of(answer.text)

    def test_filters_and_pages(self, stack: RunningStack, gw: httpx.Client, owner: Account) -> None:
        made = [
            gw.post(INTENTS, json={"amount": 100 + i, "currency": "usd"}, headers=owner.headers)
            for i in range(27)
        ]
        assert all(r.status_code == 200 for r in made)
        ids = [r.json()["id"] for r in made][::-1]
        paid = pay(gw, owner)
        with signed_in(stack, owner) as client:
            first = client.get("/dashboard/payments?status=requires_payment_method")
            assert first.status_code == 200
            assert all(i in first.text for i in ids[:25])
            assert ids[25] not in first.text
            assert paid["id"] not in first.text
            assert f"starting_after={ids[24]}" in first.text
            second = client.get(
                f"/dashboard/payments?status=requires_payment_method&starting_after={ids[24]}"
            )
            assert ids[25] in second.text
            assert ids[26] in second.text
            assert ids[24] not in second.text
            assert "Next page" not in second.text
            today = client.get("/dashboard/payments?provider=simulator&from=2000-01-01")
            assert paid["id"] in today.text
            none = client.get("/dashboard/payments?to=2000-01-01")
            assert "No payments yet" in none.text
