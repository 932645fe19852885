"""Fixtures for the strongSwan interop tests (tests/interop only).

* ``interop_env``: skips (or, under ``CI=true``, fails) when charon, swanctl,
  the plugins, network namespaces or root are missing.
* ``netns_pair``: a fresh :class:`interop.netns.NetnsPair`, deleted afterwards.
* ``nft_env``: skips (fails under ``CI=true``) without ``nft`` (nftables).
* ``nat_net``: a fresh :class:`interop.netns.NatNetns` (A behind a NAT), deleted
  afterwards.
* ``charon_factory``: ``charon_factory(ns, name, **kwargs)`` makes a
  :class:`interop.charon.Charon` with its work directory under ``tmp_path``
  and starts it; every charon made is stopped at teardown, even on failure.
* ``module_charon``: for a module that sends many requests to one charon
  responder: ``module_charon(conf_for)`` makes a NetnsPair and starts charon
  in namespace B with the swanctl.conf ``conf_for(pair)`` returns, its
  connections loaded; both go when the module ends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .capture import tshark_unavailable_reason
from .charon import Charon, interop_unavailable_reason
from .netns import Namespace, NatNetns, NetnsPair, cleanup_stale, nft_unavailable_reason


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI (.ci/run installs it): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _interop_reason() -> str | None:
    reason = interop_unavailable_reason()
    if reason is None:
        cleanup_stale()
    return reason


@pytest.fixture
def interop_env(_interop_reason: str | None) -> None:
    if _interop_reason is not None:
        _skip_or_fail(_interop_reason)


def _require(reason: str | None) -> None:
    if reason is not None:
        _skip_or_fail(reason)


@pytest.fixture
def tshark_env() -> None:
    _require(tshark_unavailable_reason())


@pytest.fixture
def netns_pair(interop_env: None) -> Iterator[NetnsPair]:
    pair = NetnsPair()
    pair.create()
    try:
        yield pair
    finally:
        pair.close()


@pytest.fixture
def nft_env() -> None:
    _require(nft_unavailable_reason())


@pytest.fixture
def nat_net(interop_env: None, nft_env: None) -> Iterator[NatNetns]:
    net = NatNetns()
    net.create()
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def nat_charon_factory(nat_net: NatNetns, tmp_path: Path) -> Iterator[Callable[..., Charon]]:
    """``charon_factory`` for the namespaces of ``nat_net`` (stopped before they are deleted)."""
    yield from _charons(tmp_path)


@pytest.fixture
def charon_factory(netns_pair: NetnsPair, tmp_path: Path) -> Iterator[Callable[..., Charon]]:
    yield from _charons(tmp_path)


@pytest.fixture(scope="module")
def module_charon(_interop_reason: str | None,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., tuple[NetnsPair, Charon]]]:
    _require(_interop_reason)
    made: list[tuple[NetnsPair, Charon]] = []

    def start(conf_for: Callable[[NetnsPair], str]) -> tuple[NetnsPair, Charon]:
        net = NetnsPair()
        net.create()
        charon = Charon(net.b, tmp_path_factory.mktemp("charon"), swanctl_conf=conf_for(net), cookie_threshold=1000)
        made.append((net, charon))
        charon.start()
        charon.load_all()
        return net, charon

    try:
        yield start
    finally:
        for net, charon in reversed(made):
            try:
                charon.stop()
            finally:
                net.close()


def _charons(tmp_path: Path) -> Iterator[Callable[..., Charon]]:
    started: list[Charon] = []

    def make(ns: Namespace, name: str, *, start: bool = True, **kwargs: Any) -> Charon:
        charon = Charon(ns, tmp_path / name, **kwargs)
        started.append(charon)
        if start:
            charon.start()
        return charon

    try:
        yield make
    finally:
        # stop charons before netns_pair deletes their namespaces
        for charon in reversed(started):
            charon.stop()
