"""The SSRF guard's rules (which addresses are public, which URLs may be sent to) and the
signature's checks, without I/O."""

import ipaddress
import time

import pytest

from credit_app.outbound import addresses, signing

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier NAT)
    "0.0.0.0",
    "224.0.0.1",  # multicast, which Python counts as global
    "239.255.255.250",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "240.0.0.1",  # reserved
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_inward_addresses_are_not_public(address):
    assert not addresses.is_public(ipaddress.ip_address(address))
    with pytest.raises(addresses.AddressRefused, match="not on the public internet"):
        addresses.refuse_private([ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address(address)])


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are(address):
    assert addresses.is_public(ipaddress.ip_address(address))


def test_ip_literals_resolve_to_themselves_without_dns():
    assert addresses.resolve("10.0.0.1", 443) == [ipaddress.ip_address("10.0.0.1")]
    assert addresses.resolve("::1", 443) == [ipaddress.ip_address("::1")]


def test_http_is_only_for_development_and_the_url_is_normalized():
    with pytest.raises(addresses.AddressRefused, match="https://"):
        addresses.parse("http://example.com/hook", allow_http=False)
    allowed = addresses.parse("http://LOCALHOST:8000/hook?x=1", allow_http=True)
    assert (addresses.host_of(allowed), addresses.port_of(allowed)) == ("localhost", 8000)
    idn = addresses.parse("https://bücher.example/hook", allow_http=False)
    assert addresses.host_of(idn) == "xn--bcher-kva.example"
    assert addresses.port_of(idn) == 443
    assert addresses.host_of(addresses.parse("https://[::1]/", allow_http=False)) == "::1"
    for refused in ("javascript:alert(1)", "data:text/plain,x", "https://a\tb/", "//x/y"):
        with pytest.raises(addresses.AddressRefused):
            addresses.parse(refused, allow_http=True)


def test_a_signature_checks_secret_body_and_time():
    body = b'{"id":"evt_1"}'
    now = int(time.time())
    header = signing.signature_header("whsec_a", body, now)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert signing.verify("whsec_a", body, header)
    assert not signing.verify("whsec_b", body, header)
    assert not signing.verify("whsec_a", body + b"x", header)
    # Outside the tolerance, either way: a replayed (or pre-dated) delivery.
    assert not signing.verify("whsec_a", body, header, now=now + 301)
    assert not signing.verify("whsec_a", body, header, now=now - 301)
    assert signing.verify("whsec_a", body, header, now=now + 299)
    for garbage in ("", "t=,v1=", "v1=abc", f"t={now}", f"t={now},v1=ü", "t=x,v1=00"):
        assert not signing.verify("whsec_a", body, garbage)
    # Another scheme's signature beside ours is ignored, ours still counts.
    assert signing.verify("whsec_a", body, header + ",v0=deadbeef")
