"""Read the keys a real charon derived out of its file log.

Debian does not ship strongSwan's ``save-keys`` plugin, but charon's file log
at level 4 for the IKE and CHD subsystems (``ike = 4``, ``chd = 4``, and
``ike_name = yes`` so each line names its IKE_SA) prints every intermediate
value of the RFC 7296 key schedule as a hex dump::

    1795825312 14[IKE] <lab|1> SKEYSEED => 32 bytes @ 0x7fbd30004090
    1795825312 14[IKE] <lab|1>    0: B9 B0 D5 DB E3 98 20 BC 75 76 2B 18 7C 98 AE 24  ...... .uv+.|..$
    1795825312 14[IKE] <lab|1>   16: 87 4A 13 DE 93 44 A2 FA D8 7E 1C 69 7E 20 C0 5D  .J...D...~.i~ .]

The values are those of RFC 7296 section 2.14::

    SKEYSEED = prf(Ni | Nr, g^ir)
    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)

and of section 2.17 for each CHILD SA (charon's "seed" is ``Ni | Nr``, or
``g^ir (new) | Ni | Nr`` with PFS)::

    KEYMAT = prf+(SK_d, Ni | Nr)    split as  SK_ei | SK_ai | SK_er | SK_ar

The nonces and SPIs are not printed on their own; they are recovered from the
AUTH "octets" dumps (section 2.15: ``message | nonce | prf(SK_px, IDx')``,
where the message is the IKE_SA_INIT request or response).

:func:`parse_keys` returns one dict per key derivation (a rekeyed IKE SA
gives a new entry), with bytes values named as in RFC 7296.
"""

from __future__ import annotations

import re
from typing import Any

# "<ts> 14[IKE] <lab|1> text" ; the timestamp and the <name|id> tag are optional.
_LINE = re.compile(r"(?:^|\s)(\d{2})\[([A-Z]{3})\] (?:<(?:([^|>]*)\|)?(\d+)> )?(.*)$")
_DUMP_HEAD = re.compile(r"^(.*?) => (\d+) bytes @ (?:0x)?[0-9a-fA-F]+$")
_DUMP_ROW = re.compile(r"^\s*(\d+): ((?:[0-9A-F]{2} ){1,16})")
_CHILD_STATE = re.compile(r"CHILD_SA (\S+)\{(\d+)\} state change: CREATED => INSTALLING")
_CHILD_EST = re.compile(
    r"CHILD_SA (\S+)\{(\d+)\} established with SPIs ([0-9a-f]+)_i(?: \(\d+ bytes\))? ([0-9a-f]+)_o"
    r"(?: \(\d+ bytes\))? and TS (.*) === (.*)$"
)
_CHILD_INIT = re.compile(r"establishing CHILD_SA (\S+?)\{(\d+)\}")
#: "IKE_SA lab[2] rekeyed between ...": logged under the old IKE SA, whose log tag carried the new one's keys
_IKE_REKEYED = re.compile(r"IKE_SA \S+?\[(\d+)\] rekeyed between")
_ESP_SA = re.compile(r"^\s*SPI 0x([0-9a-f]+), src (\S+) dst (\S+)")

#: charon's dump titles (keymat_v2.c, child_sa / keymat) -> RFC 7296 names.
IKE_DUMPS = {
    "shared Diffie Hellman secret": "g_ir",
    "SKEYSEED": "skeyseed",
    "Sk_d secret": "sk_d",
    "Sk_ai secret": "sk_ai",
    "Sk_ar secret": "sk_ar",
    "Sk_ei secret": "sk_ei",
    "Sk_er secret": "sk_er",
    "Sk_pi secret": "sk_pi",
    "Sk_pr secret": "sk_pr",
}
CHILD_DUMPS = {
    "seed": "seed",
    "encryption initiator key": "encr_i",
    "encryption responder key": "encr_r",
    "integrity initiator key": "integ_i",
    "integrity responder key": "integ_r",
}
IKE_KEY_NAMES = tuple(IKE_DUMPS.values())

