"""The dashboard's wallets and ledger pages, against the whole stack: a tenant admin opens a
wallet from the form, sees the money put in through the API as its balance and history,
freezes and unfreezes it, and reads the ledger (accounts, transactions, a trial balance that
says "balanced" with the API's own sums); a USER sees its own wallets and nothing else; bad
input, a missing CSRF token and another tenant's ids are refused with nothing changed."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from gateway.dashboard.formats import money
from tests.e2e.accounts import Account, register, signup_user
from tests.e2e.stack import RunningStack
from tests.support.dashboard import (
    DashboardClient,
    click_button,
    form_to,
    heading,
    left_the_page,
    notice,
    screenshot,
    sign_in,
    text_of,
    wait,
)

pytestmark = pytest.mark.e2e


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def open_wallet(gw: httpx.Client, who: Account, **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = ok(
        gw.post("/wallet", json={"currency": "usd", **body}, headers=who.headers), 201
    )
    return found


def deposit(gw: httpx.Client, who: Account, wallet_id: str, amount: int) -> None:
    headers = {**who.headers, "Idempotency-Key": f"dep-{secrets.token_hex(6)}"}
    done = ok(gw.post("/wallet/deposit", json={"wallet_id": wallet_id, "amount": amount},
                      headers=headers))  # fmt: skip
    assert done["status"] == "succeeded", done


def status_of(gw: httpx.Client, who: Account, wallet_id: str) -> str:
    found: str = ok(gw.get(f"/wallet/{wallet_id}", headers=who.headers))["status"]
    return found


def signed_in(stack: RunningStack, who: Account) -> DashboardClient:
    client = DashboardClient(stack.gateway)
    assert client.sign_in(who.email).status_code == 200
    return client


def csrf_of(client: DashboardClient) -> str:
    """The session's CSRF token, as any of its pages draws it (the sign-out form)."""
    return form_to(client.get("/dashboard/wallets").text, "/dashboard/logout")["csrf_token"]


def press(browser: WebDriver, label: str) -> None:
    """Press a form's button and wait for the page it leads to (not the one it was on)."""
    page = browser.find_element(By.TAG_NAME, "main")
    click_button(browser, label)
    wait(browser).until(lambda _: left_the_page(page))


def follow(browser: WebDriver, link: WebElement) -> None:
    """Follow a link and wait for the page it leads to."""
    page = browser.find_element(By.TAG_NAME, "main")
    link.click()
    wait(browser).until(lambda _: left_the_page(page))


def badge(browser: WebDriver) -> str:
    return str(browser.find_element(By.ID, "wallet-status").text)


