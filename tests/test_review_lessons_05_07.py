"""Review of lessons 05 (IKE_SA_INIT), 06 (IKE_AUTH) and 07 (CREATE_CHILD_SA): the numbers a student reads.

Each test reruns the small lab a lesson runs (a few milliseconds each) or reads the stored notebook outputs with
``json``, and checks them against values built another way: wire bytes walked with ``struct`` (RFC 7296 3.1, 3.2),
prf and prf+ with the standard library's ``hmac`` (PRF_HMAC_SHA2_256, RFC 4868; prf+ of RFC 7296 2.13), key
lengths from the transform RFCs, the Ed25519 signature with ``cryptography``.  Only the Diffie-Hellman secret
g^ir and the SK_* keys given as inputs come from ikelab's events.  No notebook is executed here.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from ikelab import events, exercises, figures_ike as fi
from ikelab.exercises import ExerciseFailed
from ikelab.lab import Lab
from reference import hmac_sha256 as prf, prf_plus

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
L05, L06, L07 = "05-ike-sa-init.ipynb", "06-ike-auth.ipynb", "07-create-child-sa-and-rekeying.ipynb"
KEY_PAD = b"Key Pad for IKEv2"  # RFC 7296 2.15: 17 ASCII characters, no NUL

# payload type numbers of RFC 7296 3.2
SA, KE, NONCE, NOTIFY, DELETE = 33, 34, 40, 41, 42


# --------------------------------------------------------------------------- independent helpers
# prf (HMAC-SHA2-256) and prf+ come from tests/reference.py, written from RFC 4868 and RFC 7296 2.13


def short(value: bytes) -> str:
    """How the lessons print a value: whole up to 16 bytes, else first and last 8 bytes and the length."""
    if len(value) <= 16:
        return value.hex()
    return f"{value[:8].hex()}...{value[-8:].hex()} ({len(value)} bytes)"


def walk(message: bytes) -> tuple[tuple[Any, ...], list[tuple[int, int, int, bytes]]]:
    """The IKE header fields and the (type, offset, length, body) of each clear payload, by struct alone."""
    header = struct.unpack_from("!8s8sBBBBII", message)
    assert header[-1] == len(message), "the header's Length is the whole message (RFC 7296 3.1)"
    payloads, kind, offset = [], header[2], 28
    while kind:
        nxt, _critical, length = struct.unpack_from("!BBH", message, offset)
        payloads.append((kind, offset, length, message[offset + 4:offset + length]))
        kind, offset = nxt, offset + length
    assert offset == len(message)
    return header, payloads


def body(message: bytes, kind: int) -> bytes:
    (found,) = [b for k, _, _, b in walk(message)[1] if k == kind]
    return found


def notebook(name: str) -> list[dict[str, Any]]:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def text(cell: dict[str, Any]) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


def find(cells: list[dict[str, Any]], marker: str) -> int:
    (index,) = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and marker in source(c)]
    return index


def run(*configs: Any, seed: str) -> Lab:
    lab = Lab(*configs, seed=seed)
    lab.initiate()
    lab.run_until_idle()
    return lab


# --------------------------------------------------------------------------- lesson 05


def test_l05_message_1_layout_is_what_the_rfc_sizes_give() -> None:
    """Message 1 (RFC 7296 1.2): 28-octet header, KE = 8 + 256 octets for MODP-2048 (RFC 3526 3, 3.4), Nonce 4 + 32."""
    lab = run(*fi.moon_and_sun("aes128-sha256-modp2048"), seed="lesson05")
    msg1 = lab.trace[0].ike_message
    (spi_i, spi_r, _, version, exchange, flags, mid, length), payloads = walk(msg1)
    assert (spi_r, version, exchange, flags, mid) == (bytes(8), 0x20, 34, 0x08, 0)  # IKE_SA_INIT, I flag, MID 0
    sizes = {k: n for k, _, n, _ in payloads if k != NOTIFY}
    assert sizes[KE] == 8 + 2048 // 8 and struct.unpack_from("!H", body(msg1, KE))[0] == 14
    assert sizes[NONCE] == 4 + 32 and 32 >= max(16, 32 // 2)  # RFC 7296 2.10 for a 32-octet PRF key
    assert [n for k, _, n, _ in payloads if k == NOTIFY] == [8 + 20, 8 + 20]  # NAT-D: SHA-1 digests (2.23)
    stored = re.findall(r"^\s+(\d+)\s+(\d+)\s+(HDR|SA|KE|NONCE|N)", text(notebook(L05)[find(notebook(L05), "msg1 =")]),
                        re.M)
    assert [(int(o), int(n)) for o, n, _ in stored] == [(0, 28)] + [(o, n) for _, o, n, _ in payloads]
    assert f"{length} bytes:" in text(notebook(L05)[find(notebook(L05), "msg1 =")])
    assert spi_i.hex() in text(notebook(L05)[find(notebook(L05), "msg1 =")])


def test_l05_skeyseed_and_the_seven_keys_by_hmac() -> None:
    """SKEYSEED = prf(Ni | Nr, g^ir), then prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) cut 32/32/32/16/16/32/32 (2.14)."""
    lab = run(*fi.moon_and_sun("aes128-sha256-modp2048"), seed="lesson05")
    msg1, msg2 = lab.trace[0].ike_message, lab.trace[1].ike_message
    ni, nr = body(msg1, NONCE), body(msg2, NONCE)
    spi_i, spi_r = struct.unpack_from("!8s8s", msg2)
    kd = lab.events("initiator", events.KeysDerived)[0]
    seed = prf(ni + nr, kd.g_ir)
    stream = prf_plus(seed, ni + nr + spi_i + spi_r, 192)
    cuts, at = {}, 0
    for name, n in (("sk_d", 32), ("sk_ai", 32), ("sk_ar", 32), ("sk_ei", 16), ("sk_er", 16), ("sk_pi", 32),
                    ("sk_pr", 32)):
        cuts[name], at = stream[at:at + n], at + n
    assert seed == kd.skeyseed and all(getattr(kd, name) == value for name, value in cuts.items())
    cells = notebook(L05)
    shown = text(cells[find(cells, "seed = keys.skeyseed")])
    for name, value in cuts.items():
        assert re.search(rf"^SK_{name[3:]}\s.*{re.escape(short(value))}", shown, re.M), name
    assert "SK_ei  bytes  96..111 (16 B, T4     )" in shown and "6 prf+ blocks of 32 bytes" in shown
    assert short(seed) in text(cells[find(cells, "kd_sun =")])


PRF_LEN = {"sha256": 32, "sha384": 48, "sha1": 20, "aesxcbc": 16, "sha512": 64}  # RFC 4868, 2104, 4434
INTEG_LEN = {"sha256": 32, "sha384": 48, "sha1": 20, "aesxcbc": 16, "sha512": 64}  # RFC 4868, 2404, 3566 key sizes
ENCR_LEN = {"aes128": 16, "aes256": 32, "aes128ctr": 16 + 4, "aes128gcm16": 16 + 4, "aes256gcm16": 32 + 4,
            "chacha20poly1305": 32 + 4}  # RFC 5930 / RFC 5282 / RFC 7634: +nonce or salt


def _ike_lengths(suite: str) -> list[int]:
    parts = suite.split("-")
    encr = ENCR_LEN[parts[0]]
    aead = parts[0] in ("aes128gcm16", "aes256gcm16", "chacha20poly1305")
    prf_len = PRF_LEN[parts[1].removeprefix("prf")]
    integ = 0 if aead else INTEG_LEN[parts[1]]
    keys = [prf_len, integ, integ, encr, encr, prf_len, prf_len]
    return keys + [sum(keys), math.ceil(sum(keys) / prf_len)]


def test_l05_every_suite_cuts_the_lengths_of_its_rfcs() -> None:
    """The suite table of section 7: key lengths from the transforms' RFCs, blocks = ceil(total / PRF output)."""
    from ikelab import widgets_ike as ikw

    stored = {line.split()[0]: [int(x) for x in line.split()[1:]]
              for line in text(notebook(L05)[find(notebook(L05), "for suite in ikw.IKE_SUITES")]).splitlines()[2:]}
    assert set(stored) == set(ikw.IKE_SUITES)
    for suite in ikw.IKE_SUITES:
        expected = _ike_lengths(suite)
        _, cut = fi.ike_key_cut(suite, b"n" * 32, b"m" * 32, b"g" * 32, b"i" * 8, b"r" * 8)
        assert [len(p.value) for p in cut.split()] + [cut.total_len, len(cut.blocks)] == expected, suite
        assert stored[suite] == expected, suite