# IKE header flags (RFC 7296 3.1): I(nitiator) = 0x08, R(esponse) = 0x20.
_FLAG_RESPONSE = 0x20


class _Dump:
    def __init__(self, title: str, size: int) -> None:
        self.title = title
        self.size = size
        self.data = bytearray()

    @property
    def done(self) -> bool:
        return len(self.data) >= self.size


def iter_dumps(log_text: str) -> list[tuple[str | None, int | None, str, str, Any]]:
    """Split a charon log into events ``(ike_name, ike_id, group, kind, value)``.

    ``kind`` is ``"dump"`` with ``value = (title, bytes)`` for a completed hex
    dump, or ``"line"`` with the text for any other line.  Hex-dump rows are
    joined per thread, so interleaved threads do not mix.
    """
    events: list[tuple[str | None, int | None, str, str, Any]] = []
    pending: dict[str, tuple[str | None, int | None, str, _Dump]] = {}
    for raw in log_text.splitlines():
        m = _LINE.search(raw)
        if not m:
            continue
        thread, group, name, ike_id, text = m.groups()
        uid = int(ike_id) if ike_id is not None else None
        cur = pending.get(thread)
        if cur is not None:
            row = _DUMP_ROW.match(text)
            dump = cur[3]
            if row and int(row.group(1)) == len(dump.data):
                want = min(16, dump.size - len(dump.data))
                dump.data += bytes.fromhex(row.group(2))[:want]
                if dump.done:
                    events.append((cur[0], cur[1], cur[2], "dump", (dump.title, bytes(dump.data))))
                    del pending[thread]
                continue
            # an incomplete dump (should not happen): keep what we have
            events.append((cur[0], cur[1], cur[2], "dump", (dump.title, bytes(dump.data))))
            del pending[thread]
        head = _DUMP_HEAD.match(text)
        if head:
            size = int(head.group(2))
            dump = _Dump(head.group(1).strip(), size)
            if size == 0:
                events.append((name, uid, group, "dump", (dump.title, b"")))
            else:
                pending[thread] = (name, uid, group, dump)
            continue
        events.append((name, uid, group, "line", text))
    for name, uid, group, dump in pending.values():
        events.append((name, uid, group, "dump", (dump.title, bytes(dump.data))))
    return events


def _new_ike(name: str | None, uid: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "unique_id": uid, "initiator": None}
    for key in ("spi_i", "spi_r", "ni", "nr", *IKE_KEY_NAMES):
        entry[key] = None
    entry["children"] = []
    return entry


def _apply_octets(entry: dict[str, Any], octets: bytes) -> None:
    """Recover SPIs and a nonce from AUTH octets: IKE_SA_INIT message | nonce | prf(SK_px, IDx')."""
    if len(octets) < 28:
        return
    length = int.from_bytes(octets[24:28], "big")
    mac_len = len(entry["sk_pi"] or b"") or 0
    if length > len(octets) or mac_len == 0:
        return
    nonce = octets[length : len(octets) - mac_len]
    spi_i, spi_r, flags = octets[0:8], octets[8:16], octets[19]
    entry["spi_i"] = entry["spi_i"] or spi_i
    if flags & _FLAG_RESPONSE:
        # the responder's message followed by the initiator's nonce
        entry["spi_r"] = spi_r
        entry["ni"] = entry["ni"] or nonce
    else:
        entry["nr"] = entry["nr"] or nonce


def _finish_child(child: dict[str, Any]) -> None:
    mine = child["initiator"]
    if mine is None:
        return
    out_key, in_key = ("i", "r") if mine else ("r", "i")
    for kind in ("encr", "integ"):
        child[f"{kind}_out"] = child.get(f"{kind}_{out_key}")
        child[f"{kind}_in"] = child.get(f"{kind}_{in_key}")


