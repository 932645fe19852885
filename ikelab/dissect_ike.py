"""Dissecting one IKE message: its header, its payloads named in RFC 7296 notation, its SK payload decrypted.

The message is decoded (:func:`ikelab.message.decode`, RFC 7296 3.1); if its
SPI pair is in the ``ikev2_decryption_table`` its SK payload is checked (ICV,
RFC 7296 3.14) and decrypted.  IKE's own fragments (SKF, RFC 7383 2.5) are
joined as Wireshark joins them: the frame of the last piece shows the message.
:func:`payload_names` writes a payload list as RFC 7296 1.2 does
(``SA``, ``KE``, ``Ni``, ``N(NAT_DETECTION_SOURCE_IP)``, ``SK``).
"""

from __future__ import annotations

from typing import Any, Iterable

from .dissect_keys import Keys
from .dissect_rows import Row
from .errors import IkelabError, IntegrityError


def payload_names(payloads: Iterable[Any], is_response: bool) -> tuple[str, ...]:
    """Payload names in RFC 7296 notation: ``SA``, ``KE``, ``Ni``/``Nr``, ``N(TYPE)``, ``IDi``, ``SK``...

    Notify and Configuration payloads carry their type; the nonce takes
    ``i``/``r`` from the message direction (RFC 7296 1.2).
    """
    from .payloads import CP, SK, SKF, Nonce, Notify, UnknownPayload

    out = []
    for p in payloads:
        if isinstance(p, Nonce):
            out.append("Nr" if is_response else "Ni")
        elif isinstance(p, Notify):
            t = p.notify_type
            out.append(f"N({getattr(t, 'name', t)})")
        elif isinstance(p, CP):
            t = p.cfg_type
            out.append(f"CP({getattr(t, 'name', t)})")
        elif isinstance(p, SKF):
            out.append("SKF")
        elif isinstance(p, SK):
            out.append("SK")
        elif isinstance(p, UnknownPayload):
            out.append(f"UNKNOWN({int(p.payload_type)})")
        else:
            out.append(p.name)
    return tuple(out)



def _dissect_ike(row: Row, data: bytes, keys: Keys, ike_fragments: "_IkeFragments | None" = None) -> None:
    from .message import decode, decode_header
    from .payloads import SK, SKF
    from .views import info_column, summary

    row.kind, row.protocol = "ike", "ISAKMP"
    try:
        hdr = decode_header(data, check_version=False, check_length=False)
    except IkelabError as exc:
        row.info = "IKE (truncated header)"
        row.note = f"undecodable IKE header: {exc}"
        return
    row.spi_i, row.spi_r = hdr.spi_i.hex(), hdr.spi_r.hex()
    row.message_id, row.is_initiator, row.is_response = hdr.message_id, hdr.is_initiator, hdr.is_response
    if hdr.major_version != 2:
        row.info = f"IKE version {hdr.major_version} (exchange {int(hdr.exchange)})"
        row.exchange = f"IKEv{hdr.major_version}"
        row.note = f"ISAKMP version {hdr.major_version}.{hdr.minor_version}: only IKEv2 is dissected"
        return
    name = getattr(hdr.exchange, "name", None)
    row.exchange = name if name else str(int(hdr.exchange))
    try:
        msg = decode(data)
    except IkelabError as exc:
        from .message import Message

        row.info = info_column(Message(hdr.spi_i, hdr.spi_r, hdr.exchange, hdr.is_initiator, hdr.is_response,
                                       hdr.message_id))
        row.note = f"malformed: {exc}"
        return
    row.info = info_column(msg)
    row.payloads = payload_names(msg.payloads, msg.is_response)
    last = msg.payloads[-1] if msg.payloads else None
    if isinstance(last, (SK, SKF)):
        row.decrypted = False
        crypto = keys.ike_crypto(hdr.spi_i, hdr.spi_r)
        if crypto is None:
            row.note = "no key for this IKE SA" if keys.tables else ""
        else:
            try:
                msg = decode(data, crypto)
                row.decrypted, row.icv_ok = True, True
                if isinstance(msg.payloads[-1], SKF) and ike_fragments is not None:
                    msg = ike_fragments.add(row, msg, len(data)) or msg
            except IntegrityError as exc:
                if _icv_verifies(crypto.for_message(hdr.is_initiator), data):  # a Pad Length past the decrypted data:
                    row.icv_ok = True  # the ICV is right, SK_e is not (tshark: "Pad length is too big")
                    row.note = f"decryption failed: {exc}"
                else:
                    row.icv_ok = False
                    row.note = f"ICV check failed: {exc}"
            except IkelabError as exc:  # e.g. garbage payloads from a wrong SK_e: then the ICV was right
                row.icv_ok = True if _icv_verifies(crypto.for_message(hdr.is_initiator), data) else None
                row.note = f"decryption failed: {exc}"
        inner = msg.payloads[-1]
        if isinstance(inner, SK) and inner.inner is not None:
            row.inner_payloads = payload_names(inner.inner, msg.is_response)
    row.summary = summary(msg)
    row.message = msg



def _icv_verifies(crypto: Any, data: bytes) -> bool:
    """Whether the ICV that ends ``data`` verifies: it covers the message from the IKE header through the Pad
    Length (RFC 7296 3.14).  An AEAD cipher has no separate ICV (its tag failing is all that is known)."""
    if crypto.encr.is_aead:
        return False
    icv_len = crypto.integ.icv_len
    try:
        crypto.integ.verify(crypto.sk_a, data[:-icv_len], data[-icv_len:])
    except IkelabError:
        return False
    return True


class _IkeFragments:
    """IKE fragments (SKF, RFC 7383) joined as Wireshark does: the frame of the last piece shows the message."""

    def __init__(self) -> None:
        self.open: dict[tuple[Any, ...], tuple[Any, list[int]]] = {}  # message -> (Reassembly, frame numbers)

    def add(self, row: Row, msg: Any, size: int) -> Any:
        """The joined message when ``msg`` (a decrypted fragment) completes it, else None."""
        from .ike_fragments import Reassembly
        from .views import info_column

        key = (msg.spi_i, msg.spi_r, int(msg.exchange), msg.message_id, msg.is_initiator, msg.is_response)
        if key not in self.open:
            self.open[key] = (Reassembly(msg.message_id, max_octets=None), [])  # a capture: no engine limits
        buf, frames = self.open[key]
        try:
            outcome, result = buf.add(msg, msg.payloads[-1], size)
        except IkelabError as exc:  # every piece decrypted, but together they do not read as payloads
            del self.open[key]
            row.note = f"IKE fragments do not join: {exc}"
            return None
        if outcome == "ignored":
            row.note = result
            return None
        frames.append(row.no)
        if outcome == "kept":
            return None
        del self.open[key]
        row.info = info_column(msg, reassembled=True)  # tshark -2 marks the frame that completes the message
        row.note = f"{buf.total} IKE fragments ({buf.size} bytes): " + ", ".join(f"#{no}" for no in frames)
        return result

