"""Exercise checks of the IKE exchange lessons (05 IKE_SA_INIT, 06 IKE_AUTH, 07 CREATE_CHILD_SA).

Registered in :data:`ikelab.exercises.EXERCISES` when :mod:`ikelab.exercises`
is imported (lesson 06's traffic selector exercise is :mod:`ikelab.exercises_ts`).
Each check computes the expected value with ikelab from the given inputs:

* ``ike.skeyseed``: SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 2.14);
* ``ike.nat-detection``: the N(NAT_DETECTION_SOURCE_IP) data the receiver expects,
  SHA-1(SPIi | SPIr | IP | port) of the source it sees (RFC 7296 2.23);
* ``ike.psk-auth``: the responder's AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"),
  RealMessage2 | NonceIData | prf(SK_pr, RestOfRespIDPayload)) (RFC 7296 2.15);
* ``child.keymat-pfs``: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr) (RFC 7296 2.17);
* ``child.collision``: after a simultaneous CHILD SA rekey, the SPI the initiator receives on: the SA made
  with the lowest of the four nonces is closed (RFC 7296 2.8.1).
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from . import auth as _auth
from . import keys as _keys
from . import prf as _prf
from .errors import ConfigError
from .exercises import Wrong, _name_slips, _spi_name, _want_bytes, _want_spi, register
from .fmt import short_hex
from .notify_payload import nat_detection_hash

__all__: list[str] = []


def _given_bytes(exercise_id: str, **values: Any) -> list[bytes]:
    out = []
    for name, value in values.items():
        if not isinstance(value, (bytes, bytearray)):
            raise ConfigError(f"exercise {exercise_id}: {name} must be bytes, not {type(value).__name__}",
                              field=name, value=value)
        out.append(bytes(value))
    return out


def _answer(answer: Any, what: str, length: int) -> bytes:
    try:
        return _want_bytes(answer, what, length)
    except Wrong as wrong:
        raise Wrong(str(wrong).replace(" (one PRF output)", "")) from None


# --- Lesson 05: IKE_SA_INIT ---------------------------------------------------------------------


@register("ike.skeyseed", "05-ike-sa-init", "SKEYSEED from the nonces and g^ir", "the bytes of SKEYSEED",
           "RFC 7296 2.14: SKEYSEED = prf(Ni | Nr, g^ir): the nonces are the KEY, g^ir is the data.")
def _skeyseed(answer: Any, *, prf_alg: Any, ni: bytes, nr: bytes, g_ir: bytes) -> str:
    p = _prf.get_prf(prf_alg, field="prf_alg")
    ni, nr, g_ir = _given_bytes("ike.skeyseed", ni=ni, nr=nr, g_ir=g_ir)
    expected = _keys.skeyseed(p.transform_id, ni, nr, g_ir)
    got = _answer(answer, "SKEYSEED", p.output_len)
    if got == expected:
        return f"SKEYSEED = {short_hex(got)}, as ikelab.keys.skeyseed({p.name}, Ni, Nr, g^ir) gives."
    wrong = {
        p.prf(g_ir, ni + nr): "key and data are swapped: the nonces Ni | Nr key the prf, g^ir is its input.",
        p.prf(nr + ni, g_ir): "the nonces go in the order Ni | Nr (the initiator's first).",
        p.prf_plus(ni + nr, g_ir, p.output_len): "SKEYSEED is a single prf call, not prf+.",
        p.prf(ni + nr, g_ir + ni + nr): "only g^ir is the data of the prf: Ni | Nr are the key.",
    }
    for nonce in (ni, nr):  # one nonce alone as the key
        wrong.setdefault(p.prf(nonce, g_ir), "the key is both nonces, Ni | Nr, not one of them.")
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong(f"not SKEYSEED. Check SKEYSEED = prf(Ni | Nr, g^ir) and that you used {p.name}.")


@register("ike.nat-detection", "05-ike-sa-init", "The NAT_DETECTION_SOURCE_IP the responder expects",
          "the 20 bytes of the SHA-1 digest",
          "RFC 7296 2.23: SHA-1(SPIi | SPIr | IP address | port), with the SPIs of the message's header (SPIr is "
          "zero in the first message) and the address and port the packet comes FROM, as the receiver sees them: "
          "the address in 4 octets (IPv4) or 16 (IPv6), the port in 2, network byte order.")
def _nat_detection(answer: Any, *, spi_i: bytes, spi_r: bytes, address: str, port: int, sent: bytes,
                   local_address: str, local_port: int, response_spi_r: bytes | None = None) -> str:
    """``sent`` is the data of the message's own N(NAT_DETECTION_SOURCE_IP), hashed by the sender over its own
    address; ``local_address``/``local_port`` are the receiver's (the destination hash); ``response_spi_r``
    (optional) is the SPIr the responder chose, to recognise it put in the first message's hash."""
    spi_i, spi_r, sent = _given_bytes("ike.nat-detection", spi_i=spi_i, spi_r=spi_r, sent=sent)
    if len(sent) != 20:  # a SHA-1 digest (3.10.1); any other length is no notify data, and would read as a NAT
        raise ConfigError(f"exercise ike.nat-detection: sent must be the 20 bytes of a SHA-1 digest, not {len(sent)}",
                          field="sent", value=sent)
    if response_spi_r is not None:
        (response_spi_r,) = _given_bytes("ike.nat-detection", response_spi_r=response_spi_r)
        if len(response_spi_r) != 8:
            raise ConfigError("exercise ike.nat-detection: response_spi_r must be an 8-byte IKE SPI (RFC 7296 3.1), "
                              f"not {len(response_spi_r)} bytes", field="response_spi_r", value=response_spi_r)
    expected = nat_detection_hash(spi_i, spi_r, address, port)  # checks the SPIs, address and port given
    try:
        destination = nat_detection_hash(spi_i, spi_r, local_address, local_port)
    except ConfigError as exc:
        raise ConfigError(f"exercise ike.nat-detection: local_{exc.field}: {exc}", field=f"local_{exc.field}",
                          value=exc.value) from None
    source, local = ipaddress.ip_address(address), ipaddress.ip_address(local_address)
    if source.version != local.version:  # one packet's source and destination
        raise ConfigError(f"exercise ike.nat-detection: address {source} and local_address {local} are not of one "
                          "IP version", field="local_address", value=local_address)
    address = str(source)
    got = _answer(answer, "the NAT_DETECTION_SOURCE_IP data (a SHA-1 digest)", 20)
    if got == expected:
        verdict = ("differs from the one the sender put in the message: its source was rewritten on the way, so the "
                   "sender is behind a NAT (and both move to UDP port 4500, RFC 7296 2.23)") if sent != expected else \
            "equals the one the sender put in the message: no NAT rewrote the source"
        return f"SHA-1(SPIi | SPIr | {address} | {port}) = {short_hex(got)}; it {verdict}."
    ip = source.packed

    def sha1(*parts: bytes) -> bytes:
        return hashlib.sha1(b"".join(parts)).digest()

    be = port.to_bytes(2, "big")
    wrong = {
        sent: "that is the value in the message: the sender hashed the address and port IT sent from. The receiver "
              "recomputes it with the source address and port it sees; a difference means a NAT on the way.",
        destination: "that is the DESTINATION hash (the receiver's own address and port); the question is about "
                     "the source the packet came from.",
        sha1(spi_r, spi_i, ip, be): "the SPIs go in the order of the header: SPIi, then SPIr.",
        sha1(spi_i, ip, be): "SPIr is part of the hash too, even as eight zero octets in the first message.",
        sha1(spi_i, spi_r, ip): "the port is part of the hash, after the address (a NAPT changes both).",
        sha1(spi_i, spi_r, ip, port.to_bytes(2, "little")): "the port goes in network byte order (big-endian).",
        sha1(spi_i, spi_r, str(address).encode(), be): "the address goes in as its 4 (or 16) octets, not as text.",
        sha1(ip, be, spi_i, spi_r): "the order is SPIi | SPIr | IP | port: the SPIs first.",
        sha1(spi_i, spi_r, ip, (500).to_bytes(2, "big")): "the NAT changed the source port too: use the port the "
                                                           "receiver sees.",
    }
    if response_spi_r is not None:
        wrong.setdefault(sha1(spi_i, response_spi_r, ip, be), "in the first message SPIr is still zero: the hash "
                                                              "takes the SPIs as that message's header has them.")
    wrong.pop(expected, None)  # a slip that gives the right value here (port 500 kept) is no slip
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong("not the digest the receiver computes. Check SHA-1 (not SHA-256), the SPIs from the header, and the "
                "source address and port as the receiver sees them.")


