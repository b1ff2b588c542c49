"""services/events/service/urls.py: where a live webhook may go, judged without a server
(the service applying it: tests/events/test_ssrf.py)."""

from __future__ import annotations

import ipaddress

import pytest

from services.events.errors import UrlNotAllowedError
from services.events.service import urls
from tests.support.dns import TableResolver
from tests.support.ssrf import ALLOWED_URLS, PUBLIC, REFUSED_URLS


class TestTheAllowList:
    """The rule itself, without a server: every form, both ways."""

    @pytest.mark.parametrize("url", REFUSED_URLS)
    def test_refused(self, url: str) -> None:
        def judge() -> None:
            urls.check_syntax(url)
            urls.refuse_host(urls.host_of(url))

        with pytest.raises((UrlNotAllowedError, urls.DestinationRefusedError)):
            judge()

    @pytest.mark.parametrize("url", ALLOWED_URLS)
    def test_allowed(self, url: str) -> None:
        urls.check_syntax(url)
        urls.refuse_host(urls.host_of(url))

    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("::ffff:127.0.0.1", "127.0.0.1, loopback"),
            ("::127.0.0.1", "127.0.0.1, loopback"),
            ("64:ff9b::7f00:1", "127.0.0.1, loopback"),
            ("2002:7f00:1::", "127.0.0.1, loopback"),
            # Teredo's client is the last 32 bits inverted; its server, bits 32-63.
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1, loopback"),
            ("2001:0:a00:1::", "10.0.0.1, private-use"),
            ("fe80::1", "not a global unicast address"),
            ("2001:db8::1", "documentation"),
            ("169.254.169.254", "link-local"),
        ],
    )
    def test_the_reason_names_the_real_address(self, address: str, reason: str) -> None:
        found = urls.address_refusal(ipaddress.ip_address(address))
        assert found is not None
        assert reason in found

    def test_every_resolved_address_counts(self) -> None:
        urls.refuse_addresses("hooks.example.com", [PUBLIC, "2606:4700:4700::1111"])
        with pytest.raises(urls.DestinationRefusedError, match=r"resolving to 127\.0\.0\.1"):
            urls.refuse_addresses("hooks.example.com", [PUBLIC, "127.0.0.1"])
        with pytest.raises(urls.DestinationRefusedError, match="::1"):
            urls.refuse_addresses("hooks.example.com", ["::1"])


class TestSyntax:
    """Any mode: an absolute http(s) URL with a host, or a 400 saying what is wrong."""

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://example.com/" + "a" * 2048, "longer than 2048 characters"),
            ("http://ex ample.com/", "spaces or control characters"),
            ("http://example.com/\x00", "spaces or control characters"),
            ("http://example.com\\@127.0.0.1/", "backslash"),
            ("http://[::1/", "not a valid URL"),
            ("http://example.com:99999/", "not a valid URL"),
            ("ftp://example.com/", "must start with http:// or https://"),
            ("mailto:someone@example.com", "must start with http:// or https://"),
            ("http:///path", "has no host"),
            ("http://example.com:0/", "no valid port"),
        ],
    )
    def test_refused_with_the_reason(self, url: str, message: str) -> None:
        with pytest.raises(UrlNotAllowedError, match=message) as caught:
            urls.check_syntax(url)
        assert (caught.value.code, caught.value.param) == ("url_not_allowed", "url")

    @pytest.mark.parametrize(
        "url", ["https://example.com/hook", "HTTP://Example.com:8080/a?b=c", "http://[::1]/"]
    )
    def test_accepted_as_written(self, url: str) -> None:
        assert urls.check_syntax(url) == url