def test_l05_cookie_retry_is_message_1_with_the_cookie_first() -> None:
    """RFC 7296 2.6: the initiator repeats its request with N(COOKIE) as the first payload, the rest unchanged."""
    lab = run(*fi.moon_and_sun(responder={"cookie_threshold": 0}), seed="lesson05")
    first, answer, retry = (p.ike_message for p in lab.trace[:3])
    header, payloads = walk(answer)
    assert [k for k, *_ in payloads] == [NOTIFY] and header[4:7] == (34, 0x20, 0)
    protocol, spi_size, kind = struct.unpack_from("!BBH", payloads[0][3])
    cookie = payloads[0][3][4:]
    assert (protocol, spi_size, kind, len(cookie)) == (0, 0, 16390, 36)  # COOKIE, data of 1..64 octets (3.10.1)
    r_header, r_payloads = walk(retry)
    assert r_payloads[0][0] == NOTIFY and r_payloads[0][3] == payloads[0][3]
    cookie_len = r_payloads[0][2]
    assert r_header[:2] == walk(first)[0][:2] and r_header[4:7] == (34, 0x08, 0)
    assert struct.unpack_from("!B", retry, 28)[0] == walk(first)[0][2]  # the cookie's Next Payload: message 1's first
    assert retry[28 + cookie_len:] == first[28:]
    cells = notebook(L05)
    assert f"data: {short(cookie)}" in text(cells[find(cells, "cookie_threshold")])


