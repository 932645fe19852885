"""Small specification gaps: CP value lengths (RFC 7296 3.15.1), ID_NULL (RFC 7619), timer settings of
IkeConfig, and strongSwan's proposal keywords."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from ikelab.constants import CfgAttribute, CfgType, PayloadType
from ikelab.cp_payload import VALUE_LENGTHS, value_length_ok
from ikelab.errors import ParseError
from ikelab.payloads import CP, decode_chain
from ikelab.vip import assigned, requested
from ikelab.wire import DecodeContext


def _cp_from_wire(cfg_type: int, attributes: list[tuple[int, bytes]]) -> CP:
    body = struct.pack("!B3x", cfg_type) + b"".join(struct.pack("!HH", t, len(v)) + v for t, v in attributes)
    data = struct.pack("!BBH", 0, 0, 4 + len(body)) + body
    (cp,) = decode_chain(PayloadType.CP, data, 0, len(data), DecodeContext(0, None))
    return cp


# -- RFC 7296 3.15.1: the value length of each configuration attribute ----------------------------------------

_GOOD = [
    (CfgAttribute.INTERNAL_IP4_ADDRESS, 4), (CfgAttribute.INTERNAL_IP4_NETMASK, 4), (CfgAttribute.INTERNAL_IP4_DNS, 4),
    (CfgAttribute.INTERNAL_IP4_NBNS, 4), (CfgAttribute.INTERNAL_IP4_DHCP, 4), (CfgAttribute.INTERNAL_IP6_ADDRESS, 17),
    (CfgAttribute.INTERNAL_IP6_DNS, 16), (CfgAttribute.INTERNAL_IP6_DHCP, 16), (CfgAttribute.INTERNAL_IP4_SUBNET, 8),
    (CfgAttribute.INTERNAL_IP6_SUBNET, 17), (CfgAttribute.SUPPORTED_ATTRIBUTES, 6),
    (CfgAttribute.APPLICATION_VERSION, 5), (0x1234, 3),  # "0 or more", and a type 3.15.1 does not define
]
_BAD = [
    (CfgAttribute.INTERNAL_IP4_ADDRESS, 5, "0 or 4"), (CfgAttribute.INTERNAL_IP4_NETMASK, 3, "0 or 4"),
    (CfgAttribute.INTERNAL_IP4_DNS, 16, "0 or 4"), (CfgAttribute.INTERNAL_IP4_NBNS, 1, "0 or 4"),
    (CfgAttribute.INTERNAL_IP4_DHCP, 8, "0 or 4"), (CfgAttribute.INTERNAL_IP6_ADDRESS, 16, "0 or 17"),
    (CfgAttribute.INTERNAL_IP6_DNS, 17, "0 or 16"), (CfgAttribute.INTERNAL_IP6_DHCP, 4, "0 or 16"),
    (CfgAttribute.INTERNAL_IP4_SUBNET, 4, "0 or 8"), (CfgAttribute.INTERNAL_IP6_SUBNET, 16, "0 or 17"),
    (CfgAttribute.SUPPORTED_ATTRIBUTES, 3, "a multiple of 2"),
]


@pytest.mark.parametrize("atype, length", _GOOD + [(t, 0) for t in VALUE_LENGTHS])
def test_cp_value_lengths_that_rfc_7296_3_15_1_gives_pass(atype: int, length: int) -> None:
    cp = _cp_from_wire(CfgType.CFG_REPLY, [(atype, bytes(length))])
    assert value_length_ok(atype, length)
    assert cp.length_problems() == () and cp.check_lengths() is cp


@pytest.mark.parametrize("atype, length, rule", _BAD)
def test_cp_value_lengths_that_rfc_7296_3_15_1_does_not_give_are_named_with_attribute_and_offset(
        atype: int, length: int, rule: str) -> None:
    """The decoder keeps the odd attribute (a dissection shows it as it is); the check names it and where."""
    cp = _cp_from_wire(CfgType.CFG_REPLY, [(CfgAttribute.INTERNAL_IP4_ADDRESS, bytes(4)), (atype, bytes(length))])
    assert [(int(t), len(v)) for t, v in cp.attributes] == [(1, 4), (int(atype), length)]  # kept, not refused
    assert not value_length_ok(atype, length)
    ((n, why),) = cp.length_problems()
    assert n == 2 and CfgAttribute(atype).name in why and f"{length} octets" in why and rule in why
    with pytest.raises(ParseError) as err:
        cp.check_lengths()
    # generic header 4, CFG Type + RESERVED 4, the first attribute 4 + 4, then this attribute's Type (2)
    assert (err.value.field, err.value.offset) == ("CP.attribute[2].length", 4 + 4 + 8 + 2)
    assert err.value.notify_type == "INVALID_SYNTAX"


def test_vip_reads_no_address_from_a_value_of_the_wrong_length() -> None:
    """vip never crashes on a crafted CP: a value off its 3.15.1 length assigns nothing, and in a request
    asks for any address of its family."""
    reply = _cp_from_wire(CfgType.CFG_REPLY, [(CfgAttribute.INTERNAL_IP4_ADDRESS, bytes([10, 3, 0, 1, 9])),
                                              (CfgAttribute.INTERNAL_IP6_ADDRESS, bytes(16)),
                                              (CfgAttribute.INTERNAL_IP4_DNS, bytes(7))])
    assert len(reply.length_problems()) == 3
    assert assigned(reply) is None and assigned(reply, 4) is None and assigned(reply, 6) is None
    request = _cp_from_wire(CfgType.CFG_REQUEST, [(CfgAttribute.INTERNAL_IP4_ADDRESS, bytes(3)),
                                                  (CfgAttribute.INTERNAL_IP6_ADDRESS, bytes(18))])
    assert requested(request) == [(4, None), (6, None)]
    good = _cp_from_wire(CfgType.CFG_REPLY, [(CfgAttribute.INTERNAL_IP4_ADDRESS, bytes([10, 3, 0, 1]))])
    assert good.length_problems() == () and assigned(good) == str(ipaddress.ip_address("10.3.0.1"))


# -- RFC 7619: ID_NULL has no Identification Data ------------------------------------------------------------

def _id_from_wire(id_type: int, data: bytes):
    from ikelab.payloads import IDi

    body = bytes([id_type, 0, 0, 0]) + data
    wire = struct.pack("!BBH", 0, 0, 4 + len(body)) + body
    (payload,) = decode_chain(PayloadType.IDi, wire, 0, len(wire), DecodeContext(0, None))
    assert isinstance(payload, IDi)
    return payload


def test_id_null_is_sent_empty_and_octets_after_it_are_refused_when_constructing() -> None:
    from ikelab.constants import IdType
    from ikelab.errors import ConfigError
    from ikelab.identity import Identity, id_body, parse_identity
    from ikelab.payloads import IDi, IDr

    assert parse_identity("%null") == Identity(IdType.ID_NULL, b"")
    assert parse_identity("", id_type="ID_NULL") == parse_identity("%null", id_type=IdType.ID_NULL)
    assert IDi(IdType.ID_NULL, b"").encode()[4:] == bytes([IdType.ID_NULL, 0, 0, 0])
    assert id_body(IdType.ID_NULL, b"") == bytes([13, 0, 0, 0])
    with pytest.raises(ConfigError) as err:
        IDr(IdType.ID_NULL, b"anon").encode()
    assert err.value.field == "IDr.id_data" and "RFC 7619" in str(err.value)
    with pytest.raises(ConfigError) as err:
        id_body("ID_NULL", b"\x00")
    assert err.value.field == "data"
    with pytest.raises(ConfigError) as err:
        parse_identity("alice", id_type="ID_NULL")  # the text was dropped silently before
    assert err.value.field == "id" and "%null" in str(err.value)


def test_a_peers_id_null_with_octets_decodes_and_matches_null_ignoring_them() -> None:
    from ikelab.constants import IdType
    from ikelab.identity import Identity, matches

    peer = _id_from_wire(IdType.ID_NULL, b"junk")
    assert peer.id_type == IdType.ID_NULL and peer.data == b"junk"  # kept as sent, for RestOfIDPayload
    assert peer.encode()[4:] == bytes([IdType.ID_NULL, 0, 0, 0]) + b"junk"  # and encoded again as sent
    assert matches("%null", Identity(peer.id_type, peer.data))
    assert matches("%null", Identity(IdType.ID_NULL, b""))
    assert not matches("%null", Identity(IdType.ID_KEY_ID, b""))
    assert not matches("@#6a756e6b", Identity(IdType.ID_NULL, b"junk"))  # an ID_KEY_ID is not ID_NULL


# -- IkeConfig: times that would make a timer spin, never end, or mean nothing ------------------------------

_TIMERS = ("ike_rekey_time", "child_rekey_time", "ike_lifetime", "child_lifetime", "retransmit_timeout",
           "dpd_interval")


@pytest.mark.parametrize("field", _TIMERS)
@pytest.mark.parametrize("value", [1e-9, 5e-324, 0.0009])
def test_a_timer_under_a_millisecond_is_refused_naming_its_field(field: str, value: float) -> None:
    """now + 5e-324 == now: a rekey, lifetime, liveness or retransmission timer that short fires again at the same
    instant for ever (RFC 7296 2.4 wants retransmissions spaced out)."""
    from ikelab.config import MIN_TIMER, IkeConfig
    from ikelab.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", **{field: value})
    assert err.value.field == field and err.value.value == value and f"{MIN_TIMER:g} s" in str(err.value)
    floor = {"ike_lifetime": 2 * MIN_TIMER, "child_lifetime": 2 * MIN_TIMER}  # hard limits above the rekey times
    both = {"ike_rekey_time": MIN_TIMER, "child_rekey_time": MIN_TIMER, field: floor.get(field, MIN_TIMER)}
    assert getattr(IkeConfig(psk="x", **both), field) == floor.get(field, MIN_TIMER)  # the floor itself is allowed


@pytest.mark.parametrize("field", _TIMERS + ("rekey_margin",))
@pytest.mark.parametrize("value", [float("nan"), -1.0, "-5s"])
def test_nan_and_negative_times_are_refused_naming_their_field(field: str, value) -> None:
    from ikelab.config import IkeConfig
    from ikelab.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", **{field: value})
    assert err.value.field == field


def test_inf_means_never_for_lifetimes_and_liveness_and_is_refused_for_retransmission() -> None:
    import math

    from ikelab.config import IkeConfig
    from ikelab.errors import ConfigError

    never = IkeConfig(psk="x", ike_rekey_time=math.inf, child_rekey_time="1h", child_lifetime=math.inf,
                      dpd_interval=math.inf)
    assert never.ike_lifetime == math.inf and never.child_lifetime == math.inf and never.dpd_interval is None
    assert IkeConfig(psk="x", ike_rekey_time=math.inf, ike_lifetime=math.inf).ike_rekey_time == math.inf
    with pytest.raises(ConfigError) as err:  # rekeyed never, but expiring: the SA would die unrenewed
        IkeConfig(psk="x", child_rekey_time=math.inf, child_lifetime=3600)
    assert err.value.field == "child_rekey_time"
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", ike_rekey_time=100, ike_lifetime=100)  # soft not below hard
    assert err.value.field == "ike_rekey_time"
    with pytest.raises(ConfigError) as err:
        IkeConfig(psk="x", retransmit_timeout=math.inf)
    assert err.value.field == "retransmit_timeout"


def test_an_sa_that_is_never_rekeyed_runs_in_the_lab() -> None:
    import math

    from test_ike import established

    lab = established(ike_rekey_time=math.inf, child_rekey_time=math.inf)
    lab.run(until=lab.now + 86400.0)
    assert lab.initiator.rekey_at == math.inf and lab.initiator.expire_at == math.inf
    assert len(lab.initiator.children) == 1


# -- strongSwan's proposal keywords (src/libstrongswan/crypto/proposal/proposal_keywords_static.txt) ----------

@pytest.mark.parametrize("bits", [128, 192, 256])
@pytest.mark.parametrize("mode", ["gcm", "ccm"])
def test_aead_keyword_without_icv_size_is_the_16_octet_icv_as_in_strongswan(bits: int, mode: str) -> None:
    from ikelab.proposal_syntax import KEYWORDS, parse_proposal, proposal_to_string

    bare, sixteen = KEYWORDS[f"aes{bits}{mode}"], KEYWORDS[f"aes{bits}{mode}16"]
    assert bare == sixteen and bare.key_length == bits
    assert bare.id.name == f"ENCR_AES_{mode.upper()}_16"
    esp = parse_proposal(f"aes{bits}{mode}-esn", "ESP")
    assert esp == parse_proposal(f"aes{bits}{mode}16-esn", "ESP")
    assert proposal_to_string(esp) == f"aes{bits}{mode}16-esn"  # still printed with its ICV size
    ike = parse_proposal(f"aes{bits}{mode}-prfsha256-ecp256", "IKE")
    assert ike == parse_proposal(f"aes{bits}{mode}128-prfsha256-ecp256", "IKE")