# --- Lesson 06: IKE_AUTH ------------------------------------------------------------------------


@register("ike.psk-auth", "06-ike-auth", "The responder's AUTH value for a pre-shared key", "the bytes of AUTH",
          'RFC 7296 2.15: the responder signs RealMessage2 | NonceIData | MACedIDForR: its own IKE_SA_INIT message, '
          "the initiator's nonce and MACedIDForR = prf(SK_pr, RestOfRespIDPayload); "
          'AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <ResponderSignedOctets>).')
def _psk_auth(answer: Any, *, prf_alg: Any, psk: bytes, message_1: bytes, message_2: bytes, ni: bytes, nr: bytes,
              sk_pr: bytes, id_r: bytes, sk_pi: bytes | None = None) -> str:
    """``sk_pi`` (optional) lets the check recognise MACedIDForR keyed with the initiator's key."""
    p = _prf.get_prf(prf_alg, field="prf_alg")
    psk, message_1, message_2, ni, nr, sk_pr, id_r = _given_bytes(
        "ike.psk-auth", psk=psk, message_1=message_1, message_2=message_2, ni=ni, nr=nr, sk_pr=sk_pr, id_r=id_r)
    if sk_pi is not None:
        (sk_pi,) = _given_bytes("ike.psk-auth", sk_pi=sk_pi)
    maced = p.prf(sk_pr, id_r)
    expected = _auth.psk_auth(p.transform_id, psk, message_2 + ni + maced)
    got = _answer(answer, "AUTH", p.output_len)
    if got == expected:
        return f"AUTH = {short_hex(got)}: the initiator computes the same value and accepts the responder."
    pad = _auth.psk_pad_key(p.transform_id, psk)
    wrong = {
        p.prf(psk, message_2 + ni + maced): 'the pre-shared key is not used directly: first pad it, prf(Shared '
                                            'Secret, "Key Pad for IKEv2"), and key the second prf with that.',
        p.prf(pad, message_2 + nr + maced): "the responder signs the *initiator's* nonce: NonceIData is Ni.",
        p.prf(pad, message_2 + ni + id_r): "MACedIDForR is prf(SK_pr, RestOfRespIDPayload), not the ID itself.",
        p.prf(pad, message_2 + maced): "the initiator's nonce (NonceIData) is missing between RealMessage2 and "
                                       "MACedIDForR.",
        p.prf(pad, message_2 + ni): "MACedIDForR is missing at the end of the signed octets.",
        p.prf(pad, ni + message_2 + maced): "the order is RealMessage2 | NonceIData | MACedIDForR.",
        p.prf(message_2 + ni + maced, pad): "key and data are swapped in the outer prf: the padded key is the key.",
        p.prf(p.prf(psk, _auth.KEY_PAD + b"\x00"), message_2 + ni + maced): '"Key Pad for IKEv2" is 17 octets, '
                                                                            "without a NUL.",
        p.prf(p.prf(_auth.KEY_PAD, psk), message_2 + ni + maced): 'key and data are swapped in the pad key: it is '
                                                                  'prf(Shared Secret, "Key Pad for IKEv2").',
    }
    if len(id_r) > 4:  # the identification data alone: RestOfRespIDPayload starts at the ID Type
        wrong.setdefault(p.prf(pad, message_2 + ni + p.prf(sk_pr, id_r[4:])),
                         "RestOfRespIDPayload is the whole ID payload body after the generic header: ID Type, "
                         "three RESERVED octets, then the identification data.")
        wrong.setdefault(p.prf(pad, message_2 + ni + p.prf(id_r, sk_pr)),
                         "key and data are swapped in MACedIDForR: SK_pr is the key, RestOfRespIDPayload the data.")
    if sk_pi is not None and sk_pi != sk_pr:
        wrong.setdefault(p.prf(pad, message_2 + ni + p.prf(sk_pi, id_r)),
                         "MACedIDForR is keyed with SK_pr, the responder's key: SK_pi MACs the initiator's ID "
                         "(MACedIDForI).")
    for nonce in (ni, nr):  # message 1 signed, with either nonce
        wrong.setdefault(p.prf(pad, message_1 + nonce + maced),
                         "each side signs its *own* IKE_SA_INIT message: the responder's is message 2 (RealMessage2).")
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong("not the responder's AUTH. Check the key pad, the three pieces of the signed octets, whose message "
                "and whose nonce, and their order.")


