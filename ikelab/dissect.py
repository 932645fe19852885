"""Dissecting captures: every IKE message and ESP packet, decrypted where the keys are known.

Any pcap or pcapng file (ikelab's own, or one taken next to strongSwan,
libreswan or a router) goes through the same steps, one frame at a time:

1. the link layer is removed (:func:`ikelab.pcap.ip_payload`) and the IP
   header read (IPv4 or IPv6);
2. the packet is sorted as RFC 7296 2.23 and RFC 3948 2.2 say: UDP port 500
   is IKE; on UDP port 4500 a payload starting with the four-zero-octet
   Non-ESP Marker is IKE, the single octet 0xFF is a NAT-keepalive, anything
   else is ESP; IP protocol 50 is ESP (RFC 4303).  As in Wireshark, the lower
   port decides between 500 and 4500 (IKE, after a marker if there is one),
   and an empty UDP payload, or a UDP Length below 8 (RFC 768), is plain UDP;
3. an IKE message is decoded (:func:`ikelab.message.decode`); if its SPI
   pair is in the ``ikev2_decryption_table`` its SK payload is checked
   (ICV, RFC 7296 3.14) and decrypted;
4. an ESP packet's SPI, IP version and addresses are looked up in the
   ``esp_sa`` table (:meth:`ikelab.wireshark.KeyTables.esp_sa`); if found its
   ICV is checked and it is decrypted (:func:`ikelab.esp.esp_open`, RFC 4303
   3.4.4) down to the inner packet; if not, the note says whether a row for
   its SPI exists for other addresses.

Nothing stops the dissection: a frame that is not IP, a truncated header, an
ICV that does not verify or an unknown SPI gives a row with a ``note``.  IP
fragments are reassembled as Wireshark does (:class:`_Fragments`): the frame
that completes a datagram is dissected as the whole of it, and the earlier
pieces are listed as fragments.  So are IKE's own fragments (SKF, RFC 7383),
once decrypted: the frame of the last piece shows the joined message.  Wireshark 4.0's ``esp_sa`` table has
no ESN field, so ESP sequence numbers are taken as 32-bit (RFC 4303 2.2).
Hot path: the keyed cipher objects of each SA are built once
(:class:`ikelab.dissect_keys.EspOpener`), which is what lets a 100,000-packet capture decrypt
at about 100,000 packets a second.

Each row (:class:`Row`) is what Wireshark's packet list shows -- No., Time
(relative to the first packet, Wireshark's default), Source, Destination,
Protocol, Length (the frame), Info (``IKE_SA_INIT MID=00 Initiator Request``,
``ESP (SPI=0x0d713155)``) -- plus the payloads in RFC 7296 notation
(``HDR, SK {IDi, AUTH, SAi2, TSi, TSr}``) and the ESP SPI, sequence number
and inner packet.

The code is in five modules, one idea each, and this module gathers their
names: :mod:`ikelab.dissect_rows` is the packet list (:class:`Row`,
:class:`Dissection`), :mod:`ikelab.dissect_ip` the IP header and IP
reassembly, :mod:`ikelab.dissect_ike` one IKE message (:func:`payload_names`,
SKF joined), :mod:`ikelab.dissect_esp` one ESP packet, and
:mod:`ikelab.dissect_frames` the frames sorted by port (:func:`dissect`,
:func:`dissect_frames`); the SAs' keys are :mod:`ikelab.dissect_keys`.
"""

from __future__ import annotations

from .dissect_esp import _II, _dissect_esp  # noqa: F401 - re-exported: callers and tests use these names
from .dissect_frames import _udp_encap, dissect, dissect_frames  # noqa: F401
from .dissect_ike import _dissect_ike, _IkeFragments, payload_names  # noqa: F401
from .dissect_ip import _HH, _IP_PROTOCOLS, _clip_ip, _Fragments, _frame_ip, _parse_ip, _v6_upper_layer  # noqa: F401
from .dissect_rows import Dissection, Row

__all__ = ["Dissection", "Row", "dissect", "dissect_frames", "payload_names"]