def parse_keys(log_text: str) -> list[dict[str, Any]]:
    """The IKE SA key derivations found in a charon file log, in order.

    Each dict has ``name`` and ``unique_id`` (charon's ``lab[1]``),
    ``initiator`` (this charon's role), ``spi_i``/``spi_r`` (8 bytes),
    ``ni``/``nr``, ``g_ir``, ``skeyseed``, ``sk_d``, ``sk_ai``, ``sk_ar``,
    ``sk_ei``, ``sk_er``, ``sk_pi``, ``sk_pr`` (bytes, or ``None`` when not
    logged), and ``children``: one dict per CHILD SA with ``name``,
    ``unique_id``, ``initiator`` (of the exchange that created it),
    ``spi_in``/``spi_out`` (ints, as this charon sees them), ``seed``,
    ``encr_i``/``encr_r``/``integ_i``/``integ_r`` (keys of the initiator-to-
    responder and responder-to-initiator directions, RFC 7296 2.17) and
    the same keys by direction, ``encr_in``/``encr_out``/``integ_in``/``integ_out``.
    AEAD CHILD SAs have no integrity keys (``None``).

    Log lines without an IKE_SA tag are ignored: configure the log with
    ``ike_name = yes`` (:class:`interop.charon.Charon` does).
    """
    entries: list[dict[str, Any]] = []
    current: dict[int, dict[str, Any]] = {}  # unique id -> latest entry
    initiators: dict[int, bool] = {}
    child_open: dict[int, dict[str, Any]] = {}
    child_init: set[tuple[int, str]] = set()
    for name, uid, _group, kind, value in iter_dumps(log_text):
        if uid is None:
            continue
        entry = current.get(uid)
        if kind == "line":
            text: str = value
            if "initiating IKE_SA" in text and "is initiating" not in text:
                initiators[uid] = True
            elif "is initiating an IKE_SA" in text:
                initiators[uid] = False
            m = _IKE_REKEYED.search(text)
            if m and entry is not None:
                # the new IKE SA's keys were dumped under the old one's tag; its own tag takes them over,
                # so that CHILD SAs it creates or rekeys later are filed with it
                current[int(m.group(1))] = entry
                continue
            m = _CHILD_INIT.search(text)
            if m:
                child_init.add((uid, m.group(2)))
                continue
            m = _CHILD_STATE.search(text)
            if m and entry is not None:
                child = {
                    "name": m.group(1),
                    "unique_id": int(m.group(2)),
                    "initiator": (uid, m.group(2)) in child_init,
                    "spi_in": None,
                    "spi_out": None,
                    "seed": None,
                    "encr_i": None,
                    "encr_r": None,
                    "integ_i": None,
                    "integ_r": None,
                    "local_ts": None,
                    "remote_ts": None,
                }
                entry["children"].append(child)
                child_open[uid] = child
                continue
            m = _CHILD_EST.search(text)
            if m and uid in child_open:
                child = child_open.pop(uid)
                child["spi_in"] = int(m.group(3), 16)
                child["spi_out"] = int(m.group(4), 16)
                child["local_ts"] = m.group(5).strip()
                child["remote_ts"] = m.group(6).strip()
                _finish_child(child)
            continue
        title, data = value
        if title in IKE_DUMPS:
            key = IKE_DUMPS[title]
            if entry is None or entry[key] is not None:
                entry = _new_ike(name, uid)
                entry["initiator"] = initiators.get(uid)
                entries.append(entry)
                current[uid] = entry
            entry[key] = data
            if name and not entry["name"]:
                entry["name"] = name
        elif entry is None:
            continue
        elif title.startswith("octets = message + nonce"):
            if name and not entry["name"]:
                entry["name"] = name
            _apply_octets(entry, data)
        elif title in CHILD_DUMPS and uid in child_open:
            child_open[uid][CHILD_DUMPS[title]] = data
    for entry in entries:
        if entry["initiator"] is None:
            entry["initiator"] = initiators.get(entry["unique_id"])
    return entries
