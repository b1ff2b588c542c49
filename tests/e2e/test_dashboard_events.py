"""The dashboard's events and webhook endpoints, against the whole stack: a payment's event
arrives in the live tail without a reload, its page shows the exact payload and the delivery
to a real receiver, resend makes a second attempt; an endpoint's secret is shown once, on
the page that made or rolled it. Without JavaScript: the stream refuses a signed-out client,
keeps to its tenant and ends at sign-out; forms need their CSRF token; another tenant's ids
are the 404 page; a bad URL is refused readably and creates nothing."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.accounts import Account, create_key, key_headers, register, signup_user
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
from tests.support.endpoint_app import pay, receiver
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,}")


def signed_in(stack: RunningStack, owner: Account) -> DashboardClient:
    client = DashboardClient(stack.gateway)
    response = client.sign_in(owner.email)
    assert response.status_code == 200, response.text
    return client


def csrf(client: DashboardClient) -> str:
    return form_to(client.get("/dashboard/webhooks/new").text, "/dashboard/webhooks/new")[
        "csrf_token"
    ]


def an_event(gw: httpx.Client, headers: dict[str, str], intent_id: str) -> dict[str, Any]:
    """The payment's `payment_intent.succeeded` event, once the events service has it."""

    def find() -> dict[str, Any] | None:
        listed = gw.get("/events", params={"type": "payment_intent.succeeded"}, headers=headers)
        assert listed.status_code == 200, listed.text
        for event in listed.json()["data"]:
            if event["data"]["object"]["id"] == intent_id:
                found: dict[str, Any] = event
                return found
        return None

    return eventually(find, within=30, what=f"the event of {intent_id}")