# --- Lesson 07: CREATE_CHILD_SA -----------------------------------------------------------------


@register("child.keymat-pfs", "07-create-child-sa-and-rekeying", "KEYMAT of a CHILD SA created with PFS",
           "the first `length` bytes of KEYMAT",
           "RFC 7296 2.17: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), with the nonces of the CREATE_CHILD_SA exchange.")
def _keymat_pfs(answer: Any, *, prf_alg: Any, sk_d: bytes, ni: bytes, nr: bytes, g_ir: bytes, length: int) -> str:
    p = _prf.get_prf(prf_alg, field="prf_alg")
    sk_d, ni, nr, g_ir = _given_bytes("child.keymat-pfs", sk_d=sk_d, ni=ni, nr=nr, g_ir=g_ir)
    if isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= 255 * p.output_len:
        raise ConfigError(f"exercise child.keymat-pfs: length must be 1..{255 * p.output_len}, not {length!r}",
                          field="length", value=length)
    expected = _keys.child_keymat(p.transform_id, sk_d, ni, nr, length, g_ir)
    got = _answer(answer, "KEYMAT", length)
    if got == expected:
        return f"KEYMAT = {short_hex(got)}: the same bytes both peers cut their ESP keys from."
    wrong = {
        _keys.child_keymat(p.transform_id, sk_d, ni, nr, length): "that is KEYMAT without PFS: with a new "
                                                                  "Diffie-Hellman, g^ir (new) comes first in the seed.",
        p.prf_plus(sk_d, ni + nr + g_ir, length): "g^ir (new) goes first: g^ir (new) | Ni | Nr.",
        p.prf_plus(sk_d, g_ir + nr + ni, length): "the nonces go in the order Ni | Nr.",
        p.prf_plus(g_ir, sk_d + ni + nr, length): "prf+ is keyed with SK_d; g^ir (new) is part of the seed.",
    }
    if got in wrong:
        raise Wrong(wrong[got])
    raise Wrong("not KEYMAT. Check KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr) and the PRF you used.")


