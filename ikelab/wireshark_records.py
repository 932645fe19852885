"""One row of each key table: an IKE SA's SK keys, one direction of a CHILD SA's ESP keys, built from a lab run.

An ``ikev2_decryption_table`` row (packet-isakmp.c ``ikev2_uat_flds``) holds an
IKE SA's SPIs and its SK_e/SK_a keys per direction (RFC 7296 2.14); an
``esp_sa`` row (packet-esp.c ``esp_uat_flds``) holds one direction of a CHILD
SA (RFC 4303): its protocol, addresses, the SPI its *receiver* chose, and the
KEYMAT slices (RFC 7296 2.17).  :func:`ike_record_from_sa`,
:func:`esp_records_from_child` and :func:`records_from_lab` build the rows of
an IKE SA, a CHILD SA and a whole :class:`ikelab.lab.Lab` run; each row turns
back into the transforms that decrypt with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import ConfigError
from .esp_sa_addresses import AddressFilter, SpiFilter, address_filter, spi_filter
from .uat import quote
from .wireshark_names import _name_maps, _weak_ok, _wireshark_knows, _ws_esp_names, _ws_ike_names


@dataclass(frozen=True)
class IkeSaRecord:
    """One ``ikev2_decryption_table`` row: an IKE SA's SPIs and SK_e/SK_a keys (RFC 7296 2.14)."""

    spi_i: bytes
    spi_r: bytes
    sk_ei: bytes
    sk_er: bytes
    encr: str  # Wireshark name, e.g. "AES-CBC-128 [RFC3602]"
    sk_ai: bytes
    sk_ar: bytes
    integ: str  # Wireshark name, e.g. "HMAC_SHA2_256_128 [RFC4868]" or "NONE [RFC4306]"

    @property
    def wireshark_ok(self) -> bool:
        """False when Wireshark 4.0 has no name for the algorithms (the file then holds it as a comment)."""
        return _wireshark_knows(self.encr, self.integ)

    def line(self) -> str:
        """The record as Wireshark writes it: buffers as bare hex, names quoted."""
        return ",".join([self.spi_i.hex(), self.spi_r.hex(), self.sk_ei.hex(), self.sk_er.hex(), quote(self.encr),
                         self.sk_ai.hex(), self.sk_ar.hex(), quote(self.integ)])

    def transforms(self) -> tuple[Any, Any]:
        """``(Encryption, Integrity or None)`` named by this record (ConfigError if unknown)."""
        from . import transforms as tr

        ike_encr, _, ike_integ, _ = _name_maps()
        if self.encr not in ike_encr:
            raise ConfigError(f"unknown IKEv2 encryption name {self.encr!r}", field="encr", value=self.encr)
        if self.integ not in ike_integ:
            raise ConfigError(f"unknown IKEv2 integrity name {self.integ!r}", field="integ", value=self.integ)
        encr_id, bits = ike_encr[self.encr]
        integ_id = ike_integ[self.integ]
        e = _weak_ok(tr.encryption, encr_id, bits)
        if e.is_aead and integ_id is not None:  # packet-isakmp.c refuses the whole table over such a row
            raise ConfigError(f"{self.encr} is AEAD (RFC 5282): its integrity must be "
                              f"{tr.WIRESHARK_IKEV2_INTEG_NONE!r}, not {self.integ!r}", field="integ", value=self.integ)
        i = None if integ_id is None else _weak_ok(tr.integrity, integ_id)
        return e, i

    def crypto(self) -> Any:
        """The :class:`ikelab.sk.SkCryptoPair` that decrypts this IKE SA's SK payloads."""
        from .sk import SkCrypto, SkCryptoPair

        e, i = self.transforms()
        return SkCryptoPair(SkCrypto(e, i, self.sk_ei, self.sk_ai if i else b""),
                            SkCrypto(e, i, self.sk_er, self.sk_ar if i else b""))


