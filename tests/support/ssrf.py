"""Addresses a live webhook may and may not reach (SSRF), each written the way an attacker
would; the unit tests of the rule and the service's tests both walk them."""

from __future__ import annotations

from tests.support.dns import TableResolver

PUBLIC = "93.184.216.34"
# Forms that reach this machine, its network or no one, each written the way an attacker
# would: IPv4 ranges of the special-purpose registry, IPv6 ones, IPv6 forms that embed a
# refused IPv4, legacy numeric IPv4, local names, parser tricks.
REFUSED_URLS = [
    # IPv4 special-purpose blocks.
    "http://0.0.0.0/hook",
    "http://0.1.2.3/hook",
    "http://10.1.2.3/hook",
    "http://100.64.0.1/hook",
    "http://100.127.255.254/hook",
    "http://127.0.0.1:8080/hook",
    "http://127.255.255.254/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://172.16.5.5/hook",
    "http://172.31.255.255/hook",
    "http://192.0.0.9/hook",
    "http://192.0.2.10/hook",
    "http://192.88.99.1/hook",
    "http://192.168.0.10/hook",
    "http://198.18.0.1/hook",
    "http://198.19.255.1/hook",
    "http://198.51.100.7/hook",
    "http://203.0.113.9/hook",
    "http://224.0.0.251/hook",
    "http://239.255.255.250/hook",
    "http://240.0.0.1/hook",
    "http://255.255.255.255/hook",
    # Legacy numeric forms of 127.0.0.1 (and of a private address).
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://0177.0.0.1/hook",
    "http://017700000001/hook",
    "http://10.1/hook",
    "http://0/hook",
    # IPv6 special-purpose blocks and non-global-unicast space.
    "http://[::]/hook",
    "http://[::1]/hook",
    "http://[0:0:0:0:0:0:0:1]/hook",
    "http://[fc00::1]/hook",
    "http://[fd12:3456:789a::1]/hook",
    "http://[fe80::1]/hook",
    "http://[fe80::1%25eth0]/hook",
    "http://[FE80::ABCD%25lo]/hook",
    "http://[fec0::1]/hook",
    "http://[ff02::1]/hook",
    "http://[100::1]/hook",
    "http://[2001:db8::1]/hook",
    "http://[2001:2::1]/hook",
    "http://[2001:10::1]/hook",
    "http://[3fff::1]/hook",
    "http://[5f00::1]/hook",
    "http://[64:ff9b:1::808:808]/hook",
    # IPv6 forms carrying a refused IPv4: mapped, compatible, NAT64, 6to4, Teredo.
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[::127.0.0.1]/hook",
    "http://[::10.0.0.1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[64:ff9b::127.0.0.1]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[2002:a00:1::1]/hook",
    "http://[2002:c0a8:1::]/hook",
    # Teredo: server 65.54.227.120, client ~0x80fffffe = 127.0.0.1.
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    # Teredo: server 10.0.0.1 (bits 32-63), client public.
    "http://[2001:0:a00:1:8000:63bf:a2c9:cbdd]/hook",
    # Local names, whatever the case or a trailing dot.
    "http://localhost/hook",
    "http://localhost./hook",
    "http://LOCALHOST/hook",
    "http://LocalHost.:8080/hook",
    "http://api.localhost/hook",
    "http://printer.local/hook",
    "http://db.internal/hook",
    "http://router.home.arpa/hook",
    # Userinfo and fragments do not change the host that is reached.
    "http://a@127.0.0.1/hook",
    f"http://{PUBLIC}@127.0.0.1/hook",
    f"http://{PUBLIC}:80@127.0.0.1/hook",
    "http://user:pass@[::1]:8080/hook",
    "http://127.0.0.1#@example.com/hook",
    # Uppercase schemes and IPv6 hex.
    "HTTP://127.0.0.1/hook",
    "http://[::FFFF:7F00:1]/hook",
    # A backslash: parsers disagree on where the host ends.
    f"http://{PUBLIC}\\@127.0.0.1/hook",
]
ALLOWED_URLS = [
    f"http://{PUBLIC}/hook",
    f"https://{PUBLIC}:8443/hook",
    f"http://{PUBLIC}./hook",
    "https://8.8.8.8/hook",
    "http://[2606:4700:4700::1111]/hook",
    "http://[2a00:1450:4001:82b::200e]/hook",
    # IPv6 forms of a public IPv4 are judged by it.
    "http://[::ffff:8.8.8.8]/hook",
    "http://[64:ff9b::808:808]/hook",
    "http://[2002:808:808::1]/hook",
    # Teredo: server 65.54.227.120, client 93.184.216.34 inverted.
    "http://[2001:0:4136:e378:8000:63bf:a247:27dd]/hook",
    # Userinfo in front of a public host.
    f"http://127.0.0.1@{PUBLIC}/hook",
    f"http://user:pass@{PUBLIC}/hook",
    # Names are judged by what they resolve to (this table: public).
    "https://hooks.example.com/hook",
    "https://HOOKS.Example.COM./hook",
]


def public_dns() -> TableResolver:
    return TableResolver({"hooks.example.com": [PUBLIC]})
