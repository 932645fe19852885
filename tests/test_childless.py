"""Childless IKE SAs (RFC 6023): the IKE SA alone in IKE_AUTH, its first CHILD SA by CREATE_CHILD_SA.

Independent checks: the IKE_AUTH messages on the wire carry no SA, TSi or TSr;
the CHILD SA's KEYMAT is recomputed here with Python's ``hmac`` as
prf+(SK_d, g^ir (new) | Ni | Nr) over the nonces of the CREATE_CHILD_SA
exchange (RFC 7296 2.17), not those of IKE_SA_INIT.
"""

from __future__ import annotations

import pytest

from test_ike import configs, prf_plus

from ikelab import events as ev
from ikelab.config import IkeConfig
from ikelab.constants import NotifyType
from ikelab.errors import ConfigError
from ikelab.lab import Lab
from ikelab.message import decode
from ikelab.payloads import Notify


def _lab(i_on: bool, r_on: bool, esp: str = "aes128gcm16-ecp256") -> Lab:
    lab = Lab(*configs(esp=esp, i={"childless": i_on}, r={"childless": r_on}), seed=4)
    lab.initiate()
    lab.run_until_idle()
    assert lab.initiator.established and lab.responder.established
    return lab


def _summaries(lab: Lab, exchange: str) -> list[str]:
    return [e.summary for e in lab.events("initiator", (ev.MessageSent, ev.MessageReceived)) if e.exchange == exchange]


@pytest.mark.parametrize("i_on, r_on", [(True, True), (True, False), (False, True), (False, False)])
def test_childless_only_when_wanted_and_announced(i_on: bool, r_on: bool) -> None:
    lab = _lab(i_on, r_on)
    init_response = decode(lab.trace[1].ike_message)
    announced = any(isinstance(p, Notify) and p.notify_type == NotifyType.CHILDLESS_IKEV2_SUPPORTED
                    for p in init_response.payloads)
    assert announced == r_on  # the responder says it; the initiator never needs to (RFC 6023 3)
    (created,) = lab.events("initiator", ev.ChildSaCreated)
    if i_on and r_on:
        assert _summaries(lab, "IKE_AUTH") == ["HDR, SK {IDi, AUTH}", "HDR, SK {IDr, AUTH}"]
        assert created.exchange == "CREATE_CHILD_SA"
        assert _summaries(lab, "CREATE_CHILD_SA") == ["HDR, SK {SA, Ni, KEi, TSi, TSr}", "HDR, SK {SA, Nr, KEr, TSi, TSr}"]
    else:
        assert created.exchange == "IKE_AUTH" and not _summaries(lab, "CREATE_CHILD_SA")


@pytest.mark.parametrize("esp", ["aes128gcm16-ecp256", "aes128-sha256"], ids=["pfs", "no-pfs"])
def test_the_first_child_sa_keys_come_from_the_create_child_sa_nonces(esp: str) -> None:
    lab = _lab(True, True, esp)
    (keys,) = lab.events("initiator", ev.KeysDerived)
    (child,) = lab.initiator.children.values()
    assert (child.ni, child.nr) != (keys.ni, keys.nr)  # fresh nonces of CREATE_CHILD_SA
    seed = child.extra.get("g_ir", b"") + child.ni + child.nr
    assert ("g_ir" in child.extra) == (esp != "aes128-sha256")
    assert prf_plus("PRF_HMAC_SHA2_256", keys.sk_d, seed, len(child.keys.keymat)) == child.keys.keymat
    (peer_child,) = lab.responder.children.values()
    assert (peer_child.spi_in, peer_child.spi_out) == (child.spi_out, child.spi_in)


def test_childless_setting_is_checked() -> None:
    with pytest.raises(ConfigError) as info:
        IkeConfig(psk=b"k", childless="prefer")
    assert info.value.field == "childless"
    assert "childless IKE SA first (RFC 6023)" in str(IkeConfig(psk=b"k", childless=True))