class TestInABrowser:
    def test_an_admin_opens_funds_freezes_a_wallet_and_reads_the_ledger(
        self, stack: RunningStack, gw: httpx.Client, browser: WebDriver
    ) -> None:
        owner = register(gw)
        sign_in(browser, stack.gateway, owner.email)

        # Open a wallet from the form.
        browser.get(f"{stack.gateway}/dashboard/wallets")
        assert heading(browser) == "Wallets"
        browser.find_element(By.ID, "owner").send_keys("customer_42")
        browser.find_element(By.ID, "currency").send_keys("usd")
        press(browser, "Open wallet")
        wait(browser).until(lambda d: "/dashboard/wallets/wal_" in d.current_url)
        wallet_id = browser.current_url.rsplit("/", 1)[-1]
        assert f"Wallet {wallet_id} opened (USD)" in notice(browser)
        wallet = ok(gw.get(f"/wallet/{wallet_id}", headers=owner.headers))
        assert (wallet["owner"], wallet["currency"]) == ("customer_42", "usd")

        # Money put in through the API: the balance and the history line on the page.
        deposit(gw, owner, wallet_id, 5000)
        browser.refresh()
        assert heading(browser) == f"Wallet {wallet_id}"
        assert browser.find_element(By.ID, "available").text == "50.00 USD"
        rows = browser.find_elements(By.CSS_SELECTOR, "#history-table tbody tr")
        assert len(rows) == 1
        assert "deposit" in rows[0].text
        assert "50.00 USD" in rows[0].text
        assert "succeeded" in rows[0].text
        assert badge(browser) == "active"
        screenshot(browser, "wallets-detail")

        # Freeze and unfreeze: the badge says it, and the API agrees.
        press(browser, "Freeze wallet")
        assert "is frozen" in notice(browser)
        assert badge(browser) == "frozen"
        assert status_of(gw, owner, wallet_id) == "frozen"
        screenshot(browser, "wallets-frozen")
        press(browser, "Unfreeze wallet")
        assert "active again" in notice(browser)
        assert badge(browser) == "active"
        assert status_of(gw, owner, wallet_id) == "active"

        # The list has it.
        browser.get(f"{stack.gateway}/dashboard/wallets")
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-wallet='{wallet_id}']")
        assert "customer_42" in row.text
        assert "USD" in row.text
        assert "active" in row.text
        screenshot(browser, "wallets-list")

        # The ledger: the wallet's account with its balance, the trial balance balanced.
        browser.get(f"{stack.gateway}/dashboard/ledger")
        assert heading(browser) == "Ledger"
        assert browser.find_element(By.ID, "trial-summary").text == "balanced"
        account = browser.find_element(
            By.CSS_SELECTOR, f"tr[data-account='{wallet['ledger_account_id']}']"
        )
        assert "50.00 USD" in account.text
        screenshot(browser, "ledger-accounts")

        follow(browser, browser.find_element(By.LINK_TEXT, "see the sums"))
        assert heading(browser) == "Trial balance"
        assert "balanced" in browser.find_element(By.ID, "trial-verdict").text
        trial = ok(gw.get("/ledger/trial_balance", headers=owner.headers))
        assert trial["balanced"] is True
        (usd,) = [line for line in trial["currencies"] if line["currency"] == "usd"]
        assert usd["debits"] == usd["credits"] >= 5000
        line = browser.find_element(By.CSS_SELECTOR, "#trial-balance tr[data-currency='usd']")
        cells = [cell.text for cell in line.find_elements(By.CSS_SELECTOR, "td")]
        assert cells[1] == cells[2] == money(usd["debits"], "usd")
        assert cells[3] == "0.00 USD"
        assert cells[4] == money(usd["debit_balances"], "usd")
        assert cells[5] == money(usd["credit_balances"], "usd")
        assert usd["debit_balances"] == usd["credit_balances"]
        assert cells[6] == "balanced"
        screenshot(browser, "ledger-trial-balance")

        browser.get(f"{stack.gateway}/dashboard/ledger/accounts/{wallet['ledger_account_id']}")
        assert browser.find_element(By.ID, "posted").text == "50.00 USD"
        entries = browser.find_elements(By.CSS_SELECTOR, "#entries tbody tr")
        assert len(entries) == 1
        assert "credit" in entries[0].text
        screenshot(browser, "ledger-account")
        follow(browser, entries[0].find_element(By.CSS_SELECTOR, "a"))
        assert heading(browser).startswith("Transaction txn_")
        assert "posted" in browser.find_element(By.TAG_NAME, "main").text
        screenshot(browser, "ledger-transaction")

        browser.get(f"{stack.gateway}/dashboard/ledger/transactions")
        assert heading(browser) == "Ledger transactions"
        assert browser.find_elements(By.CSS_SELECTOR, "#transactions tbody tr")
        screenshot(browser, "ledger-transactions")

    def test_a_user_sees_its_own_wallets_and_nothing_else(
        self, stack: RunningStack, gw: httpx.Client, browser: WebDriver
    ) -> None:
        owner = register(gw)
        ada, bob = signup_user(gw, owner), signup_user(gw, owner)
        mine = open_wallet(gw, ada)
        theirs = open_wallet(gw, bob)
        tenants = open_wallet(gw, owner)
        deposit(gw, ada, mine["id"], 1234)

        sign_in(browser, stack.gateway, ada.email)
        wait(browser).until(lambda d: d.current_url.endswith("/dashboard/wallets"))
        assert heading(browser) == "Wallets"
        menu = browser.find_element(By.CSS_SELECTOR, "header nav").text
        assert menu.split() == ["Wallets"]
        shown = [
            row.get_attribute("data-wallet")
            for row in browser.find_elements(By.CSS_SELECTOR, "#wallets tbody tr")
        ]
        assert shown == [mine["id"]]
        assert not browser.find_elements(By.ID, "owner")  # no opening wallets for others
        screenshot(browser, "wallets-user")

        follow(browser, browser.find_element(By.LINK_TEXT, mine["id"]))
        assert heading(browser) == f"Wallet {mine['id']}"
        assert browser.find_element(By.ID, "available").text == "12.34 USD"
        assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Freeze wallet']")

        refused = [
            f"/wallets/{theirs['id']}",
            f"/wallets/{tenants['id']}",
            "/ledger",
            "/ledger/trial-balance",
            f"/ledger/accounts/{mine['ledger_account_id']}",
        ]
        for path in refused:
            browser.get(f"{stack.gateway}/dashboard{path}")
            assert heading(browser) == "Not found", path
            assert "wal_" not in browser.find_element(By.TAG_NAME, "main").text
        screenshot(browser, "wallets-not-found")
        # Payments are another helper's page: for a USER it is a 404 whoever serves it.
        with signed_in(stack, ada) as client:
            assert client.get("/dashboard/payments").status_code == 404