def test_l05_invalid_ke_payload_names_the_group_in_two_octets() -> None:
    """RFC 7296 3.10.1: INVALID_KE_PAYLOAD (17) carries the group, 2 octets; the retry offers the same SA (1.2)."""
    lab = run(*fi.moon_and_sun("aes128-sha256-modp2048",
                               initiator={"ike_proposals": ("aes128-sha256-ecp256-modp2048",)}), seed="lesson05")
    first, refusal, retry = (p.ike_message for p in lab.trace[:3])
    assert len(refusal) == 28 + 8 + 2
    assert struct.unpack_from("!BBHH", body(refusal, NOTIFY)) == (0, 0, 17, 14)
    ke_1, ke_3 = body(first, KE), body(retry, KE)
    assert struct.unpack_from("!H", ke_1)[0] == 19 and len(ke_1) == 4 + 64  # ECP-256: x | y (RFC 5903 7)
    assert struct.unpack_from("!H", ke_3)[0] == 14 and len(ke_3) == 4 + 256
    assert body(first, SA) == body(retry, SA)  # the full offer again, not narrowed to the group asked for
    shown = text(notebook(L05)[find(notebook(L05), "lab_k = Lab")])
    assert f"{len(first)} bytes" in shown and "38 bytes" in shown and f"{len(retry)} bytes" in shown


def _exercise_is_new(name: str, given_marker: str, secret_label: str, exercise_id: str) -> None:
    cells = notebook(name)
    given = find(cells, given_marker)
    secret = re.search(rf"{secret_label} (\S+\.\.\.\S+)", text(cells[given])).group(1)
    answer = re.search(r"= (\S+\.\.\.\S+) \(", text(cells[find(cells, f'exercises.check("{exercise_id}"')])).group(1)
    earlier = "".join(text(c) + source(c) for c in cells[:given])
    assert secret not in earlier and answer not in earlier


def test_l05_and_l07_exercises_use_values_no_earlier_cell_shows() -> None:
    """The exercises' new g^ir and their answers appear in no earlier output (the old ones did: 'seed', km3)."""
    _exercise_is_new(L05, "from ikelab import prf", "g\\^ir", "ike.skeyseed")
    _exercise_is_new(L07, "from ikelab import prf", "g\\^ir", "child.keymat-pfs")
    for name in (L05, L07):
        given = source(notebook(name)[find(notebook(name), "from ikelab import prf")])
        assert "kd.skeyseed" not in given and "km3" not in given and "sa3" not in given


