"""ESP, the Encapsulating Security Payload (RFC 4303), with UDP encapsulation (RFC 3948).

The packet (RFC 4303 2, figure 1)::

    SPI (4) | Sequence Number (4) | IV | encrypted( Payload | Padding | Pad Length | Next Header ) | ICV

* **Padding** (2.4): "the Padding bytes are initialized with a series of
  (unsigned, 1-byte) integer values ... 1, 2, 3, ..."; it makes
  ``Payload | Padding | Pad Length | Next Header`` a multiple of the cipher's
  block size and of 4 bytes.  The receiver checks those bytes too.
* **Integrity** (2.8, 3.3.4): for ordinary ciphers the ICV is
  ``integ(SK_a, SPI | Seq | IV | ciphertext [| Seq_hi])``, where the high 32
  bits of an extended sequence number (ESN, 2.2.1) are *not sent* but are
  appended for the ICV computation.  For AEAD ciphers the tag is the ICV and
  the associated data is ``SPI | Seq`` or, with ESN, ``SPI | Seq_hi | Seq_lo``
  (RFC 4106 5, RFC 4309 5, RFC 7634 2.1).
* **IVs**: CBC needs unpredictable IVs (RFC 3602 3), drawn from the injected
  random source.  Counter-based modes (CTR, GCM, CCM, ChaCha20-Poly1305) only
  need IVs that never repeat under one key; RFC 4106 3.1 allows "a counter",
  so ikelab uses the 64-bit sequence number (ESN high bits included) as the
  IV.  A sequence number is never reused within an SA, so neither is the IV.
* **Inbound order** (3.4): anti-replay pre-check, then the ICV (constant time)
  before anything else is trusted, then decryption and the padding check,
  and only then the replay window update.

Keys are the CHILD SA's KEYMAT slices as RFC 7296 2.17 gives them: for GCM,
CCM, CTR and ChaCha20 the encryption key includes its salt/nonce.

UDP encapsulation (RFC 3948) lives in :mod:`ikelab.natt`; its names are
re-exported here (``ikelab.esp.classify_udp4500`` is the port-4500 rule).

The code is in three modules, one idea each, and this module gathers their
names: :mod:`ikelab.esp_packet` is one packet as pure functions (padding,
:func:`esp_seal`, :func:`esp_open`, the header and the trailer),
:mod:`ikelab.esp_transforms` resolves an SA's transforms and keys its AEAD
once, and :mod:`ikelab.esp_sa` is the SA (:class:`EspSa`, :func:`esp_sa_pair`).
"""

from __future__ import annotations

from .esp_packet import (  # noqa: F401 - re-exported: callers and tests use these names
    _II,
    _MASK32,
    _PADDING,
    ESP_HEADER_LEN,
    NEXT_HEADER_IPV4,
    NEXT_HEADER_IPV6,
    NEXT_HEADER_NONE,
    EspTrailer,
    _align,
    _open,
    _seal,
    _split_trailer,
    esp_open,
    esp_padding,
    esp_seal,
    parse_esp_header,
    tunnel_inner,
)
from .esp_sa import EspSa, esp_sa_pair  # noqa: F401
from .esp_transforms import _keyed_cipher, _resolve_encryption, _resolve_integrity, _transforms  # noqa: F401
from .ipsec_sa import Direction, Lifetime, Mode, SaCounters
from .natt import add_non_esp_marker, classify_udp4500, udp_encapsulate

__all__ = [
    "Direction",
    "EspSa",
    "EspTrailer",
    "Lifetime",
    "Mode",
    "NEXT_HEADER_IPV4",
    "NEXT_HEADER_IPV6",
    "NEXT_HEADER_NONE",
    "SaCounters",
    "add_non_esp_marker",
    "classify_udp4500",
    "esp_open",
    "esp_padding",
    "esp_sa_pair",
    "esp_seal",
    "parse_esp_header",
    "tunnel_inner",
    "udp_encapsulate",
]