def _collision_rows(rows: Any) -> list[Any]:
    """The two crossing rekeys (:class:`ikelab.figures_collision.CollisionRow`), checked: one started by each peer,
    both seen by one of them (whose ``spi_in`` the answer is), SPIs of 4 octets (RFC 4303 2.1)."""
    try:
        rows = list(rows)
        ok = len(rows) == 2 and all(isinstance(v, (bytes, bytearray)) for r in rows
                                    for v in (r.ni, r.nr, r.spi_in, r.spi_out, r.rekeys)) and \
            all(isinstance(r.started_by, str) and isinstance(r.viewer, str) for r in rows) and \
            rows[0].started_by != rows[1].started_by and rows[0].viewer == rows[1].viewer and \
            all(len(v) == 4 for r in rows for v in (r.spi_in, r.spi_out, r.rekeys))
    except (TypeError, AttributeError):
        ok = False
    if not ok:
        raise ConfigError("exercise child.collision: rows must be the two CollisionRow of "
                          "ikelab.figures_collision.collision_rows (two crossing rekeys, one started by each peer, "
                          "seen by one of them)", field="rows", value=rows)
    return rows


@register("child.collision", "07-create-child-sa-and-rekeying", "The SPI moon receives on after a simultaneous rekey",
          "moon's inbound SPI of the CHILD SA that stays (an int, or hex like '0x1234abcd')",
          "RFC 7296 2.8.1: of the two new SAs, the one created with the LOWEST of the four nonces (Ni and Nr of both "
          "exchanges, compared as octet strings) is closed by the peer that created it, and the old SA is deleted. "
          "An ESP packet carries the SPI its receiver chose (RFC 4303 2.1).")