def test_l05_nat_detection_digests_by_hashlib_from_the_printed_header() -> None:
    """RFC 7296 2.23: SHA-1(SPIi | SPIr | IP | port).  The given cell prints the header's SPIs, the source sun sees
    and moon's own digest; moon's is over its address behind the NAT (10.1.0.1, port 500), the answer over the
    NAT's (as printed), and the answer is in no cell before the check."""
    import hashlib
    import ipaddress

    cells = notebook(L05)
    given = find(cells, "lab_n = Lab(")
    shown = text(cells[given])
    src, port = re.search(r"receives message 1 from (\S+) port (\d+), on 192\.0\.2\.2 port 500", shown).groups()
    spi_i, spi_r = (bytes.fromhex(v.replace(" ", "")) for v in
                    re.search(r"SPIi ([0-9a-f ]{17})  SPIr ([0-9a-f ]{17})", shown).groups())
    moon = bytes.fromhex(re.search(r"as moon computed it: ([0-9a-f ]+)", shown).group(1).replace(" ", ""))
    assert spi_r == bytes(8) and src == "203.0.113.5" and int(port) != 500  # the NAT rewrote both
    assert moon == hashlib.sha1(spi_i + spi_r + bytes([10, 1, 0, 1]) + struct.pack("!H", 500)).digest()
    answer = hashlib.sha1(spi_i + spi_r + ipaddress.ip_address(src).packed + struct.pack("!H", int(port))).digest()
    check = text(cells[find(cells, 'exercises.check("ike.nat-detection"')])
    assert check.startswith(f"Correct! [ike.nat-detection] SHA-1(SPIi | SPIr | {src} | {port}) = {short(answer)};")
    assert "differs from the one the sender put in the message" in check
    earlier = "".join(text(c) + source(c) for c in cells[:given + 1])
    assert answer.hex()[:16] not in earlier.replace(" ", "")
    ports = text(cells[find(cells, "for p in lab_n.trace")])
    assert "sun: moon is behind a NAT: True  moon: I am behind a NAT: True" in ports
    assert re.search(r"203\.0\.113\.5:\d+ +-> +192\.0\.2\.2:4500 +IKE_AUTH MID=01 Initiator Request", ports)


# --------------------------------------------------------------------------- lesson 06


def test_l06_narrowing_exercise_is_what_the_lab_answers_and_not_shown_before() -> None:
    """RFC 7296 2.9 by hand on the given: TSi = 10.1.0.0/16 within 10.0.0.0/8, TSr = 10.2.0.0/16 within
    10.2.0.0/15, TCP port 443.  The check says so, the lab's message 4 (after the check) carries it, and no cell
    before the check shows that TSr."""
    cells = notebook(L06)
    given = find(cells, "sun_policy = {")
    assert '"local_ts": ("10.2.0.0/15[tcp/443]",), "remote_ts": ("10.0.0.0/8",)' in source(cells[given])
    check = text(cells[find(cells, 'exercises.check("ike.ts-narrowing"')])
    assert check.startswith("Correct! [ike.ts-narrowing] TSi 10.1.0.0/16, TSr 10.2.0.0/16[tcp/443]:")
    lab = text(cells[find(cells, "lab_ts = Lab(")])
    assert "sun grants (message 4): {'TSi': ('10.1.0.0/16',), 'TSr': ('10.2.0.0/16[tcp/443]',)}" in lab
    assert "10.2.0.0/16[tcp/443]" not in "".join(text(c) + source(c) for c in cells[:given + 1])