class TestHosts:
    @pytest.mark.parametrize(
        ("url", "host"),
        [
            ("http://Example.COM./x", "example.com"),
            ("http://[::1]:80/", "::1"),
            ("http://user:pass@hooks.example/", "hooks.example"),
        ],
    )
    def test_the_host_connected_to(self, url: str, host: str) -> None:
        assert urls.host_of(url) == host

    @pytest.mark.parametrize(
        ("host", "address"),
        [
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("10.1", "10.0.0.1"),
        ],
    )
    def test_legacy_ipv4_forms_are_read_as_the_resolver_reads_them(
        self, host: str, address: str
    ) -> None:
        assert str(urls.legacy_ipv4(host)) == address
        assert urls.host_refusal(host) == (
            f"IPv4 address {address} in a non-standard form; write it as a.b.c.d"
        )

    @pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "deadbeef", ""])
    def test_names_are_not_legacy_ipv4(self, host: str) -> None:
        assert urls.legacy_ipv4(host) is None

    @pytest.mark.parametrize("host", ["localhost", "api.localhost", "db.internal", "x.home.arpa"])
    def test_local_names(self, host: str) -> None:
        assert urls.host_refusal(host) == "a name that only resolves locally"

    @pytest.mark.parametrize("host", ["localhostx.com", "internal.example.com", "8.8.8.8"])
    def test_names_that_only_look_local(self, host: str) -> None:
        assert urls.host_refusal(host) is None


def policy(resolver: TableResolver | None, *, allow_private_live: bool = False) -> urls.UrlPolicy:
    return urls.UrlPolicy(resolver=resolver, allow_private_live=allow_private_live)


class TestCheckUrl:
    """What may be saved: syntax in every mode; the allow-list in live mode only."""

    async def test_test_mode_reaches_the_developers_machine(self) -> None:
        url = "http://127.0.0.1:4242/hook"
        assert await urls.check_url(url, livemode=False, policy=policy(None)) == url

    async def test_test_mode_still_checks_the_syntax(self) -> None:
        with pytest.raises(UrlNotAllowedError, match="http:// or https://"):
            await urls.check_url("ftp://127.0.0.1/", livemode=False, policy=policy(None))

    async def test_live_mode_refuses_a_private_host(self) -> None:
        with pytest.raises(UrlNotAllowedError, match="live webhooks only go to public"):
            await urls.check_url("http://10.0.0.1/", livemode=True, policy=policy(None))

    async def test_a_deployment_may_allow_private_live_urls(self) -> None:
        url = "http://10.0.0.1/hook"
        allowed = policy(None, allow_private_live=True)
        assert await urls.check_url(url, livemode=True, policy=allowed) == url

    async def test_a_name_is_judged_by_what_it_resolves_to(self) -> None:
        dns = TableResolver({"hooks.example.com": [PUBLIC], "sneaky.example.com": ["::1"]})
        good = "https://hooks.example.com/hook"
        assert await urls.check_url(good, livemode=True, policy=policy(dns)) == good
        with pytest.raises(UrlNotAllowedError, match=r"resolving to ::1, loopback"):
            await urls.check_url("https://sneaky.example.com/", livemode=True, policy=policy(dns))

    async def test_without_a_resolver_only_the_host_as_written_counts(self) -> None:
        url = "https://sneaky.example.com/"
        assert await urls.check_url(url, livemode=True, policy=policy(None)) == url

    async def test_a_name_that_does_not_resolve_now_is_accepted(self) -> None:
        dns = TableResolver()
        url = "https://later.example.com/"
        assert await urls.check_url(url, livemode=True, policy=policy(dns)) == url
        assert dns.lookups == ["later.example.com"]


class TestGuardedResolver:
    """What the live delivery session connects to: every address of a name, checked."""

    async def test_public_answers_pass_through(self) -> None:
        guarded = urls.GuardedResolver(TableResolver({"hooks.example.com": [PUBLIC]}))
        found = await guarded.resolve("hooks.example.com", 443)
        assert [(result["host"], result["port"]) for result in found] == [(PUBLIC, 443)]

    async def test_one_refused_address_refuses_the_name(self) -> None:
        dns = TableResolver({"mixed.example.com": [PUBLIC, "169.254.169.254"]})
        with pytest.raises(urls.DestinationRefusedError, match=r"169\.254\.169\.254, link-local"):
            await urls.GuardedResolver(dns).resolve("mixed.example.com")

    async def test_a_local_name_is_refused_before_any_lookup(self) -> None:
        dns = TableResolver({"localhost": ["127.0.0.1"]})
        with pytest.raises(urls.DestinationRefusedError, match="only resolves locally"):
            await urls.GuardedResolver(dns).resolve("LOCALHOST.")
        assert dns.lookups == []