@dataclass(frozen=True)
class EspSaRecord:
    """One ``esp_sa`` row: one direction of a CHILD SA (RFC 4303), keyed by its SPI."""

    protocol: str  # "IPv4" or "IPv6" (or ikelab's "Any"): the IP version of the packets it decrypts
    src: str  # as written: an address, "*", or a Wireshark wildcard form (see ikelab.esp_sa_addresses)
    dst: str
    spi: int  # with spi_pattern, the pattern's hex digits with each * as 0 (spis() says which SPIs match)
    encr: str  # Wireshark name, e.g. "AES-GCM with 16 octet ICV [RFC4106]"
    encr_key: bytes
    auth: str  # Wireshark name, e.g. "HMAC-SHA-256-128 [RFC4868]" or "NULL"
    auth_key: bytes
    #: an SPI with Wireshark's wildcards as written (``*``, ``0x0000100*``), read from a table; "" for one SPI
    spi_pattern: str = ""

    @property
    def wireshark_ok(self) -> bool:
        """False when Wireshark 4.0 has no name for the algorithms or the protocol (``Any``): the file then
        holds the row as a comment."""
        return self.protocol in ("IPv4", "IPv6") and _wireshark_knows(self.encr, self.auth)

    @property
    def spi_text(self) -> str:
        return self.spi_pattern or f"0x{self.spi:08x}"

    def spis(self) -> SpiFilter:
        """Which SPIs the row is for (:func:`ikelab.esp_sa_addresses.spi_filter`)."""
        return spi_filter(self.spi_pattern) if self.spi_pattern else SpiFilter(self.spi, 0xFFFFFFFF)

    def line(self) -> str:
        """The record as Wireshark writes it: every field quoted, keys as ``0x...`` hex."""
        fields = [self.protocol, self.src, self.dst, self.spi_text, self.encr, _hexkey(self.encr_key), self.auth,
                  _hexkey(self.auth_key)]
        return ",".join(quote(f) for f in fields)

    def transforms(self) -> tuple[Any, Any]:
        """``(Encryption, Integrity or None)``; the AES key size is read off the key length."""
        from . import transforms as tr

        _, esp_encr, _, esp_integ = _name_maps()
        if self.encr not in esp_encr:
            raise ConfigError(f"unknown ESP encryption name {self.encr!r}", field="encr", value=self.encr)
        if self.auth not in esp_integ:
            raise ConfigError(f"unknown ESP authentication name {self.auth!r}", field="auth", value=self.auth)
        encr_id = esp_encr[self.encr]
        enc = None
        for bits in tr.key_lengths(encr_id) or (None,):
            candidate = _weak_ok(tr.encryption, encr_id, bits)
            if candidate.key_len == len(self.encr_key):
                enc = candidate
                break
        if enc is None:
            raise ConfigError(f"{self.encr}: a {len(self.encr_key)}-byte key fits no key size", field="encr_key",
                              value=len(self.encr_key))
        integ_id = esp_integ[self.auth]
        if enc.is_aead and integ_id is not None:  # packet-esp.c decrypts nothing with such a row
            raise ConfigError(f"{self.encr} is AEAD (RFC 4106): its authentication must be "
                              f"{tr.WIRESHARK_ESP_AUTH_NULL!r}, not {self.auth!r}", field="auth", value=self.auth)
        integ = None if integ_id is None else _weak_ok(tr.integrity, integ_id)
        return enc, integ


def _hexkey(key: bytes) -> str:
    return "0x" + key.hex() if key else ""


def _check_ike_spis(where: str, spi_i: Any, spi_r: Any) -> None:
    """ConfigError naming spi_i or spi_r when it is not bytes: bytes(True) is b"\x00", bytes(8) eight zeros."""
    for name, spi in (("spi_i", spi_i), ("spi_r", spi_r)):
        if not isinstance(spi, (bytes, bytearray, memoryview)):
            raise ConfigError(f"{where}: {name} must be the SPI's bytes, not {type(spi).__name__} {spi!r:.40}",
                              field=name, value=spi)


def ike_record_from_sa(spi_i: bytes, spi_r: bytes, keys: Any, encr: Any, key_bits: int | None,
                       integ: Any) -> IkeSaRecord:
    """The table row of an IKE SA from its SPIs, :class:`ikelab.keys.IkeSaKeys` and negotiated transforms."""
    _check_ike_spis("ike_record_from_sa", spi_i, spi_r)
    encr_name, integ_name = _ws_ike_names(encr, key_bits, integ)
    aead = integ_name.startswith("NONE")
    try:
        return IkeSaRecord(bytes(spi_i), bytes(spi_r), bytes(keys.sk_ei), bytes(keys.sk_er), encr_name,
                           b"" if aead else bytes(keys.sk_ai), b"" if aead else bytes(keys.sk_ar), integ_name)
    except (AttributeError, TypeError):
        raise ConfigError(f"ike_record_from_sa: keys must be the IKE SA's keys (ikelab.keys.IkeSaKeys, e.g. "
                          f"sa.keys), not {type(keys).__name__}", field="keys", value=keys) from None