def test_l06_both_auth_values_by_hmac_from_the_wire() -> None:
    """AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage | peer's nonce | prf(SK_p*, ID')) (2.15)."""
    lab = run(*fi.moon_and_sun("aes128-sha256-modp2048"), seed="lesson06")
    msg1, msg2 = lab.trace[0].ike_message, lab.trace[1].ike_message
    ni, nr = body(msg1, NONCE), body(msg2, NONCE)
    kd = lab.events("initiator", events.KeysDerived)[0]
    pad = prf(fi.LESSON_PSK, KEY_PAD)
    moon = prf(pad, msg1 + nr + prf(kd.sk_pi, struct.pack("!B3x", 2) + b"moon.example.org"))
    sun = prf(pad, msg2 + ni + prf(kd.sk_pr, struct.pack("!B3x", 2) + b"sun.example.org"))
    sent = {e.signer: e.auth for e in lab.events("responder", events.AuthComputed)}
    assert sent == {"initiator": moon, "responder": sun}
    cells = notebook(L06)
    assert f"AUTH payload in message 3: SHARED_KEY_MIC {short(moon)}" in text(cells[find(cells, "auth_rows(a_i")])
    assert f"AUTH = {short(sun)}:" in text(cells[find(cells, 'exercises.check("ike.psk-auth"')])
    assert f"signs {len(msg2)} bytes of message 2" in text(cells[find(cells, "a_r = next(")])


def test_l06_the_events_holding_sun_s_auth_are_gone_before_the_exercise() -> None:
    """Section 3 binds sun's AuthComputed event (its .auth is exercise 1's answer) and must drop it."""
    cells = notebook(L06)
    code = source(cells[find(cells, "a_r = next(")])
    assert re.search(r"^del a_r\b", code, re.M)
    exercise = find(cells, 'exercises.check("ike.psk-auth"')
    assert not any(re.search(r"\ba_r\b", source(c)) for c in cells[find(cells, "a_r = next(") + 1:exercise])


def test_l06_signature_verifies_over_octets_rebuilt_from_the_wire() -> None:
    """The Ed25519 AUTH (RFC 7427, RFC 8420) verifies with the certificate key over RealMessage1 | Nr | MACedIDForI."""
    from cryptography import x509

    from ikelab import auth
    from ikelab.message import decode
    from ikelab.payloads import AUTH, CERT, IDi
    from ikelab.scenario import classic

    sig = classic(auth="ed25519", duration=2, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                  lose_first=False)
    m3 = decode(sig.trace[2].ike_message, fi.lab_crypto(sig.lab))
    idi = m3.find(IDi)
    sk_pi = sig.lab.events("initiator", events.KeysDerived)[0].sk_pi
    octets = (sig.trace[0].ike_message + body(sig.trace[1].ike_message, NONCE)
              + prf(sk_pi, struct.pack("!B3x", idi.id_type) + idi.data))
    signature = auth.parse_signature_auth_data(m3.find(AUTH).data).signature
    x509.load_der_x509_certificate(m3.find(CERT).data).public_key().verify(signature, octets)
    cells = notebook(L06)
    index = find(cells, "x509.load_der_x509_certificate")
    assert "AuthComputed" not in source(cells[index])  # the claim of independence from the engine's event
    assert f"MACedIDForI: {len(octets)} bytes" in text(cells[index])
    assert short(signature) in text(cells[index])


def test_l06_psk_widget_and_table_against_hmac() -> None:
    """The typed-key widget and table: AUTH for other keys by hmac; the empty-key line claims no RFC rule."""
    from ikelab import widgets_ike as ikw

    lab = run(*fi.moon_and_sun("aes128-sha256-modp2048"), seed="lesson06")
    a_i = lab.events("initiator", events.AuthComputed)[0]
    shown = text(notebook(L06)[find(notebook(L06), "tries = [")])
    for psk, accepted in ((fi.LESSON_PSK.decode(), True), ("secret", False), ("ikelab", False)):
        value = prf(prf(psk.encode(), KEY_PAD), a_i.octets)
        widget = ikw.psk_auth_explorer(a_i, "PRF_HMAC_SHA2_256", psk=psk)
        assert widget.accepted is accepted and short(value) in widget.output.value
        assert re.search(rf"^'{re.escape(psk)}'\s+{re.escape(short(value))}\s+{accepted}$", shown, re.M)
    empty = ikw.psk_auth_explorer(a_i, "PRF_HMAC_SHA2_256", psk="")
    assert empty.accepted is None and "ikelab refuses" in empty.output.value
    assert "2.15 refuses" not in empty.output.value  # RFC 7296 2.15 asks for strong keys, it sets no length rule


# --------------------------------------------------------------------------- lesson 07