def test_a_first_child_sa_refused_with_temporary_failure_is_asked_for_again() -> None:
    """The gateway rekeys the IKE SA the moment it has answered a childless IKE_AUTH, so it refuses the
    CREATE_CHILD_SA that follows with TEMPORARY_FAILURE (RFC 7296 2.25): the client asks again a little
    later, on the new IKE SA, instead of staying without a CHILD SA."""
    from ikelab.state import State

    lab = Lab(*configs(i={"childless": True}, r={"childless": True}), seed=4)
    lab.initiate()
    while lab.responder is None or lab.responder.state != State.ESTABLISHED:
        lab.step()
    lab.rekey_ike("responder")
    lab.run(lab.now + 120)
    assert [(f.notify, f.exchange) for f in lab.events("initiator", ev.Failure)] == \
        [("TEMPORARY_FAILURE", "CREATE_CHILD_SA")]
    assert len(lab.initiator.children) == len(lab.responder.children) == 1
    assert lab.events("initiator", ev.IkeSaRekeyed)


@pytest.mark.parametrize("childless, other_group", [(True, False), (False, False), (True, True)],
                         ids=["first-child", "create-child", "invalid-ke-between"])
def test_a_peer_that_always_refuses_is_asked_again_five_times_only(childless: bool, other_group: bool,
                                                                  monkeypatch) -> None:
    """A gateway that answers every CREATE_CHILD_SA with TEMPORARY_FAILURE (RFC 7296 2.25) is asked again a
    few seconds later, but CHILD_RETRIES times at most: then a Failure says so, and the IKE SA stays up.
    ``other_group``: once, the gateway asks for another DH group instead (INVALID_KE_PAYLOAD, 1.3); that
    request again does not start the count of refusals afresh."""
    from ikelab import exchanges_wire as W
    from ikelab.exchanges_child import CHILD_RETRIES
    from ikelab.ike import IkeSa

    esp = "aes128gcm16-ecp256-modp2048" if other_group else "aes128gcm16-ecp256"
    lab = Lab(*configs(esp=esp, i={"childless": childless}, r={"childless": childless}), seed=4)
    answer = IkeSa.on_create_child_sa_request
    requests = [0]

    def busy(self, now, *, msg, raw):  # the responder's IKE SA is always busy
        if self.initiator:
            return answer(self, now, msg=msg, raw=raw)
        requests[0] += 1
        if other_group and requests[0] == 3:
            self._respond(msg, now, [W.notify(NotifyType.INVALID_KE_PAYLOAD, data=(14).to_bytes(2, "big"))])
        else:
            self._respond(msg, now, [W.notify(NotifyType.TEMPORARY_FAILURE)])
        return None

    monkeypatch.setattr(IkeSa, "on_create_child_sa_request", busy)
    lab.initiate()
    lab.run_until_idle()
    if not childless:
        lab.create_child("initiator")
    lab.run(lab.now + 600)
    asked = [e for e in lab.events("initiator", ev.MessageSent) if e.exchange == "CREATE_CHILD_SA"]
    assert len(asked) == requests[0] == 1 + CHILD_RETRIES + other_group == 6 + other_group
    gaps = [later.time - earlier.time for earlier, later in zip(asked, asked[1:])]
    if other_group:
        assert gaps.pop(2) < 0.1  # the request in the group asked for goes at once
    assert all(4.0 <= gap <= 8.1 for gap in gaps), gaps  # retransmit_timeout + 0-100 %, + the round trip
    reasons = [f.reason for f in lab.events("initiator", ev.Failure)]
    assert reasons.count("CHILD SA not created: TEMPORARY_FAILURE") == 6
    assert reasons[-1] == "CHILD SA not created: refused 6 times with TEMPORARY_FAILURE, not asking again"
    assert lab.initiator.established and lab.responder.established
    assert len(lab.initiator.children) == (0 if childless else 1) and not lab.initiator.child_retries
