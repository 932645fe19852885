"""One DER reader for distinguished names, and what a peer's malformed DN does to the engine.

ikelab read a peer's ID_DER_ASN1_DN (RFC 7296 3.5) twice, with two DER readers: the payload decoder
(:func:`ikelab.dn.check_dn`) and the identity code, which builds the :class:`x509.Name` that a configured
``remote_id`` or a certificate's subject is matched with.  The second one took what DER forbids (a length in
more octets than it needs, X.690 10.1) and let cryptography's ``ValueError`` out for a SET holding the same
attribute twice (X.690 11.6), so an initiator with the IKE SA's keys could make the responder's ``receive``
raise.  Now :func:`ikelab.dn.der_to_name` is the one reader, on the decoder's strict parser, and every
malformed Name is a :class:`ParseError` naming where it went wrong.  A peer whose ID ikelab cannot read fails
authentication at once (RFC 7296 2.21.2), before the IKE_AUTH request has made anything.
"""

from __future__ import annotations

from unittest import mock

import pytest
from cryptography import x509

from ikelab import dn, dn_strongswan, exchanges_init, identity
from ikelab import events as ev
from ikelab.constants import IdType
from ikelab.errors import ParseError
from ikelab.identity import Identity, format_identity, matches, parse_identity
from ikelab.lab import Lab
from ikelab.state import State

from test_ike import configs

_ATV = b"\x30\x08\x06\x03\x55\x04\x03\x0c\x01x"  # CN=x, a UTF8String
#: One RDN whose SET holds CN=x twice: BER allows it, DER does not (X.690 11.6), nor does x509.Name.
DUPLICATE_ATTRIBUTE = b"\x30\x16\x31\x14" + _ATV + _ATV


def test_a_set_with_the_same_attribute_twice_is_a_parse_error_where_the_rdn_starts() -> None:
    assert dn.der_to_rfc4514(DUPLICATE_ATTRIBUTE) == "CN=x+CN=x"  # the packet list shows what was sent
    for read in (lambda: format_identity(IdType.ID_DER_ASN1_DN, DUPLICATE_ATTRIBUTE),
                 lambda: matches("CN=x", Identity(IdType.ID_DER_ASN1_DN, DUPLICATE_ATTRIBUTE)),
                 lambda: parse_identity("asn1dn:#" + DUPLICATE_ATTRIBUTE.hex())):
        with pytest.raises(ParseError) as err:
            read()
        assert err.value.field == "ID_DER_ASN1_DN" and err.value.offset == 8
        assert "duplicate attributes" in err.value.reason


#: A Name with an INTEGER for a CN: well-formed DER, but no directory string, so no text and no match.
INTEGER_VALUE = b"\x30\x0c\x31\x0a\x30\x08\x06\x03\x55\x04\x03\x02\x01\x05"


def _handshake_with_unreadable_id(side: str, der: bytes, remote_id: str) -> Lab:
    """A handshake where ``side`` sends ``der`` as its ID_DER_ASN1_DN and the other side expects ``remote_id``."""
    def own_identity(text: str) -> Identity:
        return Identity(IdType.ID_DER_ASN1_DN, der) if text == "CN=sender" else parse_identity(text)

    other = "r" if side == "initiator" else "i"
    lab = Lab(*configs(**{side[0]: dict(local_id="CN=sender"), other: dict(remote_id=remote_id)}), seed=1)
    with mock.patch.object(exchanges_init, "parse_identity", own_identity):
        lab.initiate()
        lab.run_until_idle()
    return lab


@pytest.mark.parametrize("der, why", [(DUPLICATE_ATTRIBUTE, "duplicate attributes"),
                                      (INTEGER_VALUE, "not a directory string")])
@pytest.mark.parametrize("remote_id", ["CN=x", "CN=*", "%any"])
def test_a_peers_idi_that_cannot_be_read_fails_authentication_before_anything_is_made(der, why, remote_id) -> None:
    """RFC 7296 2.21.2: the responder answers AUTHENTICATION_FAILED and keeps no IKE SA.  Before, the duplicate
    made ``receive`` raise ValueError from inside cryptography, and with ``remote_id=%any`` either DN was read
    only after the CHILD SA was made: the request was answered INVALID_SYNTAX and the responder kept a CHILD SA
    in an IKE SA that never came up."""
    lab = _handshake_with_unreadable_id("initiator", der, remote_id)
    (failure,) = lab.events("responder", ev.Failure)
    assert failure.notify == "AUTHENTICATION_FAILED" and why in failure.reason
    assert lab.responder.state == State.CLOSED and lab.initiator.state == State.CLOSED
    assert not lab.responder.children and not lab.initiator.children
    assert not lab.events("responder", ev.ChildSaCreated)


@pytest.mark.parametrize("der", [DUPLICATE_ATTRIBUTE, INTEGER_VALUE])
def test_an_idr_that_cannot_be_read_fails_the_initiators_check(der) -> None:
    lab = _handshake_with_unreadable_id("responder", der, "%any")
    (failure, *_) = lab.events("initiator", ev.Failure)
    assert failure.notify == "AUTHENTICATION_FAILED" and "identity cannot be read" in failure.reason
    assert lab.initiator.state == State.CLOSED and not lab.initiator.children
    assert not lab.events("initiator", ev.ChildSaCreated)


def test_a_dn_with_a_length_not_in_its_shortest_form_is_refused_by_both_readers() -> None:
    """X.690 10.1: DER writes a length in the fewest octets.  The payload decoder refused ``0x81 0x0b`` for
    eleven; the identity code took it and matched it with the configured DN."""
    good = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]).public_bytes()
    long_form = b"\x30\x81" + good[1:]
    assert format_identity(IdType.ID_DER_ASN1_DN, good) == "CN=x"
    for read in (lambda: dn.check_dn(long_form), lambda: format_identity(IdType.ID_DER_ASN1_DN, long_form)):
        with pytest.raises(ParseError, match="not in its shortest form") as err:
            read()
        assert err.value.offset == 1
    with pytest.raises(ParseError):
        matches("CN=x", Identity(IdType.ID_DER_ASN1_DN, long_form))


def test_dn_text_lives_in_dn_strongswan_and_identity_still_offers_it() -> None:
    """The split keeps ``from ikelab.identity import dn_from_string`` (and the others) working."""
    for name in dn_strongswan.__all__:
        assert getattr(identity, name) is getattr(dn_strongswan, name)
    name = dn_strongswan.dn_from_string("C=CH, O=strongSwan, CN=moon+OU=Lab")
    assert dn.der_to_name(name.public_bytes()) == name
    text = dn_strongswan.dn_to_string(dn.der_to_name(name.public_bytes()))  # a SET in DER order: OU before CN
    assert text == "C=CH, O=strongSwan, OU=Lab+CN=moon" and dn_strongswan.dn_from_string(text) == name