def _lesson07_lab() -> tuple[Lab, Any, Any]:
    esp = ("aes128-sha256", "aes128-sha256-modp2048")
    lab = run(*fi.moon_and_sun(initiator={"esp_proposals": esp}, responder={"esp_proposals": esp}), seed="lesson07")
    lab.create_child(pfs=False)
    lab.run_until_idle()
    first = lab.events("initiator", events.ChildSaCreated)[0]
    lab.rekey_child("initiator", first.spi_in, pfs=True)
    lab.run_until_idle()
    lab.rekey_ike("initiator")
    lab.run_until_idle()
    return lab, first, lab.events("initiator", events.KeysDerived)


def test_l07_keymat_with_and_without_pfs_and_the_rekeyed_skeyseed_by_hmac() -> None:
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (2.17); SKEYSEED' = prf(SK_d (old), g^ir (new) | Ni | Nr) (2.18)."""
    lab, first, (kd, new) = _lesson07_lab()
    second, third = lab.events("initiator", events.ChildSaCreated)[1:3]
    sa3 = next(c for c in lab.children("initiator") if c.spi_in == third.spi_in)
    sa2 = next(c for c in lab.children("initiator") if c.spi_in == second.spi_in)
    joined = lambda event: b"".join(event.keymat[k] for k in ("encr_i", "integ_i", "encr_r", "integ_r"))  # noqa: E731
    assert joined(second) == prf_plus(kd.sk_d, sa2.ni + sa2.nr, 96)
    assert joined(third) == prf_plus(kd.sk_d, sa3.extra["g_ir"] + sa3.ni + sa3.nr, 96)
    seed = prf(kd.sk_d, new.g_ir + new.ni + new.nr)
    stream = prf_plus(seed, new.ni + new.nr + new.spi_i + new.spi_r, 192)
    assert (seed, stream[:32], stream[96:112]) == (new.skeyseed, new.sk_d, new.sk_ei)
    cells = notebook(L07)
    assert f"g^ir (new) {short(sa3.extra['g_ir'])}" in text(cells[find(cells, "rekeyed = lab.events")])
    shown = text(cells[find(cells, "seed2 = keys.rekey_skeyseed")])
    assert f"old SPIs {kd.spi_i[:4].hex()} {kd.spi_i[4:].hex()}" in shown
    assert f"-> new {new.spi_i[:4].hex()} {new.spi_i[4:].hex()}" in shown
    assert f"in 0x{first.spi_in.hex()}  out 0x{first.spi_out.hex()}" in text(cells[find(cells, "sa2 = next(")])


def test_l07_exercise_answer_is_the_guess_lab_keymat_by_hmac() -> None:
    """Exercise 1: prf+(SK_d, g^ir (new) | Ni | Nr) of the ECP-256 rekey, 96 bytes, equals what the engine installed."""
    lab = run(*fi.moon_and_sun(initiator={"esp_proposals": ("aes128-sha256-modp2048-ecp256",)},
                               responder={"esp_proposals": ("aes128-sha256-ecp256",)}), seed="lesson07-guess")
    lab.rekey_child("initiator")
    lab.run_until_idle()
    sk_d = lab.events("initiator", events.KeysDerived)[0].sk_d
    (child,) = lab.children("initiator")
    created = lab.events("initiator", events.ChildSaCreated)[-1]
    assert child.spi_in == created.spi_in and len(child.extra["g_ir"]) == 32  # ECP-256: the x coordinate (RFC 5903 7)
    keymat = prf_plus(sk_d, child.extra["g_ir"] + child.ni + child.nr, 2 * (16 + 32))
    assert keymat == b"".join(created.keymat[k] for k in ("encr_i", "integ_i", "encr_r", "integ_r"))
    cells = notebook(L07)
    assert f"KEYMAT = {short(keymat)}:" in text(cells[find(cells, 'exercises.check("child.keymat-pfs"')])


