"""ikelab.certs.make_ca(permitted=..., excluded=...): name-constrained CAs for lessons (RFC 5280 4.2.1.10).

The extension is compared with one built by hand with cryptography's x509 classes; chains made with
ikelab.certs are judged by ``verify_chain`` and by ``openssl verify`` (the reference of
tests/test_review_name_constraints.py).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509

from ikelab import cert_checks, certs
from ikelab.errors import AuthenticationError, ConfigError
from ikelab.identity import dn_from_string

from test_review_cert_paths import openssl_accepts
from test_review_name_constraints import needs_openssl

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
ROOT_KEY, CA_KEY = certs.ec_key_from_seed(b"nc root"), certs.ec_key_from_seed(b"nc ca")
ROOT = certs.make_ca("CN=Root", ROOT_KEY)


def _ca(**subtrees) -> x509.Certificate:
    return certs.make_ca("C=CH, O=Example, CN=VPN CA", CA_KEY, issuer=ROOT, issuer_key=ROOT_KEY, **subtrees)


def test_strings_are_typed_as_make_leaf_types_san() -> None:
    ca = _ca(permitted=["vpn.example", ".lab.example", "192.0.2.0/24", "2001:db8::/32", "C=CH, O=Example",
                        "@@example.org", "ops@example.net"],
             excluded=[x509.DNSName("old.vpn.example")])
    ext = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical  # RFC 5280 4.2.1.10: "Conforming CAs MUST mark this extension as critical"
    assert ext.value == x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("vpn.example"), x509.DNSName(".lab.example"),
                            x509.IPAddress(ipaddress.ip_network("192.0.2.0/24")),
                            x509.IPAddress(ipaddress.ip_network("2001:db8::/32")),
                            x509.DirectoryName(dn_from_string("C=CH, O=Example")),
                            x509.RFC822Name("example.org"), x509.RFC822Name("ops@example.net")],
        excluded_subtrees=[x509.DNSName("old.vpn.example")])


def test_without_subtrees_a_ca_has_no_name_constraints() -> None:
    with pytest.raises(x509.ExtensionNotFound):
        _ca().extensions.get_extension_for_class(x509.NameConstraints)


@needs_openssl
@pytest.mark.parametrize("san, inside", [
    ("moon.vpn.example", True), ("vpn.example", True), ("moon.vpn.example.org", False),
    ("old.vpn.example", False), ("192.0.2.7", True), ("198.51.100.7", False),
])
def test_a_chain_made_with_certs_is_judged_as_openssl_judges_it(san: str, inside: bool, tmp_path: Path) -> None:
    ca = _ca(permitted=["vpn.example", "192.0.2.0/24"], excluded=["old.vpn.example"])
    leaf = certs.make_leaf(ca, CA_KEY, "C=CH, O=Example, CN=moon", certs.ec_key_from_seed(b"moon"), san=[san])
    assert openssl_accepts((leaf, [ca], [ROOT], NOW), tmp_path) is inside
    if inside:
        assert cert_checks.verify_chain(leaf, [ca], [ROOT], now=NOW) == [leaf, ca, ROOT]
    else:
        with pytest.raises(AuthenticationError, match=f"has .* '{san}', which lies (outside every permitted|inside "
                                                      "the excluded) subtree"):
            cert_checks.verify_chain(leaf, [ca], [ROOT], now=NOW)


@pytest.mark.parametrize("kw, message", [
    ({"permitted": "vpn.example"}, "permitted must be a list of subtrees, not one str"),
    ({"excluded": 7}, "excluded must be a list of subtrees, not int"),
    ({"permitted": [""]}, "permitted entries must be non-empty str"),
    ({"permitted": [b"vpn.example"]}, "permitted entries must be non-empty str"),
    ({"permitted": ["192.0.2.1/24"]}, "permitted entry '192.0.2.1/24' is not a subtree ikelab can write"),
    ({"excluded": ["m\u00fcnchen.example"]}, "excluded entry 'm\u00fcnchen.example' is not a subtree"),
])
def test_a_subtree_that_cannot_be_written_is_a_config_error(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _ca(**kw)
