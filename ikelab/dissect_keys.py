"""The keys of a dissection: Wireshark's key tables, turned into keyed transforms once per SA.

:mod:`ikelab.dissect` asks :class:`Keys` for an IKE SA's SK payload crypto (by SPI pair) and for an ESP
SA's opener (by SPI and addresses, as Wireshark's ``esp_sa`` table matches them).  Each is built the first
time it is asked for and kept, so a capture of 100,000 packets does not expand a key 100,000 times.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, IntegrityError, ParseError
from .esp_packet import _split_trailer
from .transforms import require_transform
from .wire import check_bytes

__all__ = ["EspOpener", "Keys"]


class Keys:
    """Caches the transforms built from key-table records, per SPI pair / SPI."""

    def __init__(self, tables: Any) -> None:
        self.tables = tables
        self.ike: dict[tuple[bytes, bytes], Any] = {}
        self.esp: dict[tuple[int, str, str], Any] = {}
        self.esp_notes: dict[tuple[int, str, str], str] = {}

    def ike_crypto(self, spi_i: bytes, spi_r: bytes) -> Any:
        key = (spi_i, spi_r)
        if key not in self.ike:
            rec = self.tables.ike_sa(spi_i, spi_r) if self.tables else None
            self.ike[key] = rec.crypto() if rec is not None else None
        return self.ike[key]

    def esp_params(self, spi: int, src: str, dst: str) -> Any:
        key = (spi, src, dst)
        found = self.esp.get(key, False)
        if found is False:
            rec = self.tables.esp_sa(spi, src, dst) if self.tables else None
            if rec is None:
                found = None
            else:
                enc, integ = rec.transforms()
                found = EspOpener(enc, rec.encr_key, integ, rec.auth_key if integ is not None else b"")
            self.esp[key] = found
        return found

    def esp_miss(self, spi: int, src: str, dst: str) -> str:
        """The note of an ESP packet no row decrypts (a row for its SPI may exist for other addresses)."""
        key = (spi, src, dst)
        note = self.esp_notes.get(key)
        if note is None:  # only asked when there are tables (a KeyTables)
            note = self.esp_notes[key] = self.tables.esp_miss(spi, src, dst)
        return note


_HMAC_DIGESTS = {"AUTH_HMAC_SHA1_96": "sha1", "AUTH_HMAC_SHA2_256_128": "sha256", "AUTH_HMAC_SHA2_384_192": "sha384",
                 "AUTH_HMAC_SHA2_512_256": "sha512", "AUTH_HMAC_MD5_96": "md5"}


class EspOpener:
    """RFC 4303 3.4.4 for one SA with its keyed primitives built once, not per packet.

    Same steps and checks as :func:`ikelab.esp.esp_open` (ICV first, in
    constant time; then decryption and the RFC 4303 2.4 padding check), but
    AES-CBC + HMAC and AES-GCM-16 reuse a keyed cipher object, so a capture
    of 100,000 packets decrypts at tens of thousands of packets a second.
    Other transforms go through :func:`ikelab.esp.esp_open` itself.
    """

    def __init__(self, enc: Any, ekey: bytes, integ: Any, akey: bytes) -> None:
        require_transform(enc, "enc", "encryption")  # once per SA, before any key is used
        require_transform(integ, "integ", "integrity", optional=True)
        ekey, akey = check_bytes(ekey, "ekey"), check_bytes(akey, "akey")
        self.enc, self.ekey, self.integ, self.akey = enc, ekey, integ, akey
        self.mode = "generic"
        name = enc.name
        fast = name == "ENCR_AES_GCM_16" or (name == "ENCR_AES_CBC" and integ is not None
                                              and integ.name in _HMAC_DIGESTS)
        if fast and len(ekey) != enc.key_len:  # the generic path leaves this to esp_open, packet by packet
            raise ConfigError(f"ekey is {len(ekey)} bytes; {name} needs {enc.key_len}", field="ekey",
                              value=len(ekey))
        if name == "ENCR_AES_CBC" and integ is not None and integ.name in _HMAC_DIGESTS:
            import hmac as _hmac

            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            self.ecb = Cipher(algorithms.AES(ekey), modes.ECB()).decryptor()
            self.mac = _hmac.new(akey, digestmod=_HMAC_DIGESTS[integ.name])
            self.icv_len = integ.icv_len
            self.mode = "cbc"
        elif name == "ENCR_AES_GCM_16":
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher_key, self.salt = enc.split_keymat(ekey)
            self.gcm = AESGCM(cipher_key)
            self.mode = "gcm"

    def open(self, data: bytes, seq: int) -> tuple[int, bytes]:
        """``(next_header, payload)``; IntegrityError or ParseError as esp_open raises them.

        Wireshark 4.0's ``esp_sa`` table has no ESN field, so the ICV is checked as for 32-bit sequence
        numbers.  An SA with Extended Sequence Numbers puts the high 32 bits (not sent) into the ICV (RFC 4303
        2.2.1, 3.3.2.1) or the AEAD's AAD (RFC 4106 5), so its packets fail that check, in tshark as here;
        when the ICV does verify with high bits 0 (a capture of the SA's first 2**32 packets), the
        IntegrityError says so, rather than leaving a wrong key to be suspected.
        """
        try:
            return self._open(data, seq)
        except TypeError:  # checked only when it fails: every ESP packet of a capture comes here
            check_bytes(data, "data")
            raise
        except IntegrityError as exc:
            if self._esn_fits(data, seq):
                raise IntegrityError(f"{exc}; it verifies with ESN high bits 0 appended: the SA uses Extended "
                                     "Sequence Numbers (RFC 4303 2.2.1), which Wireshark 4.0's esp_sa table "
                                     "cannot express (tshark marks its ICV bad too)") from None
            raise

    def _esn_fits(self, data: bytes, seq: int) -> bool:
        """Whether the ICV verifies with the ESN high bits 0 (only asked after the 32-bit check failed)."""
        from .esp import esp_open

        try:
            esp_open(data, seq=seq, encryption=self.enc, encryption_key=self.ekey, integrity=self.integ,
                     integrity_key=self.akey, esn=True)
        except (IntegrityError, ParseError):  # a ParseError too: the hint is for a packet that reads whole
            return False
        return True

    def _open(self, data: bytes, seq: int) -> tuple[int, bytes]:
        import hmac as _hmac

        if self.mode == "cbc":
            end = len(data) - self.icv_len
            if end - 24 < 16 or (end - 24) % 16:
                raise ParseError(f"ESP packet of {len(data)} bytes: ciphertext is not whole AES blocks",
                                 field="ciphertext", offset=24)
            mac = self.mac.copy()
            mac.update(data[:end])
            if not _hmac.compare_digest(mac.digest()[: self.icv_len], data[end:]):
                raise IntegrityError(f"{self.integ.name}: ICV does not verify")
            chained = data[8:end - 16]  # IV | C1 .. C(n-1): what each block is XORed with (CBC)
            raw = self.ecb.update(data[24:end])
            n = len(raw)
            plaintext = (int.from_bytes(raw, "big") ^ int.from_bytes(chained, "big")).to_bytes(n, "big")
            start = 24
        elif self.mode == "gcm":
            from cryptography.exceptions import InvalidTag

            if len(data) < 8 + 8 + 16 + 2:
                raise ParseError(f"ESP packet of {len(data)} bytes is too short for AES-GCM", field="esp_payload",
                                 offset=8)
            try:
                plaintext = self.gcm.decrypt(self.salt + data[8:16], data[16:], data[:8])
            except InvalidTag:
                raise IntegrityError(f"{self.enc.name}: ICV does not verify") from None
            start = 16
        else:
            from .esp import esp_open

            result = esp_open(data, seq=seq, encryption=self.enc, encryption_key=self.ekey, integrity=self.integ,
                              integrity_key=self.akey)
            return result.next_header, result.payload
        # the RFC 4303 2.4 padding check, and 2.6: a dummy packet (next header 59) need not be well-formed
        trailer = _split_trailer(plaintext, start)
        return trailer.next_header, trailer.payload