def test_l07_delete_lists_the_spis_each_sender_receives_on() -> None:
    """RFC 7296 1.4.1 / 3.11: the Delete names the SA by the SPI its sender expects in inbound packets."""
    cells = notebook(L07)
    first = re.search(r"CHILD SA #1 \(IKE_AUTH\):\s+in 0x(\w+)\s+out 0x(\w+)", text(cells[find(cells, "sa2 = next(")]))
    shown = text(cells[find(cells, "d = decode(packet.ike_message, crypto).find(Delete)")])
    assert re.search(rf"Initiator Request\s+Delete ESP 0x{first.group(1)}$", shown, re.M)
    assert re.search(rf"Responder Response\s+Delete ESP 0x{first.group(2)}$", shown, re.M)


ESP_ENCR = {"aes128": 16, "aes256": 32, "aes128gcm16": 20, "aes256gcm16": 36, "chacha20poly1305": 36,
            "aes128ctr": 20}  # RFC 4106 8.1, RFC 7634, RFC 3686: salt or nonce included
ESP_INTEG = {"sha256": 32, "sha512": 64, "sha1": 20, None: 0}


def _collision_blocks(shown: str) -> list[dict[str, str]]:
    """The exchanges format_collision printed: who started it, the first 8 octets of Ni and Nr, moon's SPIs."""
    return [dict(by=m[0], ni=m[1], nr=m[2], spi_in=m[3], spi_out=m[4]) for m in re.findall(
        r"exchange started by (\w+) \(MID \d+\), N\(REKEY_SA\) 0x[0-9a-f]{8}\n"
        r"  Ni ([0-9a-f]{16})\.\.\.\S+ \(32 bytes\)\n  Nr ([0-9a-f]{16})\.\.\.\S+ \(32 bytes\)\n"
        r"  moon's new SA: in 0x([0-9a-f]{8}), out 0x([0-9a-f]{8})", shown)]


def test_l07_simultaneous_rekey_keeps_the_sa_without_the_lowest_nonce() -> None:
    """RFC 7296 2.8.1 applied to the printed nonces (their first 8 octets differ, so they decide): moon keeps the SA
    of the other exchange, its maker deleted the one with the lowest nonce; the exercise's collision is another
    one, whose outcome no cell shows before the check, and whose lab is not kept in a name."""
    cells = notebook(L07)
    shown = text(cells[find(cells, 'fc.collided_lab("lesson07-again")')])
    blocks = _collision_blocks(shown)
    assert {b["by"] for b in blocks} == {"moon", "sun"}
    nonces = sorted(b[k] for b in blocks for k in ("ni", "nr"))
    assert len(set(nonces)) == 4
    (closed,) = [b for b in blocks if nonces[0] in (b["ni"], b["nr"])]
    (kept,) = [b for b in blocks if b is not closed]
    assert f"moon keeps: in 0x{kept['spi_in']} out 0x{kept['spi_out']}" in shown
    assert f"initiator: CHILD SA in 0x{closed['spi_in']} out 0x{closed['spi_out']} deleted (" in shown
    given = find(cells, 'fc.collided_lab("lesson07-exercise")')
    assert re.match(r"rows2 = fc\.collision_rows\(fc\.collided_lab\(", source(cells[given]))
    blocks2 = _collision_blocks(text(cells[given]))
    lowest = min(b[k] for b in blocks2 for k in ("ni", "nr"))
    (kept2,) = [b for b in blocks2 if lowest not in (b["ni"], b["nr"])]
    check = text(cells[find(cells, 'exercises.check("child.collision"')])
    assert check.startswith(f"Correct! [child.collision] 0x{kept2['spi_in']}:")
    assert f"0x{kept2['spi_in']}" not in "".join(text(c) for c in cells[:given])


def test_l07_esp_suite_table_lengths() -> None:
    """Section 7's table: encr_i | integ_i | encr_r | integ_r offsets and prf+ blocks of 32 octets."""
    from ikelab import widgets_ike as ikw

    rows = {line.split()[0]: line.split()[1:]
            for line in text(notebook(L07)[find(notebook(L07), "for suite in ikw.ESP_SUITES")]).splitlines()[2:]}
    for suite in ikw.ESP_SUITES:
        encr_name, _, integ_name = suite.partition("-")
        e, a = ESP_ENCR[encr_name], ESP_INTEG[integ_name or None]
        total = 2 * (e + a)
        expected = [str(e), str(a), f"0/{e}/{e + a}/{2 * e + a}", str(total), str(math.ceil(total / 32)), "True"]
        assert rows[suite] == expected, suite
        cut = fi.child_key_cut(suite, "PRF_HMAC_SHA2_256", b"d" * 32, b"n" * 32, b"m" * 32, b"g" * 32)
        assert cut.keymat == prf_plus(b"d" * 32, b"g" * 32 + b"n" * 32 + b"m" * 32, total)
        assert [p.offset for p in cut.split()] == [0, e, e + a, 2 * e + a]


