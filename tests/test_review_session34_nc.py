"""Regressions found while checking name-constrained chains against charon (RFC 5280 4.2.1.10).

An excluded rfc822Name subtree written ``@example.com`` (no local part: not one of the three forms RFC 5280
4.2.1.10 defines, but one CAs write for "every mailbox at that host") excluded nothing in ikelab, so a chain
that both references refuse passed: ``openssl verify`` reads it as every mailbox at ``example.com``, and
cryptography's verifier refuses the chain.  An excluded subtree must not fail open, so ikelab now reads it as
OpenSSL does (``name_constraints._excludes``).  A permitted ``@example.com`` permits the same mailboxes
(session 35: it permitted none, so the two readings disagreed; see tests/test_review_session35_names.py).

charon 5.9.8 takes such a subtree for one full address and lets the chain pass (``email_matches`` of its
constraints plugin): ``tests/interop/test_ikelab_name_constraints.py``, case ``email-excluded-at-host``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_review_cert_paths import openssl_accepts, pyca_accepts
from test_review_name_constraints import D, M, chain, nc, needs_openssl, verdict


@needs_openssl
@pytest.mark.parametrize("mailbox", ["carol@example.com", "Carol@EXAMPLE.com"])
def test_an_excluded_at_host_subtree_excludes_every_mailbox_at_that_host(mailbox: str, tmp_path: Path) -> None:
    c = chain(inter_nc=nc(excluded=[M("@example.com")]), san=[M(mailbox)])
    assert not openssl_accepts(c, tmp_path) and not pyca_accepts(c)  # both references refuse
    why = verdict(c)
    assert why is not None and f"has rfc822Name '{mailbox}', which lies inside the excluded subtree " \
        "rfc822Name '@example.com'" in why, why


@needs_openssl
@pytest.mark.parametrize("mailbox", ["carol@example.net", "carol@mail.example.com"])
def test_an_excluded_at_host_subtree_leaves_other_hosts(mailbox: str, tmp_path: Path) -> None:
    c = chain(inter_nc=nc(excluded=[M("@example.com")]), san=[M(mailbox)])
    assert openssl_accepts(c, tmp_path)  # cryptography's verifier refuses any chain with such a subtree
    assert verdict(c) is None


@needs_openssl
def test_a_permitted_at_host_subtree_permits_what_the_excluded_one_excludes(tmp_path: Path) -> None:
    """Permitted, ``@example.com`` holds the mailboxes it holds excluded, as OpenSSL reads it both ways
    (cryptography's verifier refuses any chain with such a subtree)."""
    c = chain(inter_nc=nc(permitted=[M("@example.com")]), san=[M("carol@example.com")])
    assert openssl_accepts(c, tmp_path) and not pyca_accepts(c)
    assert verdict(c) is None


@pytest.mark.parametrize("name", ["www.example.com", "example.com", "WWW.Example.COM"])
def test_an_excluded_absolute_dns_name_excludes_what_the_name_without_its_dot_does(name: str) -> None:
    """An excluded dNSName subtree 'example.com.' (the absolute spelling of the same domain) excluded nothing:
    no name of a certificate ends in '.example.com.'.  ikelab takes 'www.example.com.' for 'www.example.com'
    when it matches an ID (:mod:`ikelab.identity`), so the exclusion must bind too; cryptography's verifier
    refuses such a chain, OpenSSL passes it (it fails open there)."""
    c = chain(inter_nc=nc(excluded=[D("example.com.")]), san=[D(name)])
    assert not pyca_accepts(c)
    why = verdict(c)
    assert why is not None and "lies inside the excluded subtree dNSName 'example.com.'" in why, why
    assert verdict(chain(inter_nc=nc(excluded=[D("example.com.")]), san=[D("www.example.org")])) is None
