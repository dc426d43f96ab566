"""Which addresses the crawler may reach: public ones, the listed ones, never cloud metadata."""

from __future__ import annotations

import ipaddress

import pytest

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.infrastructure.http import FetchError, NetworkPolicy, check_url, pinned_request
from llm_engineering.settings import load_settings


def _refusal(policy: str, host: str, address: str) -> str | None:
    return NetworkPolicy(policy).refusal(host, ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("allowed", "host", "address"),
    [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
        ("10.2.0.0/16", "wiki", "10.2.40.7"),
        ("wiki.internal", "wiki.internal", "10.9.9.9"),
        ("WIKI.internal.", "wiki.INTERNAL", "192.168.1.4"),
        ("::1", "::1", "::1"),
        ("", "example.org", "93.184.216.34"),
    ],
)
def test_listed_hosts_and_ranges_and_public_addresses_are_allowed(allowed, host, address):
    assert _refusal(allowed, host, address) is None


@pytest.mark.parametrize(
    ("allowed", "host", "address"),
    [
        ("", "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.2", "127.0.0.2"),  # one address is not its neighbours
        ("10.2.0.0/16", "db", "10.3.0.1"),
        ("wiki.internal", "other.internal", "10.9.9.9"),
        ("", "mapped", "::ffff:127.0.0.1"),
        ("", "cgnat", "100.64.0.1"),
        ("", "ula", "fd12::1"),
    ],
)
def test_everything_else_non_public_is_refused(allowed, host, address):
    assert "CRAWL_ALLOWED_NETWORKS" in _refusal(allowed, host, address)


@pytest.mark.parametrize(
    ("allowed", "host", "address"),
    [
        ("169.254.0.0/16", "169.254.169.254", "169.254.169.254"),
        ("0.0.0.0/0", "metadata", "169.254.169.254"),
        ("metadata.google.internal", "metadata.google.internal", "169.254.169.254"),
        ("::/0", "imds", "fd00:ec2::254"),
        ("::/0", "mapped", "::ffff:169.254.169.254"),
        ("100.64.0.0/10", "alibaba", "100.100.100.200"),
    ],
)
def test_cloud_metadata_is_never_allowed(allowed, host, address):
    assert "cloud metadata" in _refusal(allowed, host, address)


def test_a_name_with_one_refused_address_is_refused(monkeypatch):
    import socket

    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 80)) for a in ("93.184.216.34", "127.0.0.1")]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(FetchError, match="non-public address 127.0.0.1"):
        check_url("http://two-faced.test/", NetworkPolicy(""))


def test_pinned_request_connects_to_the_checked_address_and_keeps_the_name():
    url, headers, extensions = pinned_request("https://user@[::1]:8443/a?b=1", NetworkPolicy("::1"))
    assert url == "https://[::1]:8443/a?b=1" and headers == {"Host": "[::1]:8443"}
    assert extensions == {"sni_hostname": "::1"}
    url, headers, extensions = pinned_request("http://127.0.0.1/x", NetworkPolicy("127.0.0.0/8"))
    assert (url, headers, extensions) == ("http://127.0.0.1/x", {"Host": "127.0.0.1"}, {})


@pytest.mark.parametrize("item", ["10.0.0.0/33", "300.1.1.1", "host name", "http://wiki", "::1/129"])
def test_a_malformed_allow_list_names_the_setting_and_the_item(item):
    with pytest.raises(ConfigurationError, match=r"CRAWL_ALLOWED_NETWORKS.*neither a host name"):
        load_settings(CRAWL_ALLOWED_NETWORKS=f"127.0.0.1, {item}")
