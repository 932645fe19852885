"""Events: what an IKE SA reports, one small frozen dataclass per observable step.

The protocol engine (:mod:`ikelab.ike`) never prints.  Instead every step a
lesson may want to show is reported as an event carrying its inputs and its
outputs, so a notebook can display, say, SKEYSEED = prf(Ni | Nr, g^ir)
(RFC 7296 2.14) of a *real* exchange without recomputing anything:

* :class:`MessageSent` / :class:`MessageReceived`: one IKE message, with its
  summary in RFC 7296 notation (``HDR, SK {IDi, AUTH, SAi2, TSi, TSr}``), made when first read;
  a fragmented message is sent as one MessageSent per fragment
  (``HDR, SKF(1/3)``), and received as :class:`FragmentReceived` events and
  then one MessageReceived (RFC 7383);
* :class:`KeysDerived`: g^ir, Ni, Nr, SPIs, SKEYSEED and every SK_* key;
* :class:`AuthComputed`: the signed octets of RFC 7296 2.15 piece by piece
  and the AUTH value;
* :class:`ChildSaCreated` / :class:`ChildSaRekeyed` / :class:`ChildSaDeleted`:
  everything needed to build an ESP SA (SPIs, suite, keys per direction,
  traffic selectors, mode, UDP encapsulation);
* :class:`IkeSaEstablished` / :class:`IkeSaRekeyed` / :class:`IkeSaDeleted`,
  :class:`LivenessChecked`, :class:`Retransmitted`, :class:`Failure`;
* :class:`VirtualIpAssigned`: a remote-access client's inner address (CP), and
  :class:`VirtualIpNotAssigned`: a family asked for and not given;
* :class:`PeerMoved`: the peer's address or port changed (NAT rebinding, 2.23).

Every event has ``time`` (the virtual clock value passed to the engine) and
``side`` ("initiator" or "responder": the role of the reporting peer in the
*IKE SA* that reports it).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

from .records import quick_init


@dataclass(frozen=True)
class Event:
    """Base class: every event has a time and the reporting side."""

    time: float
    side: str


@dataclass(frozen=True)
class MessageSent(Event):
    """An IKE message left this peer (``retransmission`` when resent unchanged)."""

    exchange: str
    message_id: int
    is_response: bool
    summary: str
    size: int
    src: tuple[str, int] = ("", 0)
    dst: tuple[str, int] = ("", 0)
    retransmission: bool = False


@dataclass(frozen=True)
class MessageReceived(Event):
    """An IKE message was accepted for processing (after the ICV check, if protected)."""

    exchange: str
    message_id: int
    is_response: bool
    summary: str
    size: int
    src: tuple[str, int] = ("", 0)
    dst: tuple[str, int] = ("", 0)


@dataclass(frozen=True)
class FragmentReceived(Event):
    """One IKE fragment (SKF, RFC 7383 2.6) passed its ICV check and was kept until the others arrive.

    When the last one is in, the joined message is reported as a
    :class:`MessageReceived` whose ``size`` adds up the fragments.
    """

    exchange: str
    message_id: int
    is_response: bool
    fragment_number: int
    total_fragments: int
    size: int


@dataclass(frozen=True)
class VirtualIpAssigned(Event):
    """The initiator's inner address, asked for and given in CP payloads of IKE_AUTH (RFC 7296 2.19).

    Both sides report it: the gateway when it leases the address, the client when it receives it.
    """

    address: str


@dataclass(frozen=True)
class VirtualIpNotAssigned(Event):
    """A family of inner address (4 or 6) the client asked for and did not get, and why.

    A gateway may serve fewer families than asked (RFC 7296 3.15.4): the client goes on with those it got.
    Both sides report it: the gateway with its reason (no pool of that family, or the pool is full), the
    client with what the IKE_AUTH response said.
    """

    family: int
    reason: str


@dataclass(frozen=True)
class MessageDropped(Event):
    """A datagram was discarded without changing any state, and why (RFC 7296 2.21)."""

    reason: str
    size: int = 0


@dataclass(frozen=True)
class KeysDerived(Event):
    """An IKE SA key schedule, RFC 7296 2.14 (or 2.18 when ``rekey``).

    ``skeyseed`` = prf(Ni | Nr, g^ir), or prf(SK_d (old), g^ir (new) | Ni | Nr)
    for a rekey, where ``sk_d_old`` is then set.  The seven keys are cut in
    order from prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
    """

    prf: str
    dh_group: str
    g_ir: bytes
    ni: bytes
    nr: bytes
    spi_i: bytes
    spi_r: bytes
    skeyseed: bytes
    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes
    rekey: bool = False
    sk_d_old: bytes | None = None


@dataclass(frozen=True)
class AuthComputed(Event):
    """An AUTH payload computed (``verified=None``) or checked (True/False), RFC 7296 2.15.

    ``octets`` = ``message`` | ``nonce`` | ``maced_id`` where
    ``maced_id`` = prf(SK_px, IDx').  ``signer`` says whose AUTH it is
    ("initiator" or "responder").
    """

    signer: str
    method: str
    message: bytes
    nonce: bytes
    maced_id: bytes
    octets: bytes
    auth: bytes
    verified: bool | None = None


@dataclass(frozen=True)
class ChildSaCreated(Event):
    """A CHILD SA pair was installed (RFC 7296 1.3, 2.17).

    ``spi_in`` is the SPI this peer chose (inbound packets carry it), ``spi_out``
    the peer's.  ``encr_key_in``/``integ_key_in`` protect inbound traffic and
    ``*_out`` outbound traffic; ``keymat`` holds the RFC 7296 2.17 split in
    initiator/responder terms (``encr_i``, ``integ_i``, ``encr_r``, ``integ_r``:
    "i" = carrying data from the exchange initiator to the responder).
    ``local_addr``/``remote_addr`` are the IP addresses of the tunnel ends, and
    ``udp_encap`` says whether ESP travels in UDP/4500 (RFC 3948), with the
    ports in ``local_port``/``remote_port``.  ``exchange_initiator`` says
    whether this peer sent the request that created it (in a rekey, the side
    that may move its outbound traffic to the new SA at once, RFC 7296 2.8).
    ``redundant``: this peer made it in a rekey that crossed the peer's rekey of
    the same CHILD SA, and it lost the nonce rule (RFC 7296 2.8.1): this peer
    deletes it at once, and sends nothing on it meanwhile (the peer drops it
    as soon as the DELETE arrives).
    """

    spi_in: bytes
    spi_out: bytes
    protocol: str
    encr: str
    encr_key_bits: int | None
    integ: str | None
    esn: bool
    encr_key_in: bytes
    integ_key_in: bytes
    encr_key_out: bytes
    integ_key_out: bytes
    keymat: dict[str, bytes]
    ts_local: tuple[str, ...]
    ts_remote: tuple[str, ...]
    mode: str
    udp_encap: bool
    local_addr: str
    remote_addr: str
    local_port: int
    remote_port: int
    exchange: str
    pfs_group: str | None = None
    rekey_of: bytes | None = None
    exchange_initiator: bool = False
    redundant: bool = field(default=False, repr=False)  # repr as before it was added (stored traces)

    @property
    def suite(self) -> str:
        bits = f"-{self.encr_key_bits}" if self.encr_key_bits else ""
        integ = f", {self.integ}" if self.integ else ""
        return f"{self.encr}{bits}{integ}{', ESN' if self.esn else ''}"


@dataclass(frozen=True)
class ChildSaRekeyed(Event):
    """A CHILD SA was replaced by a new one (RFC 7296 2.8); the old one is deleted next."""

    old_spi_in: bytes
    old_spi_out: bytes
    new_spi_in: bytes
    new_spi_out: bytes
    pfs: bool


@dataclass(frozen=True)
class ChildSaDeleted(Event):
    """A CHILD SA pair was removed (DELETE, lifetime, rekey, or with its IKE SA)."""

    spi_in: bytes
    spi_out: bytes
    reason: str


@dataclass(frozen=True)
class IkeSaEstablished(Event):
    """IKE_AUTH completed: both peers are authenticated (RFC 7296 1.2)."""

    spi_i: bytes
    spi_r: bytes
    suite: str
    local_id: str
    remote_id: str
    auth_method: str
    remote_auth_method: str


@dataclass(frozen=True)
class IkeSaRekeyed(Event):
    """The IKE SA was replaced by a new one with new SPIs and keys (RFC 7296 2.18)."""

    old_spi_i: bytes
    old_spi_r: bytes
    new_spi_i: bytes
    new_spi_r: bytes


@dataclass(frozen=True)
class IkeSaDeleted(Event):
    """The IKE SA is gone (DELETE, rekeyed away, failed, timed out)."""

    spi_i: bytes
    spi_r: bytes
    reason: str


@dataclass(frozen=True)
class PeerMoved(Event):
    """A protected message came from a new address or port (a NAT rebinding): the IKE SA, and the ESP of its
    CHILD SAs, go there from now on (RFC 7296 2.23).  A host behind the NAT never follows the peer.

    ``children``: the transport-mode CHILD SAs whose selectors held the peer's ``old`` address, put there
    across the NAT (2.23.1), and now hold the ``new`` one, as ``(spi_in, ts_local, ts_remote)`` in the text of
    :class:`ChildSaCreated`; the ESP layer puts these selectors, and ``new`` as the SA's remote address, in place.
    """

    spi_i: bytes
    spi_r: bytes
    old: tuple[str, int]
    new: tuple[str, int]
    children: tuple[tuple[bytes, tuple[str, ...], tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class LivenessChecked(Event):
    """An empty INFORMATIONAL exchange (RFC 7296 1.4) completed (``alive``) or gave up."""

    message_id: int
    alive: bool


@dataclass(frozen=True)
class Retransmitted(Event):
    """A request was sent again (RFC 7296 2.1); ``timeout`` is how long the engine now waits for its response
    before the next try."""

    exchange: str
    message_id: int
    attempt: int
    timeout: float


@dataclass(frozen=True)
class Failure(Event):
    """Something went wrong: ``notify`` names the RFC 7296 error Notify (if any).

    ``fatal`` says whether the IKE SA is gone because of it.
    """

    notify: str | None
    reason: str
    fatal: bool = False
    exchange: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Unread:
    """A message whose summary nobody has asked for yet: what the engine puts in an event's ``summary``.

    The RFC 7296 notation of a message (``HDR, SK {IDi, AUTH, SAi2, TSi, TSr}``) is worked out from its
    payloads.  A driver that drops its events unread (a busy responder) need not pay for that, so the
    engine hands :class:`MessageSent` and :class:`MessageReceived` the message itself, wrapped in this,
    and the text is made the first time ``event.summary`` is read (then kept in the event).
    """

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Unread({self.message!r})"


class _Summary:
    """``event.summary``: the text, made from an :class:`Unread` message when first read (see there)."""

    def __get__(self, event: Any, owner: type | None = None) -> Any:
        if event is None:
            return self
        d = event.__dict__
        value = d["summary"]
        if value.__class__ is Unread:
            from .exchanges_wire import summary  # here: exchanges_wire imports this module

            value = d["summary"] = summary(value.message)
        return value

    def __set__(self, event: Any, value: Any) -> None:  # a data descriptor, so that it comes before __dict__
        raise FrozenInstanceError("cannot assign to field 'summary'")

    def __delete__(self, event: Any) -> None:
        raise FrozenInstanceError("cannot delete field 'summary'")


# installed after @dataclass, which would otherwise take the descriptor for the field's default value
MessageSent.summary = MessageReceived.summary = _Summary()  # type: ignore[assignment, misc]


def _every_event(cls: type) -> list[type]:
    return [cls] + [c for sub in cls.__subclasses__() for c in _every_event(sub)]


for _cls in _every_event(Event):
    quick_init(_cls)  # an engine reports ~18 events per handshake: build them without object.__setattr__


__all__ = [
    "AuthComputed",
    "ChildSaCreated",
    "ChildSaDeleted",
    "ChildSaRekeyed",
    "Event",
    "Failure",
    "FragmentReceived",
    "IkeSaDeleted",
    "IkeSaEstablished",
    "IkeSaRekeyed",
    "KeysDerived",
    "LivenessChecked",
    "MessageDropped",
    "MessageReceived",
    "MessageSent",
    "PeerMoved",
    "Retransmitted",
    "Unread",
    "VirtualIpAssigned",
    "VirtualIpNotAssigned",
]