def _collision(answer: Any, *, rows: Any, old_spi_in: bytes) -> str:
    rows = _collision_rows(rows)
    (old_spi_in,) = _given_bytes("child.collision", old_spi_in=old_spi_in)
    viewer = rows[0].viewer
    peer = next((r.started_by for r in rows if r.started_by != viewer), "its peer")
    own = next((r.rekeys for r in rows if r.started_by == viewer), None)  # its N(REKEY_SA): the SPI it receives on
    if own is not None and old_spi_in != own:
        raise ConfigError(f"exercise child.collision: old_spi_in must be the old SA's SPI {viewer} receives on, as "
                          f"its N(REKEY_SA) names it (0x{own.hex()}), not 0x{old_spi_in.hex()}", field="old_spi_in",
                          value=old_spi_in)
    nonces = [n for r in rows for n in (r.ni, r.nr)]
    lowest = min(nonces)
    closed = next(r for r in rows if lowest in (r.ni, r.nr))
    kept = rows[1] if closed is rows[0] else rows[0]
    spi = _want_spi(answer)
    if spi == int.from_bytes(kept.spi_in, "big"):
        which = "Ni" if lowest == closed.ni else "Nr"
        return (f"{_spi_name(spi)}: the lowest of the four nonces is the {which} of the exchange {closed.started_by} "
                f"started ({short_hex(lowest)}), so that SA is closed by {closed.started_by}; the SA of "
                f"{kept.started_by}'s exchange stays.")

    def stays(close_with: bytes) -> Any:  # the row that stays when the SA made with ``close_with`` is closed
        return rows[1] if close_with in (rows[0].ni, rows[0].nr) else rows[0]

    slips = []
    readings = [text for rule, text in (
        (stays(max(nonces)), "the SA made with the LOWEST nonce is closed, not the highest"),
        (stays(min(rows[0].ni, rows[1].ni)), "all four nonces count, Ni AND Nr of both exchanges"),
        (closed, "the SA made with the lowest of the four nonces is the one its maker CLOSES"))
        if rule is not kept and spi == int.from_bytes(rule.spi_in, "big")]
    if readings:
        slips.append(f"{_spi_name(spi)} is {viewer}'s SPI of the SA that is closed: " + "; or, ".join(readings) + ".")
    if spi == int.from_bytes(kept.spi_out, "big"):
        slips.append(f"that SPI is on the SA that stays, but it is the one {peer} receives on: ESP to {viewer} "
                     f"carries the SPI {viewer} chose (RFC 4303 2.1).")
    if spi == int.from_bytes(closed.spi_out, "big"):
        slips.append(f"that SPI is {peer}'s, on the SA that is closed: wrong SA and wrong direction.")
    if spi == int.from_bytes(old_spi_in, "big"):
        slips.append("that is the old SA's SPI: after the rekey the old SA is deleted (RFC 7296 2.8).")
    old_out = [r.rekeys for r in rows if r.rekeys != old_spi_in]  # the peer's N(REKEY_SA) (rows are checked)
    if old_out and spi == int.from_bytes(old_out[0], "big"):
        slips.append(f"that is the old SA's SPI on which {peer} receives: the old SA is deleted after the rekey "
                     f"(RFC 7296 2.8), and ESP to {viewer} carries the SPI {viewer} chose (RFC 4303 2.1).")
    _name_slips(slips)
    raise Wrong(f"not an SPI of these SAs: take the new SA's SPI that {viewer} receives on ('in').")