def attempts(gw: httpx.Client, headers: dict[str, str], event_id: str) -> list[dict[str, Any]]:
    response = gw.get(f"/events/{event_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


class TestInTheBrowser:
    def test_live_tail_payload_delivery_resend_and_secret_once(
        self, browser: WebDriver, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        keyed = key_headers(create_key(gw, owner)["secret"])
        base = stack.gateway
        with receiver() as hook:
            sign_in(browser, base, owner.email)
            # An endpoint pointing at the receiver; its secret is on the page that made it.
            browser.get(f"{base}/dashboard/webhooks/new")
            browser.find_element(By.ID, "url").send_keys(hook.url)
            events_field = browser.find_element(By.ID, "enabled_events")
            events_field.clear()
            events_field.send_keys("payment_intent.succeeded")
            screenshot(browser, "webhooks-new")
            click_button(browser, "Add endpoint")
            secret = wait(browser).until(lambda d: d.find_element(By.ID, "secret-value")).text
            assert SECRET.fullmatch(secret)
            hook.secret = secret  # the receiver now verifies every signature with it
            endpoint_id = heading(browser).removeprefix("Webhook endpoint ")
            screenshot(browser, "webhooks-created")

            # The events page, its live tail open before anything happens.
            browser.get(f"{base}/dashboard/events")
            assert heading(browser) == "Events"
            wait(browser).until(
                lambda d: d.find_element(By.ID, "tail-status").text.startswith("Live")
            )
            intent_id = pay(gw, keyed)
            row = wait(browser, 30).until(
                lambda d: next(
                    (
                        r
                        for r in d.find_elements(By.CSS_SELECTOR, "#events tr.fresh")
                        if "payment_intent.succeeded" in r.text
                    ),
                    None,
                )
            )
            assert row is not None
            event_id = str(row.get_attribute("id")).removeprefix("event-")
            assert event_id.startswith("evt_")
            screenshot(browser, "events-tail")

            # Its page: the exact payload, and the delivery once the receiver answered.
            row.find_element(By.TAG_NAME, "a").click()
            assert heading(browser) == f"Event {event_id}"
            payload = browser.find_element(By.ID, "event-payload").text
            assert intent_id in payload
            assert '"type": "payment_intent.succeeded"' in payload

            def delivered(count: int) -> list[str] | None:
                browser.refresh()
                rows = [
                    r.find_element(By.CSS_SELECTOR, "td.status-code").text
                    for r in browser.find_elements(By.CSS_SELECTOR, "tr.attempt")
                ]
                return rows if len(rows) >= count else None

            assert eventually(lambda: delivered(1), within=30, what="the delivery") == ["200"]
            assert hook.ids() == [event_id]
            screenshot(browser, "events-detail")

            click_button(browser, "Resend")
            assert "sent again" in notice(browser)
            assert eventually(lambda: delivered(2), within=30, what="a second attempt") == [
                "200",
                "200",
            ]
            assert hook.ids() == [event_id, event_id]
            assert len(attempts(gw, keyed, event_id)) == 2

            # The endpoint's page: both attempts, with their answers.
            browser.get(f"{base}/dashboard/webhooks/{endpoint_id}")
            assert heading(browser) == f"Webhook endpoint {endpoint_id}"
            shown = browser.find_elements(By.CSS_SELECTOR, "tr.attempt")
            assert len(shown) == 2
            assert all(event_id in r.text and "200" in r.text for r in shown)
            assert secret not in browser.page_source
            screenshot(browser, "webhooks-endpoint")

            # Roll: the new secret once, then never again.
            click_button(browser, "Roll secret")
            rolled = wait(browser).until(lambda d: d.find_element(By.ID, "secret-value")).text
            assert SECRET.fullmatch(rolled)
            assert rolled != secret
            screenshot(browser, "webhooks-rolled")
            browser.get(f"{base}/dashboard/webhooks/{endpoint_id}")
            assert heading(browser) == f"Webhook endpoint {endpoint_id}"
            assert rolled not in browser.page_source
            assert not browser.find_elements(By.ID, "secret-value")
            # A reload of the roll's own address shows the endpoint, the secret hidden.
            browser.get(f"{base}/dashboard/webhooks/{endpoint_id}/roll")
            assert heading(browser) == f"Webhook endpoint {endpoint_id}"
            assert rolled not in browser.page_source

            browser.get(f"{base}/dashboard/webhooks/{endpoint_id}/edit")
            assert heading(browser) == "Edit webhook endpoint"
            assert browser.find_element(By.ID, "url").get_attribute("value") == hook.url
            screenshot(browser, "webhooks-edit")
            browser.get(f"{base}/dashboard/webhooks")
            assert hook.url in browser.find_element(By.ID, f"endpoint-{endpoint_id}").text
            screenshot(browser, "webhooks-list")


class TestTheStream:
    def test_signed_out_and_plain_users_are_refused(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        with DashboardClient(stack.gateway) as anonymous:
            response = anonymous.get("/dashboard/events/stream")
            assert response.status_code == 401
            assert "text/event-stream" not in response.headers.get("content-type", "")
        owner = register(gw)
        user = signup_user(gw, owner)
        with DashboardClient(stack.gateway) as client:
            client.sign_in(user.email)  # sent on to its wallets (another area's page)
            assert client.get("/dashboard/events/stream").status_code == 404
            assert client.get("/dashboard/events").status_code == 404

    def test_only_its_tenants_events_and_it_ends_at_sign_out(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        mine, theirs = register(gw), register(gw)
        my_key = key_headers(create_key(gw, mine)["secret"])
        their_key = key_headers(create_key(gw, theirs)["secret"])
        client = signed_in(stack, mine)
        with client, client.http.stream("GET", "/dashboard/events/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")  # the tail is open: from now on
            their_intent = pay(gw, their_key)
            my_intent = pay(gw, my_key)
            seen: list[dict[str, Any]] = []
            for line in lines:
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
                    if any(e["data"]["object"].get("id") == my_intent for e in seen):
                        break
            assert {e["tenant_id"] for e in seen} == {mine.tenant_id}
            assert all(their_intent not in str(e) for e in seen)
            assert all({"id", "type", "created"} <= set(e) for e in seen)

            # Signing out (here, from another tab) ends the stream.
            other = DashboardClient(stack.gateway)
            other.http.cookies = client.http.cookies
            done = threading.Event()

            def sign_out() -> None:
                response = other.submit("/dashboard/webhooks", "/dashboard/logout")
                assert response.status_code == 200
                done.set()

            threading.Thread(target=sign_out, daemon=True).start()
            rest = list(lines)  # returns once the server closes the stream
            assert done.wait(10)
            assert "event: ended" in rest
            other.http.close()
        with DashboardClient(stack.gateway) as again:
            again.http.cookies = client.http.cookies
            assert again.get("/dashboard/events/stream").status_code == 401


class TestWithoutJavaScript:
    def test_forms_without_csrf_are_403(self, stack: RunningStack, gw: httpx.Client) -> None:
        owner = register(gw)
        made = gw.post(
            "/webhook_endpoints",
            json={"url": "https://example.com/hook", "enabled_events": ["*"]},
            headers=owner.headers,
        ).json()
        with signed_in(stack, owner) as client:
            for action in (
                "/dashboard/events/evt_01abc/resend",
                f"/dashboard/webhooks/{made['id']}/resend",
                f"/dashboard/webhooks/{made['id']}/roll",
                f"/dashboard/webhooks/{made['id']}/disable",
                f"/dashboard/webhooks/{made['id']}/delete",
                "/dashboard/webhooks/new",
            ):
                response = client.http.post(action, data={"event_id": "evt_01abc"})
                assert response.status_code == 403, action
                assert "Forbidden" in response.text
                assert not SECRET.search(response.text)
        found = gw.get(f"/webhook_endpoints/{made['id']}", headers=owner.headers)
        assert found.json()["status"] == "enabled"
        assert len(gw.get("/webhook_endpoints", headers=owner.headers).json()["data"]) == 1

    def test_another_tenants_event_or_endpoint_is_the_404_page(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        mine, theirs = register(gw), register(gw)
        their_key = key_headers(create_key(gw, theirs)["secret"])
        endpoint = gw.post(
            "/webhook_endpoints",
            json={"url": "https://example.com/hook", "enabled_events": ["*"]},
            headers=theirs.headers,
        ).json()
        event = an_event(gw, their_key, pay(gw, their_key))
        with signed_in(stack, mine) as client:
            token = csrf(client)
            for path in (
                f"/dashboard/events/{event['id']}",
                f"/dashboard/webhooks/{endpoint['id']}",
                f"/dashboard/webhooks/{endpoint['id']}/edit",
                "/dashboard/events/evt_nope",
                "/dashboard/webhooks/we_nope",
            ):
                response = client.get(path)
                assert response.status_code == 404, path
                assert "Not found" in text_of(response.text)
            for action, fields in (
                (f"/dashboard/events/{event['id']}/resend", {}),
                (f"/dashboard/webhooks/{endpoint['id']}/resend", {"event_id": event["id"]}),
                (f"/dashboard/webhooks/{endpoint['id']}/disable", {}),
                (f"/dashboard/webhooks/{endpoint['id']}/roll", {}),
                (f"/dashboard/webhooks/{endpoint['id']}/delete", {}),
                (f"/dashboard/webhooks/{endpoint['id']}/edit", {"url": "https://evil.example"}),
            ):
                response = client.http.post(action, data={"csrf_token": token, **fields})
                assert response.status_code == 404, action
                assert not SECRET.search(response.text)
        # Nothing of theirs changed: still enabled, same URL, no second delivery owed.
        still = gw.get(f"/webhook_endpoints/{endpoint['id']}", headers=theirs.headers).json()
        assert (still["status"], still["url"]) == ("enabled", "https://example.com/hook")

    @pytest.mark.parametrize(
        ("url", "events"),
        [
            ("", "*"),
            ("ftp://example.com/hook", "*"),
            ("javascript:alert(1)", "*"),
            ("not a url", "*"),
            ("https://example.com/hook", ""),
            ("https://example.com/hook", "not an event type!"),
        ],
    )
    def test_bad_endpoints_are_refused_readably(
        self, stack: RunningStack, gw: httpx.Client, url: str, events: str
    ) -> None:
        owner = register(gw)
        with signed_in(stack, owner) as client:
            response = client.submit(
                "/dashboard/webhooks/new",
                "/dashboard/webhooks/new",
                url=url,
                enabled_events=events,
            )
            assert response.status_code == 400, response.text
            page = text_of(response.text)
            assert "Add a webhook endpoint" in page
            assert re.search(r'<p class="error" role="alert">[^<]{10,}', response.text)
            assert not SECRET.search(response.text)
            # The form keeps what was typed.
            assert form_to(response.text, "/dashboard/webhooks/new")["url"] == url
        listed = gw.get("/webhook_endpoints", headers=owner.headers).json()
        assert listed["data"] == []

    def test_secret_only_on_the_page_that_made_or_rolled_it(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        with signed_in(stack, owner) as client:
            made = client.submit(
                "/dashboard/webhooks/new",
                "/dashboard/webhooks/new",
                url="https://example.com/hook",
                enabled_events="payment_intent.succeeded, refund.*",
                description="Orders",
            )
            assert made.status_code == 200, made.text
            [secret] = set(SECRET.findall(made.text))
            [endpoint] = gw.get("/webhook_endpoints", headers=owner.headers).json()["data"]
            assert endpoint["enabled_events"] == ["payment_intent.succeeded", "refund.*"]
            page = f"/dashboard/webhooks/{endpoint['id']}"

            def everywhere() -> list[str]:
                return [
                    client.get(path).text
                    for path in (
                        page,
                        f"{page}/edit",
                        "/dashboard/webhooks",
                        "/dashboard/events",
                        "/dashboard/",
                    )
                ]

            assert all(secret not in html and not SECRET.search(html) for html in everywhere())
            rolled = client.submit(page, f"{page}/roll", expires_in="3600")
            assert rolled.status_code == 200
            [new] = set(SECRET.findall(rolled.text))
            assert new != secret
            assert "previous one still signs until" in text_of(rolled.text)
            assert all(not SECRET.search(html) for html in everywhere())

    def test_edit_disable_enable_and_delete(self, stack: RunningStack, gw: httpx.Client) -> None:
        owner = register(gw)
        made = gw.post(
            "/webhook_endpoints",
            json={"url": "https://example.com/hook", "enabled_events": ["*"]},
            headers=owner.headers,
        ).json()
        page = f"/dashboard/webhooks/{made['id']}"

        def api() -> dict[str, Any]:
            body: dict[str, Any] = gw.get(
                f"/webhook_endpoints/{made['id']}", headers=owner.headers
            ).json()
            return body

        with signed_in(stack, owner) as client:
            saved = client.submit(
                f"{page}/edit",
                f"{page}/edit",
                url="https://example.com/other",
                enabled_events="payout.*",
                description="Payouts",
            )
            assert saved.status_code == 200
            assert "Endpoint saved." in text_of(saved.text)
            assert (api()["url"], api()["enabled_events"]) == (
                "https://example.com/other",
                ["payout.*"],
            )
            refused = client.submit(f"{page}/edit", f"{page}/edit", url="gopher://x")
            assert refused.status_code == 400
            assert api()["url"] == "https://example.com/other"

            off = client.submit(page, f"{page}/disable")
            assert "disabled" in text_of(off.text)
            assert api()["status"] == "disabled"
            on = client.submit(page, f"{page}/enable")
            assert "Endpoint enabled." in text_of(on.text)
            assert api()["status"] == "enabled"

            gone = client.submit(page, f"{page}/delete")
            assert f"Endpoint {made['id']} deleted." in text_of(gone.text)
            assert made["id"] not in gone.text.replace(f"Endpoint {made['id']} deleted.", "")
            assert (
                gw.get(f"/webhook_endpoints/{made['id']}", headers=owner.headers).status_code == 404
            )
            assert client.get(page).status_code == 404

    def test_the_log_filters_by_type_and_pages(self, stack: RunningStack, gw: httpx.Client) -> None:
        owner = register(gw)
        keyed = key_headers(create_key(gw, owner)["secret"])
        intents = [pay(gw, keyed) for _ in range(2)]
        for intent in intents:
            an_event(gw, keyed, intent)
        with signed_in(stack, owner) as client:
            listed = client.get("/dashboard/events?type=payment_intent.succeeded")
            assert listed.status_code == 200
            rows = re.findall(
                r'<tr id="event-(evt_[a-z0-9]+)">\s*<td>.*?</td>\s*<td>([^<]+)</td>', listed.text
            )
            assert len(rows) == 2
            assert {kind for _, kind in rows} == {"payment_intent.succeeded"}
            tail = re.search(r'data-tail="/dashboard/events/stream\?([^"]+)"', listed.text)
            assert tail is not None
            assert "type=payment_intent.succeeded" in tail.group(1)
            assert re.search(r"after=\d+-\d+", tail.group(1))
            bad = client.get("/dashboard/events?type=not a type")
            assert bad.status_code == 200
            assert 'class="error"' in bad.text
            everything = client.get("/dashboard/events")
            ids = re.findall(r'<tr id="event-(evt_[a-z0-9]+)">', everything.text)
            assert len(ids) > 2
            # An older page, by the link a person follows; no live tail there.
            response = gw.get("/events", params={"limit": 1}, headers=keyed)
            first = response.json()["data"][0]["id"]
            older = client.get(f"/dashboard/events?starting_after={first}")
            assert first not in re.findall(r'<tr id="event-(evt_[a-z0-9]+)">', older.text)
            assert "data-tail" not in older.text
            assert "Newer</a>" in older.text

    def test_a_failing_receivers_answers_are_shown(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        keyed = key_headers(create_key(gw, owner)["secret"])
        with receiver() as hook:  # it knows no secret: every delivery is answered 400
            made = gw.post(
                "/webhook_endpoints",
                json={"url": hook.url, "enabled_events": ["payment_intent.succeeded"]},
                headers=owner.headers,
            ).json()
            event = an_event(gw, keyed, pay(gw, keyed))
            with signed_in(stack, owner) as client:

                def shown() -> str | None:
                    html = client.get(f"/dashboard/webhooks/{made['id']}").text
                    return html if 'class="attempt"' in html else None

                page = text_of(eventually(shown, within=30, what="the failed attempt"))
                assert event["id"] in page
                assert "failed" in page
                assert "HTTP 400: " in page  # the start of the receiver's answer
                detail = text_of(client.get(f"/dashboard/events/{event['id']}").text)
                assert made["id"] in detail
                assert "HTTP 400: " in detail