class TestWithoutJavaScript:
    def test_freeze_without_its_csrf_token_is_refused(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        wallet = open_wallet(gw, owner)
        with signed_in(stack, owner) as client:
            target = f"/dashboard/wallets/{wallet['id']}/freeze"
            assert client.http.post(target, data={}).status_code == 403
            forged = client.http.post(target, data={"csrf_token": "not-the-token"})
            assert forged.status_code == 403
            assert "expired" in text_of(forged.text)
            assert status_of(gw, owner, wallet["id"]) == "active"
            # With its token, the same form does it.
            done = client.submit(f"/dashboard/wallets/{wallet['id']}", target)
            assert done.status_code == 200
            assert status_of(gw, owner, wallet["id"]) == "frozen"

    def test_another_tenants_wallet_and_accounts_are_not_found(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner, stranger = register(gw), register(gw)
        wallet = open_wallet(gw, owner)
        deposit(gw, owner, wallet["id"], 700)
        (posted, *_) = ok(gw.get("/ledger/transactions", headers=owner.headers))["data"]
        with signed_in(stack, stranger) as client:
            for path in (
                f"/wallets/{wallet['id']}",
                f"/ledger/accounts/{wallet['ledger_account_id']}",
                f"/ledger/transactions/{posted['id']}",
                "/wallets/not%20an%20id",
            ):
                seen = client.get(f"/dashboard{path}")
                assert seen.status_code == 404, path
                assert "Not found" in text_of(seen.text)
                assert "7.00" not in seen.text
            csrf = csrf_of(client)
            for action in ("freeze", "unfreeze"):
                refused = client.http.post(
                    f"/dashboard/wallets/{wallet['id']}/{action}", data={"csrf_token": csrf}
                )
                assert refused.status_code == 404
            # Its own ledger knows nothing of the other tenant's money.
            own = text_of(client.get("/dashboard/ledger").text)
            assert wallet["ledger_account_id"] not in own
        assert status_of(gw, owner, wallet["id"]) == "active"

    def test_a_user_freezes_nothing_and_opens_only_its_own_wallet(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        ada = signup_user(gw, owner)
        mine = open_wallet(gw, ada)
        with signed_in(stack, ada) as client:
            refused = client.http.post(
                f"/dashboard/wallets/{mine['id']}/freeze", data={"csrf_token": csrf_of(client)}
            )
            assert refused.status_code == 404
            # Opening one for someone else is the API's refusal, said on the page.
            other = client.submit("/dashboard/wallets", "/dashboard/wallets/new",
                                  currency="usd", owner="someone_else")  # fmt: skip
            assert other.status_code == 403
            assert "someone else" in text_of(other.text)
            made = client.submit("/dashboard/wallets", "/dashboard/wallets/new", currency="eur")
            assert made.status_code == 200
            assert "opened (EUR)" in text_of(made.text)
        assert status_of(gw, ada, mine["id"]) == "active"
        owners = {w["owner"] for w in ok(gw.get("/wallet", headers=owner.headers))["data"]}
        assert owners == {ada.user_id}

    @pytest.mark.parametrize(
        ("currency", "said"),
        [
            pytest.param("", "Missing required param: currency", id="missing"),
            pytest.param("xyz", "not a supported ISO-4217 currency code", id="unknown"),
            pytest.param("us dollars", "Invalid currency", id="nonsense"),
        ],
    )
    def test_bad_wallet_input_is_said_and_nothing_is_made(
        self, stack: RunningStack, gw: httpx.Client, currency: str, said: str
    ) -> None:
        owner = register(gw)
        with signed_in(stack, owner) as client:
            answer = client.submit("/dashboard/wallets", "/dashboard/wallets/new",
                                   owner="customer_1", currency=currency)  # fmt: skip
            assert answer.status_code == 400
            page = text_of(answer.text)
            assert said in page
            assert 'role="alert"' in answer.text
            assert 'aria-describedby="currency-help wallet-error"' in answer.text
            # What was typed stays in the form, to be mended.
            assert form_to(answer.text, "/dashboard/wallets/new")["owner"] == "customer_1"
        assert ok(gw.get("/wallet", headers=owner.headers))["data"] == []

    def test_the_wallet_list_pages(self, stack: RunningStack, gw: httpx.Client) -> None:
        owner = register(gw)
        for n in range(21):
            open_wallet(gw, owner, owner=f"customer_{n}")
        # The order is the API's (newest first); the page shows 20 of them.
        listed = [w["id"] for w in ok(gw.get("/wallet?limit=21", headers=owner.headers))["data"]]
        with signed_in(stack, owner) as client:
            first = client.get("/dashboard/wallets").text
            assert all(wallet_id in first for wallet_id in listed[:20])
            assert listed[20] not in first
            assert f"starting_after={listed[19]}" in first  # the "Older" link
            older = client.get(f"/dashboard/wallets?starting_after={listed[19]}").text
            assert listed[20] in older
            assert listed[19] not in older
            assert "Older" not in text_of(older)
            assert f"ending_before={listed[20]}" in older  # the "Newer" link