# --------------------------------------------------------------------------- the three checks with the lessons' values


def _fails(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    return str(info.value)


def test_checks_refuse_the_classic_slips_with_the_lessons_own_values(capsys: pytest.CaptureFixture[str]) -> None:
    """With the real nonces, keys and messages of lesson 06, every slip is refused, most with their own hint."""
    lab = run(*fi.moon_and_sun("aes128-sha256-modp2048"), seed="lesson06")
    msg1, msg2 = lab.trace[0].ike_message, lab.trace[1].ike_message
    ni, nr = body(msg1, NONCE), body(msg2, NONCE)
    kd = lab.events("initiator", events.KeysDerived)[0]
    g = kd.g_ir
    given = dict(prf_alg=kd.prf, ni=ni, nr=nr, g_ir=g)
    exercises.check("ike.skeyseed", bytearray(prf(ni + nr, g)), **given)
    assert "nonces go in the order" in _fails("ike.skeyseed", prf(nr + ni, g), **given)
    assert "swapped" in _fails("ike.skeyseed", prf(g, ni + nr), **given)
    assert "both nonces" in _fails("ike.skeyseed", prf(ni, g), **given)
    assert "both nonces" in _fails("ike.skeyseed", prf(nr, g), **given)
    assert "32 bytes" in _fails("ike.skeyseed", prf(ni + nr, g)[:31], **given)

    id_r = struct.pack("!B3x", 2) + b"sun.example.org"
    pad, maced = prf(fi.LESSON_PSK, KEY_PAD), prf(kd.sk_pr, id_r)
    given = dict(prf_alg=kd.prf, psk=fi.LESSON_PSK, message_1=msg1, message_2=msg2, ni=ni, nr=nr, sk_pr=kd.sk_pr,
                 id_r=id_r, sk_pi=kd.sk_pi)
    exercises.check("ike.psk-auth", memoryview(prf(pad, msg2 + ni + maced)), **given)
    slips = {
        prf(pad, msg1 + ni + maced): "its *own* IKE_SA_INIT message",
        prf(pad, msg2 + nr + maced): "NonceIData is Ni",
        prf(pad, msg2 + ni + prf(kd.sk_pi, id_r)): "keyed with SK_pr",
        prf(prf(KEY_PAD, fi.LESSON_PSK), msg2 + ni + maced): "swapped in the pad key",
        prf(prf(fi.LESSON_PSK, KEY_PAD + b"\0"), msg2 + ni + maced): "without a NUL",
        prf(fi.LESSON_PSK, msg2 + ni + maced): "first pad it",
        prf(pad, msg2 + ni + prf(kd.sk_pr, b"sun.example.org")): "ID Type, three RESERVED octets",
    }
    for answer, hint in slips.items():
        assert hint in _fails("ike.psk-auth", answer, **given)

    given = dict(prf_alg=kd.prf, sk_d=kd.sk_d, ni=ni, nr=nr, g_ir=g, length=96)
    exercises.check("child.keymat-pfs", prf_plus(kd.sk_d, g + ni + nr, 96), **given)
    assert "without PFS" in _fails("child.keymat-pfs", prf_plus(kd.sk_d, ni + nr, 96), **given)
    assert "goes first" in _fails("child.keymat-pfs", prf_plus(kd.sk_d, ni + nr + g, 96), **given)
    assert "order Ni | Nr" in _fails("child.keymat-pfs", prf_plus(kd.sk_d, g + nr + ni, 96), **given)
    assert "96 bytes" in _fails("child.keymat-pfs", prf_plus(kd.sk_d, g + ni + nr, 95), **given)
    assert capsys.readouterr().out.count("Correct!") == 3