def esp_records_from_child(event: Any) -> tuple[EspSaRecord, EspSaRecord]:
    """Both ``esp_sa`` rows of a CHILD SA from a :class:`ikelab.events.ChildSaCreated` event.

    Outbound: from ``local_addr`` to ``remote_addr`` with the peer's SPI
    (``spi_out``) and the ``*_out`` keys; inbound the reverse.
    """
    try:
        event.encr, event.encr_key_bits, event.integ, event.local_addr, event.remote_addr  # noqa: B018
    except AttributeError:
        raise ConfigError(f"esp_records_from_child: event must be a ChildSaCreated event (ikelab.events), not "
                          f"{type(event).__name__}", field="event", value=event) from None
    encr_name, auth_name = _ws_esp_names(event.encr, event.encr_key_bits, event.integ)
    proto = "IPv6" if ":" in event.local_addr else "IPv4"
    aead = auth_name == "NULL"
    # a link-local peer's zone (fe80::1%eth0, RFC 4007 11) names our interface: the packets carry the address alone
    local, remote = event.local_addr.partition("%")[0], event.remote_addr.partition("%")[0]
    out = EspSaRecord(proto, local, remote, int.from_bytes(event.spi_out, "big"), encr_name,
                      bytes(event.encr_key_out), auth_name, b"" if aead else bytes(event.integ_key_out))
    inb = EspSaRecord(proto, remote, local, int.from_bytes(event.spi_in, "big"), encr_name,
                      bytes(event.encr_key_in), auth_name, b"" if aead else bytes(event.integ_key_in))
    return out, inb


def records_from_lab(lab: Any, side: str = "initiator") -> tuple[list[IkeSaRecord], list[EspSaRecord]]:
    """Every IKE SA and CHILD SA (both directions) ``side`` had during a :class:`ikelab.lab.Lab` run.

    IKE SAs come from the peer's IKE SA objects (rekeyed ones included),
    CHILD SAs from its :class:`~ikelab.events.ChildSaCreated` events, in
    order of creation; duplicates are dropped.  ESP addresses are those of the
    lab's trace: behind a NAT (``Lab(nat=...)``) the initiator's private address
    becomes the NAT's public one, as the trace shows it (RFC 3948).
    """
    from . import events as ev

    if not all(hasattr(lab, attr) for attr in ("sas", "events", "addresses")):
        raise ConfigError(f"lab must be an ikelab.lab.Lab (after a run), not {type(lab).__name__}", field="lab",
                          value=lab)
    ike: list[IkeSaRecord] = []
    stack = list(lab.sas(side))
    seen: set[int] = set()
    while stack:
        sa = stack.pop(0)
        if id(sa) in seen:
            continue
        seen.add(id(sa))
        stack.extend(getattr(sa, "spawned", []))
        if sa.keys is None or sa.suite is None:
            continue
        rec = ike_record_from_sa(sa.spi_i, sa.spi_r, sa.keys, sa.suite.encr, sa.suite.key_bits, sa.suite.integ)
        if rec not in ike:
            ike.append(rec)
    esp: list[EspSaRecord] = []
    nat, private = getattr(lab, "nat", None), lab.addresses["initiator"]
    for event in lab.events(side, ev.ChildSaCreated):
        for rec in esp_records_from_child(event):
            if nat is not None:  # the trace is taken between the NAT and the responder
                rec = replace(rec, src=nat if rec.src == private else rec.src,
                              dst=nat if rec.dst == private else rec.dst)
            if rec not in esp:
                esp.append(rec)
    return ike, esp


def _esp_filters(rec: EspSaRecord) -> tuple[AddressFilter, AddressFilter]:
    """Both address filters of a row, checked against its protocol; ValueError naming the field if unusable."""
    filters = []
    for name, text in (("source address", rec.src), ("destination address", rec.dst)):
        try:
            f = address_filter(text)
        except ValueError as exc:
            raise ValueError(f"{name} {text!r} {exc}") from None
        if f.version is not None and rec.protocol != "Any" and rec.protocol != f"IPv{f.version}":
            raise ValueError(f"{name} {text!r} is an IPv{f.version} address, but the row's protocol is "
                             f"{rec.protocol}: it would never match")
        filters.append(f)
    src, dst = filters
    if src.version and dst.version and src.version != dst.version:
        raise ValueError(f"source address {rec.src!r} and destination address {rec.dst!r} are of different IP "
                         "versions: no packet has both")
    return src, dst

