"""Review of ikelab.dh_ec (ECP 19/20/21, Curve25519/448) and ikelab.prf (RFC 7296 2.13).

Independent references only; no expected value here is computed by ikelab:

* RFC 5903 section 8.1 and 8.3: r, g^r and the KEr payload, g^ir's x and y (quoted below).
* RFC 7748 section 5.2: the iterated X25519/X448 values after 1 and 1,000 iterations (quoted below).
* RFC 7748 section 5: the x-only doubling formula on Curve25519, written out here, shows the order of
  the low-order points; cryptography's X25519/X448 (OpenSSL) refuses the all-zero value they give.
* RFC 4434 section 2.1 and RFC 4615 section 4: AES-XCBC-PRF-128 and AES-CMAC-PRF-128 with 16-, 10-
  and 18-byte keys (quoted below); RFC 4231 section 4, test cases 2 and 6 (quoted below).
* cryptography's ECDH, CMAC and AES-ECB, and the standard library's ``hmac``, computed directly; from
  tests/reference.py: prf+ (RFC 7296 2.13) written out as ``T(n) = prf(K, T(n-1) | S | n)`` over them, and
  AES-XCBC-MAC (RFC 3566 4) written out over AES-ECB (checked against the RFC 4434 vectors first).
"""

from __future__ import annotations

import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ikelab import dh
from ikelab.constants import PrfId
from ikelab.errors import ConfigError, InvalidPublicValueError
from ikelab.prf import PRF_PLUS_MAX_BLOCKS, get_prf, prf, prf_plus, prf_plus_blocks

from reference import aes_cmac_prf_128, aes_xcbc_mac, aes_xcbc_prf_128, named_prf, prf_plus as reference_prf_plus
from test_dh import RFC5903


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# ============================================================================================
# ECP groups (RFC 5903)
# ============================================================================================

# RFC 5903 section 8.1 (group 19) and 8.3 (group 21): what test_dh.RFC5903 does not quote, the KEr payload
# and the y coordinate of g^ir.
RFC5903_KER_GIRY = {
    19: dict(
        ker="""00000048 00130000 D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C
               736FC755 4494BF63 56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83
               53E74F33 039872AB""",
        giry="522BDE0A F0D8585B 8DEF9C18 3B5AE38F 50235206 A8674ECB 5D98EDB2 0EB153A2",
    ),
    21: dict(
        ker="""0000008c 00150000 00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39
               728B5E57 39735A21 9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C
               ED2B6171 640012D9 460F015C 68226383 956E3BD0 66E797B6 23C27CE0 EAC2F551
               A10C2C72 4D985207 7B87220B 6536C5C4 08A1D2AE BB8E86D6 78AE49CB 57091F47
               32296579 AB44FCD1 7F0FC56A""",
        giry="""01B901E6 B17DB294 7AC017D8 53EF1C16 74E5CFE5 9CDA18D0 78E05D1B 5242ADAA
                9FFC3C63 EA05EDB1 E13CE5B3 A8E50C3E B622E8DA 1B38E0BD D1F88569 D6C99BAF
                FA43""",
    ),
}


@pytest.mark.parametrize("gid", sorted(RFC5903_KER_GIRY))
def test_rfc5903_ker_payload_and_g_ir_is_x_only(gid: int) -> None:
    v = {name: h(text) for name, text in {**RFC5903[gid], **RFC5903_KER_GIRY[gid]}.items()}
    g = dh.group(gid)
    responder = g.from_private_value(int.from_bytes(v["r"], "big"))
    # KEr: generic header (length 0x48 / 0x8c), DH Group Num, RESERVED, then x | y without 0x04 (RFC 5903 7)
    assert int.from_bytes(v["ker"][2:4], "big") == len(v["ker"]) and v["ker"][4:6] == gid.to_bytes(2, "big")
    assert responder.public_bytes() == v["ker"][8:]
    # g^ir is the x coordinate only (RFC 5903 7 and its erratum to RFC 4753), fixed length; y is not in it
    g_ir = responder.exchange(v["gix"] + v["giy"])
    assert g_ir == v["girx"] and len(g_ir) == g.coord_len
    # the RFC's (girx, giry) is a point of the curve, as cryptography sees it
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(v["girx"], "big"), int.from_bytes(v["giry"], "big"),
                                            g.curve())
    assert numbers.public_key().public_numbers().y == int.from_bytes(v["giry"], "big")
    # bytes-like KE data gives the same g^ir
    assert responder.exchange(bytearray(v["gix"] + v["giy"])) == g_ir
    assert responder.exchange(memoryview(v["gix"] + v["giy"])) == g_ir


def _point_with_small_x(g: dh.EcpGroup) -> tuple[int, int]:
    """A point (x, y) with x < 2^32, found with p = 3 (mod 4) square roots (P-256, P-384, P-521)."""
    p = g.p
    for x in range(1 << 32):
        rhs = (x**3 - 3 * x + g.b) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p == rhs:
            return x, y
    raise AssertionError("no point with a small x")  # pragma: no cover


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_x_coordinate_of_p_or_more_is_named(gid: int) -> None:
    """x + p still fits the coordinate's octets when x is small; mod p it is a point of the curve."""
    g = dh.group(gid)
    x, y = _point_with_small_x(g)
    n = g.coord_len
    ec.EllipticCurvePublicNumbers(x, y, g.curve()).public_key()  # cryptography: (x, y) is on the curve
    data = (x + g.p).to_bytes(n, "big") + y.to_bytes(n, "big")
    for call in (lambda: g.validate_public(data), lambda: g.from_private_value(7).exchange(data)):
        with pytest.raises(InvalidPublicValueError, match=rf"x coordinate is p or more.*\(group {g.name}\)"):
            call()
    # and the reduced point is accepted, agreeing with cryptography's ECDH
    good = x.to_bytes(n, "big") + y.to_bytes(n, "big")
    g.validate_public(good)
    peer = ec.EllipticCurvePublicNumbers(x, y, g.curve()).public_key()
    assert g.from_private_value(7).exchange(good) == ec.derive_private_key(7, g.curve()).exchange(ec.ECDH(), peer)


def test_ecp_y_coordinate_of_p_or_more_is_named() -> None:
    g = dh.group(21)  # 66 octets hold y + p
    n = g.coord_len
    data = g.gx.to_bytes(n, "big") + (g.gy + g.p).to_bytes(n, "big")
    for call in (lambda: g.validate_public(data), lambda: g.from_private_value(3).exchange(data)):
        with pytest.raises(InvalidPublicValueError, match=r"y coordinate is p or more.*\(group ECP_521\)"):
            call()


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_refusals_name_the_group_and_the_reason(gid: int) -> None:
    g = dh.group(gid)
    key = g.from_private_value(11)
    n = g.coord_len
    off = g.gx.to_bytes(n, "big") + ((g.gy + 1) % g.p).to_bytes(n, "big")
    cases = [
        (bytes(2 * n), "point at infinity"),
        (off, "not a point on the curve"),
        (b"\x04" + g.gx.to_bytes(n, "big") + g.gy.to_bytes(n, "big"), f"{2 * n + 1} bytes, expected {2 * n}"),
        (bytes(2 * n - 1), f"{2 * n - 1} bytes"),
        ("text", "must be bytes, not str"),
        (None, "must be bytes, not NoneType"),
    ]
    for data, reason in cases:
        for call in (lambda: g.validate_public(data), lambda: key.exchange(data)):
            with pytest.raises(InvalidPublicValueError) as info:
                call()
            assert reason in str(info.value) and f"(group {g.name})" in str(info.value)
            assert info.value.group == g.name


@pytest.mark.parametrize("x,y", [(False, 0), (0, True), (0.0, 1), (1, 2.0), ("1", 2), (None, 1)])
def test_is_on_curve_refuses_what_is_not_an_int(x: object, y: object) -> None:
    g = dh.group(19)
    with pytest.raises(ConfigError, match="must be an int"):
        g.is_on_curve(x, y)  # type: ignore[arg-type]


def test_is_on_curve_of_the_point_with_x_zero() -> None:
    # x = 0 is on P-256 (found above): is_on_curve(False, y) used to say True, as if False were 0
    g = dh.group(19)
    x, y = _point_with_small_x(g)
    assert x == 0 and g.is_on_curve(0, y) and not g.is_on_curve(0, y + 1) and not g.is_on_curve(0, y + g.p)
    assert not g.is_on_curve(-1, y) and not g.is_on_curve(0, -y)


@pytest.mark.parametrize("gid", [20, 21])
def test_is_on_curve_takes_no_negative_x(gid: int) -> None:
    """P-384 and P-521 have points with x = p - 1: x = -1 is congruent to it, yet not in [0, p-1]."""
    g = dh.group(gid)
    rhs = (-1 + 3 + g.b) % g.p
    y = pow(rhs, (g.p + 1) // 4, g.p)
    assert y * y % g.p == rhs
    ec.EllipticCurvePublicNumbers(g.p - 1, y, g.curve()).public_key()  # cryptography: on the curve
    assert g.is_on_curve(g.p - 1, y) and not g.is_on_curve(-1, y)


class _FixedSource:
    """A random source that gives fixed values: which draw becomes the private key is then known."""

    def __init__(self, below: int = 0, data: bytes = b"") -> None:
        self.below, self.data, self.calls = below, data, []

    def randbelow(self, n: int) -> int:
        self.calls.append(("randbelow", n))
        return self.below

    def random_bytes(self, n: int) -> bytes:
        self.calls.append(("random_bytes", n))
        return self.data[:n]


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_seeded_key_is_one_plus_the_draw_below_n_minus_one(gid: int) -> None:
    g = dh.group(gid)
    for below, d in ((0, 1), (41, 42), (g.n - 2, g.n - 1)):
        rng = _FixedSource(below=below)
        key = g.generate(rng)  # type: ignore[arg-type]
        assert rng.calls == [("randbelow", g.n - 1)]
        assert key.private_value == d
        point = ec.derive_private_key(d, g.curve()).public_key().public_numbers()
        assert key.public_bytes() == point.x.to_bytes(g.coord_len, "big") + point.y.to_bytes(g.coord_len, "big")


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_keys_equal_by_group_and_d_and_repr_hides_d(gid: int) -> None:
    g = dh.group(gid)
    d = 0x1D2C3B4A59687766 * 0x1000000 + 0x123457
    a, b, c = g.from_private_value(d), g.from_private_value(d), g.from_private_value(d + 1)
    assert a == b and hash(a) == hash(b) and a != c
    other = dh.group(19 if gid != 19 else 20).from_private_value(d)
    assert a != other and a != d and a != object()
    for text in (repr(a), str(a), f"{a}"):
        assert g.name in text
        for secret in (f"{d:x}", f"{d:X}", str(d), d.to_bytes(g.coord_len, "big").hex()):
            assert secret not in text


class _ShortSecretKey:
    """A backend ECDH key that hands back x without its leading zero octets (as big-integer code would)."""

    def __init__(self, x: bytes) -> None:
        self.x = x

    def exchange(self, algorithm: object, peer: object) -> bytes:
        return self.x.lstrip(b"\x00")


@pytest.mark.parametrize("gid", [19, 21])
def test_ecp_g_ir_is_padded_to_the_coordinate_length(gid: int) -> None:
    """RFC 7296 2.14 and RFC 5903 7: g^ir has the coordinate's fixed length, leading zeros kept."""
    g = dh.group(gid)
    x = bytes(3) + b"\x5a" * (g.coord_len - 3)
    key = dh.EcpPrivateKey(g, _ShortSecretKey(x))  # type: ignore[arg-type]
    peer = g.gx.to_bytes(g.coord_len, "big") + g.gy.to_bytes(g.coord_len, "big")
    assert key.exchange(peer) == x


def test_ecp_keys_with_different_d_do_not_share_one_hash() -> None:
    g = dh.group(19)
    assert len({hash(g.from_private_value(d)) for d in range(1, 40)}) > 30


@pytest.mark.parametrize("gid", [19, 20, 21])
def test_ecp_private_value_refusals(gid: int) -> None:
    g = dh.group(gid)
    for value in (0, g.n, -1, True, 5.0, "5", b"\x05", None):
        with pytest.raises(ConfigError) as info:
            g.from_private_value(value)  # type: ignore[arg-type]
        assert str(g.n) not in str(info.value)


# ============================================================================================
# Curve25519 and Curve448 (RFC 8031, RFC 7748)
# ============================================================================================

P25519 = 2**255 - 19
P448 = 2**448 - 2**224 - 1

# RFC 7748 section 5.2: k = u = 9 (X25519) or 5 (X448), then k, u = X(k, u), k.
RFC7748_ITERATED = {
    31: (9, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
         "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"),
    32: (5, """3f482c8a9f19b01e6c46ee9711d9dc14fd4bf67af30765c2ae2b846a
               4d23a8cd0db897086239492caf350b51f833868b9bc2b3bca9cf4113""",
            """aa3b4749d55b9daf1e5b00288826c467274ce3ebbdd5c17b975e09d4
               af6c67cf10d087202db88286e2b79fceea3ec353ef54faa26e219f38"""),
}


@pytest.mark.parametrize("gid", [31, 32])
def test_rfc7748_iterated_one_and_a_thousand(gid: int) -> None:
    g = dh.group(gid)
    start, after_1, after_1000 = RFC7748_ITERATED[gid]
    k = u = start.to_bytes(g.key_len, "little")
    for i in range(1, 1001):
        k, u = g.from_private_value(k).exchange(u), k
        if i == 1:
            assert k == h(after_1)
    assert k == h(after_1000)


def _x25519_double(x: int, z: int) -> tuple[int, int]:
    """x-only doubling on Curve25519, the ladder step of RFC 7748 5: x2 = AA * BB, z2 = E * (AA + a24 * E)."""
    aa, bb = (x + z) ** 2 % P25519, (x - z) ** 2 % P25519
    e = (aa - bb) % P25519
    return aa * bb % P25519, e * (aa + 121665 * e) % P25519  # a24 = 121665 for X25519


def _x25519_order(u: int) -> int:
    """1, 2, 4 or 8 for a point of low order (z = 0 means the point at infinity), else 0."""
    x, z = u % P25519, 1
    for order in (1, 2, 4, 8):
        if order > 1:
            x, z = _x25519_double(x, z)
        if z % P25519 == 0:
            return order
    return 0


# Points of small order, as little-endian KE data; the X25519 ones of order 8 come from the list on
# cr.yp.to/ecdh.html ("Which public keys are bad?"), and their order is checked below with the formula above.
X25519_LOW = {
    "u=0": "00" * 32,
    "u=1": "01" + "00" * 31,
    "order 8 (a)": "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "order 8 (b)": "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "u=p-1": "ec" + "ff" * 30 + "7f",
    "u=p": "ed" + "ff" * 30 + "7f",
    "u=p+1": "ee" + "ff" * 30 + "7f",
    "u=0, bit 255 set": "00" * 31 + "80",  # RFC 7748 5: the top bit is masked, so this is u = 0
    "u=1, bit 255 set": "01" + "00" * 30 + "80",
    "u=p-1, bit 255 set": "ec" + "ff" * 31,
}
X448_LOW = {
    "u=0": (0).to_bytes(56, "little").hex(),
    "u=1": (1).to_bytes(56, "little").hex(),
    "u=p-1": (P448 - 1).to_bytes(56, "little").hex(),
    "u=p": P448.to_bytes(56, "little").hex(),
    "u=p+1": (P448 + 1).to_bytes(56, "little").hex(),
}


def test_the_x25519_low_order_list_is_of_low_order() -> None:
    orders = {label: _x25519_order(int.from_bytes(h(u), "little") & ((1 << 255) - 1))
              for label, u in X25519_LOW.items()}
    assert orders["order 8 (a)"] == orders["order 8 (b)"] == 8
    assert all(order in (1, 2, 4, 8) for order in orders.values())
    assert _x25519_order(9) == 0  # the base point has order 8 * (a large prime)


def _cryptography_refuses(gid: int, data: bytes) -> bool:
    """Whether cryptography's X25519/X448 refuses ``data`` as a peer value (an all-zero result)."""
    private_cls, public_cls, size = ((x25519.X25519PrivateKey, x25519.X25519PublicKey, 32) if gid == 31
                                     else (x448.X448PrivateKey, x448.X448PublicKey, 56))
    key = private_cls.from_private_bytes(bytes(range(1, size + 1)))
    try:
        key.exchange(public_cls.from_public_bytes(data))
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("gid,label,u", [pytest.param(31, k, v, id=f"X25519 {k}") for k, v in X25519_LOW.items()]
                         + [pytest.param(32, k, v, id=f"X448 {k}") for k, v in X448_LOW.items()])
def test_low_order_points_are_refused_with_a_typed_error(gid: int, label: str, u: str) -> None:
    g = dh.group(gid)
    data = h(u)
    assert _cryptography_refuses(gid, data), label
    with pytest.raises(InvalidPublicValueError, match=rf"low order.*RFC 8031 3\.2.*\(group {g.name}\)"):
        g.validate_public(data)
    with pytest.raises(InvalidPublicValueError, match=rf"all-zero.*\(group {g.name}\)"):
        g.from_private_value(bytes(range(g.key_len))).exchange(data)


@pytest.mark.parametrize("gid,u", [
    (31, "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880"),  # order 8 (a) + p: bit 255 set
    (31, "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7"),  # order 8 (b) + p: bit 255 set
    (31, "ef" + "ff" * 30 + "7f"),  # p + 2
    (31, "02" + "00" * 31),
    (32, (P448 - 2).to_bytes(56, "little").hex()),
    (32, (P448 + 2).to_bytes(56, "little").hex()),
    (32, "ff" * 56),
])
def test_neighbours_of_low_order_points_are_accepted(gid: int, u: str) -> None:
    """With bit 255 masked (RFC 7748 5), ``low-order + p`` is another u: cryptography accepts it, so must ikelab."""
    g = dh.group(gid)
    assert not _cryptography_refuses(gid, h(u))
    g.validate_public(h(u))
    assert any(g.from_private_value(bytes(range(g.key_len))).exchange(h(u)))


@settings(max_examples=80, deadline=None)
@given(gid=st.sampled_from([31, 32]), data=st.data())
@example(gid=31, data=None)
def test_validate_public_refuses_what_cryptography_refuses(gid: int, data: st.DataObject | None) -> None:
    g = dh.group(gid)
    if data is None:
        value = h(X25519_LOW["order 8 (b)"])
    else:
        value = data.draw(st.binary(min_size=g.key_len, max_size=g.key_len)
                          | st.sampled_from([h(u) for u in (X25519_LOW if gid == 31 else X448_LOW).values()]))
    refused = _cryptography_refuses(gid, value)
    try:
        g.validate_public(value)
    except InvalidPublicValueError:
        assert refused
    else:
        assert not refused


@pytest.mark.parametrize("gid", [31, 32])
def test_montgomery_private_value_accepts_bytes_like_and_names_what_is_wrong(gid: int) -> None:
    g = dh.group(gid)
    raw = bytes(range(100, 100 + g.key_len))
    expected = (x25519.X25519PrivateKey if gid == 31 else x448.X448PrivateKey).from_private_bytes(raw)
    expected_public = expected.public_key().public_bytes_raw()
    for value in (raw, bytearray(raw), memoryview(raw), int.from_bytes(raw, "little")):
        key = g.from_private_value(value)
        assert key.public_bytes() == expected_public
        assert key.private_value == raw and type(key.private_value) is bytes
    for value, reason in ((raw[:-1], f"{g.key_len} bytes, not {g.key_len - 1}"),
                          (memoryview(raw + b"\x00"), f"not {g.key_len + 1}"),
                          ("x" * g.key_len, "not str"), (None, "not NoneType"), (True, "not bool"),
                          (1 << (8 * g.key_len), "does not fit"), (-1, "does not fit")):
        with pytest.raises(ConfigError, match=reason) as info:
            g.from_private_value(value)  # type: ignore[arg-type]
        assert g.name in str(info.value) and raw.hex() not in str(info.value)


@pytest.mark.parametrize("gid", [31, 32])
def test_montgomery_private_int_zero_is_the_all_zero_bytes(gid: int) -> None:
    """RFC 7748 5 clamps any bytes, all zero included, to a valid scalar: the int 0 is those bytes."""
    g = dh.group(gid)
    expected = (x25519.X25519PrivateKey if gid == 31 else x448.X448PrivateKey).from_private_bytes(bytes(g.key_len))
    key = g.from_private_value(0)
    assert key.private_value == bytes(g.key_len) and key == g.from_private_value(bytes(g.key_len))
    assert key.public_bytes() == expected.public_key().public_bytes_raw()


class _ZeroBackendKey:
    """A backend key whose exchange hands back the all-zero value instead of refusing it."""

    def __init__(self, size: int) -> None:
        self.size = size

    def exchange(self, peer: object) -> bytes:
        return bytes(self.size)


@pytest.mark.parametrize("gid", [31, 32])
def test_an_all_zero_secret_from_the_backend_is_refused(gid: int) -> None:
    """RFC 8031 3.2 (RFC 7748 6.1): the check is on the value itself, not only on the backend raising."""
    g = dh.group(gid)
    key = dh.MontgomeryPrivateKey(g, bytes(g.key_len), _ZeroBackendKey(g.key_len))
    with pytest.raises(InvalidPublicValueError, match=rf"all-zero.*RFC 8031 3\.2.*\(group {g.name}\)"):
        key.exchange(bytes([9]) + bytes(g.key_len - 1))


@pytest.mark.parametrize("gid", [31, 32])
def test_montgomery_seeded_key_is_the_first_key_len_bytes_drawn(gid: int) -> None:
    g = dh.group(gid)
    raw = bytes(range(7, 7 + g.key_len))
    rng = _FixedSource(data=raw + b"more")
    key = g.generate(rng)  # type: ignore[arg-type]
    assert rng.calls == [("random_bytes", g.key_len)]
    expected = (x25519.X25519PrivateKey if gid == 31 else x448.X448PrivateKey).from_private_bytes(raw)
    assert key.private_value == raw and key.public_bytes() == expected.public_key().public_bytes_raw()


@pytest.mark.parametrize("gid", [31, 32])
def test_montgomery_keys_equal_by_private_bytes_and_repr_hides_them(gid: int) -> None:
    g = dh.group(gid)
    raw = bytes(range(200, 200 + g.key_len)) if gid == 31 else bytes(range(1, 1 + g.key_len))
    a, b = g.from_private_value(raw), g.from_private_value(bytearray(raw))
    c = g.from_private_value(raw[:-1] + bytes([raw[-1] ^ 1]))
    assert a == b and hash(a) == hash(b) and a != c and a != raw
    for text in (repr(a), str(a), f"{a}"):
        assert g.name in text and raw.hex() not in text and raw.hex()[:16] not in text
        assert raw.hex()[-16:] not in text and repr(raw) not in text


@pytest.mark.parametrize("gid", [31, 32])
def test_montgomery_wrong_length_and_type_are_typed_errors(gid: int) -> None:
    g = dh.group(gid)
    key = g.from_private_value(bytes(range(g.key_len)))
    good = key.public_bytes()
    for data, reason in ((good[:-1], f"{g.key_len - 1} bytes, expected {g.key_len}"),
                         (good + b"\x00", f"{g.key_len + 1} bytes"), (b"", "0 bytes"),
                         (good.hex(), "not str"), (list(good), "not list")):
        for call in (lambda: g.validate_public(data), lambda: key.exchange(data)):
            with pytest.raises(InvalidPublicValueError, match=rf"{reason}.*\(group {g.name}\)"):
                call()
    assert key.exchange(bytearray(good)) == key.exchange(memoryview(good)) == key.exchange(good)


# ============================================================================================
# PRFs and prf+ (RFC 7296 2.13)
# ============================================================================================

PRF_MSG = h("000102030405060708090a0b0c0d0e0f10111213")  # RFC 4434 2.1 and RFC 4615 4
KEY16 = h("000102030405060708090a0b0c0d0e0f")
KEY10 = h("00010203040506070809")
KEY18 = h("000102030405060708090a0b0c0d0e0fedcb")
# RFC 4434 section 2.1 (AES-XCBC-PRF-128) and RFC 4615 section 4 (AES-CMAC-PRF-128), "PRF Output"
RFC4434 = [(KEY16, "47f51b4564966215b8985c63055ed308"), (KEY10, "0fa087af7d866e7653434e602fdde835"),
           (KEY18, "8cd3c93ae598a9803006ffb67c40e9e4")]
RFC4615 = [(KEY18, "84a348a4 a45d235b abfffc0d 2b4da09a"), (KEY16, "980ae87b 5f4c9c52 14f5b6a8 455e4c2d"),
           (KEY10, "290d9e11 2edb09ee 141fcf64 c0b72f3d")]
# RFC 4231 section 4.3 (test case 2) and 4.7 (test case 6): HMAC-SHA-256/384/512
RFC4231 = [
    (b"Jefe", b"what do ya want for nothing?", {
        PrfId.PRF_HMAC_SHA2_256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        PrfId.PRF_HMAC_SHA2_384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                                 "8e2240ca5e69e2c78b3239ecfab21649",
        PrfId.PRF_HMAC_SHA2_512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                                 "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    }),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First", {
        PrfId.PRF_HMAC_SHA2_256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        PrfId.PRF_HMAC_SHA2_384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
                                 "0c2ef6ab4030fe8296248df163f44952",
        PrfId.PRF_HMAC_SHA2_512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
                                 "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
    }),
]
HMAC_NAMES = {PrfId.PRF_HMAC_SHA1: "sha1", PrfId.PRF_HMAC_SHA2_256: "sha256", PrfId.PRF_HMAC_SHA2_384: "sha384",
              PrfId.PRF_HMAC_SHA2_512: "sha512"}
STRONG = [*HMAC_NAMES, PrfId.PRF_AES128_XCBC, PrfId.PRF_AES128_CMAC]


# AES-XCBC-MAC (RFC 3566 4, over AES-ECB), AES-XCBC-PRF-128 (RFC 4434 2), AES-CMAC-PRF-128 (RFC 4615 3), HMAC
# and prf+ (RFC 7296 2.13): tests/reference.py's, checked against their RFC vectors here and in test_reference.py
_ref_xcbc_mac, _ref_xcbc_prf, _ref_cmac_prf = aes_xcbc_mac, aes_xcbc_prf_128, aes_cmac_prf_128


def _ref_prf(alg: PrfId, key: bytes, data: bytes) -> bytes:
    return named_prf(alg)(key, data)


def _ref_prf_plus(alg: PrfId, key: bytes, seed: bytes, length: int) -> bytes:
    """prf+ (RFC 7296 2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), cut to length."""
    return reference_prf_plus(key, seed, length, named_prf(alg))


@pytest.mark.parametrize("key,expected", RFC4434)
def test_reference_xcbc_prf_matches_rfc4434(key: bytes, expected: str) -> None:
    assert _ref_xcbc_prf(key, PRF_MSG) == h(expected)  # the reference itself, before it judges ikelab
    assert prf(PrfId.PRF_AES128_XCBC, key, PRF_MSG) == h(expected)


@pytest.mark.parametrize("key,expected", RFC4615)
def test_cmac_prf_matches_rfc4615(key: bytes, expected: str) -> None:
    assert _ref_cmac_prf(key, PRF_MSG) == h(expected)
    assert prf(PrfId.PRF_AES128_CMAC, key, PRF_MSG) == h(expected)
    assert get_prf("PRF_AES128_CMAC")(bytearray(key), memoryview(PRF_MSG)) == h(expected)


@pytest.mark.parametrize("key,data,expected", RFC4231)
def test_hmac_sha2_rfc4231(key: bytes, data: bytes, expected: dict[PrfId, str]) -> None:
    for alg, value in expected.items():
        assert prf(alg, key, data) == h(value) == hmac.digest(key, data, HMAC_NAMES[alg])


@pytest.mark.parametrize("alg", [PrfId.PRF_AES128_XCBC, PrfId.PRF_AES128_CMAC])
@pytest.mark.parametrize("key_len", [0, 1, 10, 15, 16, 17, 18, 32, 64])
def test_aes_prfs_bring_every_key_length_to_128_bits(alg: PrfId, key_len: int) -> None:
    key = bytes(range(0x30, 0x30 + key_len))
    for data in (b"", b"x", bytes(range(16)), bytes(range(17)), bytes(range(48))):
        assert prf(alg, key, data) == _ref_prf(alg, key, data)
    assert prf_plus(alg, key, b"seed", 50) == _ref_prf_plus(alg, key, b"seed", 50)


@pytest.mark.parametrize("alg", STRONG)
@pytest.mark.parametrize("blocks_and_extra", [(0, 0), (0, 1), (1, -1), (1, 0), (1, 1), (2, 5), (7, 3)])
def test_prf_plus_against_the_formula(alg: PrfId, blocks_and_extra: tuple[int, int]) -> None:
    p = get_prf(alg)
    length = max(0, blocks_and_extra[0] * p.output_len + blocks_and_extra[1])
    key, seed = bytes(range(3, 3 + p.key_len)), b"Ni | Nr | SPIi | SPIr"
    expected = _ref_prf_plus(alg, key, seed, length)
    assert prf_plus(alg, key, seed, length) == expected == p.prf_plus(key, seed, length)
    blocks = prf_plus_blocks(alg, key, seed, length)
    assert len(blocks) == -(-length // p.output_len) and all(len(b) == p.output_len for b in blocks)
    assert b"".join(blocks)[:length] == expected and b"".join(blocks) == _ref_prf_plus(
        alg, key, seed, len(blocks) * p.output_len)
    # bytes-like key and seed give the same bytes
    assert p.prf_plus(bytearray(key), memoryview(seed), length) == expected


@pytest.mark.parametrize("alg", STRONG)
def test_prf_plus_stops_at_255_blocks_without_wrapping_the_counter(alg: PrfId) -> None:
    p = get_prf(alg)
    most = PRF_PLUS_MAX_BLOCKS * p.output_len
    assert PRF_PLUS_MAX_BLOCKS == 255 and p.max_prf_plus_len == most
    key, seed = b"K" * 20, b"S"
    stream = p.prf_plus(key, seed, most)
    assert stream == _ref_prf_plus(alg, key, seed, most)
    t254, t255 = stream[-2 * p.output_len:-p.output_len], stream[-p.output_len:]
    assert t255 == _ref_prf(alg, key, t254 + seed + b"\xff")  # the last counter is 0xff
    assert len(p.prf_plus_blocks(key, seed, most)) == 255
    for length in (most + 1, most + p.output_len, 256 * p.output_len, 10**12):
        for call in (lambda: p.prf_plus(key, seed, length), lambda: p.prf_plus_blocks(key, seed, length),
                     lambda: prf_plus(alg, key, seed, length), lambda: prf_plus_blocks(alg, key, seed, length)):
            with pytest.raises(ConfigError, match=rf"at most {most} bytes.*RFC 7296 2\.13") as info:
                call()
            assert info.value.field == "length" and info.value.value == length


@pytest.mark.parametrize("alg", STRONG)
@pytest.mark.parametrize("length,reason", [(-1, ">= 0"), (-(10**9), ">= 0"), (True, "not bool"), (False, "not bool"),
                                           (3.0, "not float"), ("16", "not str"), (None, "not NoneType")])
def test_prf_plus_lengths_that_are_not_counts(alg: PrfId, length: object, reason: str) -> None:
    p = get_prf(alg)
    for call in (lambda: p.prf_plus(b"k", b"s", length), lambda: p.prf_plus_blocks(b"k", b"s", length)):
        with pytest.raises(ConfigError, match=reason) as info:
            call()  # type: ignore[arg-type]
        assert info.value.field == "length"


@pytest.mark.parametrize("alg", STRONG)
def test_prf_inputs_that_are_not_bytes(alg: PrfId) -> None:
    p = get_prf(alg)
    for bad in ("key", 16, None, [1, 2], 1.5):
        for call, field in ((lambda: p.prf(bad, b"d"), "key"), (lambda: p.prf(b"k", bad), "data"),
                            (lambda: p.prf_plus(bad, b"s", 8), "key"), (lambda: p.prf_plus(b"k", bad, 8), "seed"),
                            (lambda: p.prf_plus_blocks(bad, b"s", 8), "key"),
                            (lambda: p.prf_plus_blocks(b"k", bad, 8), "seed")):
            with pytest.raises(ConfigError, match=f"{field} must be bytes, not {type(bad).__name__}") as info:
                call()  # type: ignore[arg-type]
            assert info.value.field == field


@pytest.mark.parametrize("alg", STRONG)
def test_prf_takes_bytes_like_inputs(alg: PrfId) -> None:
    p = get_prf(alg)
    key, data = bytes(range(20)), b"the data"
    expected = _ref_prf(alg, key, data)
    assert p.prf(key, data) == p(key, data) == prf(alg, key, data) == expected
    for k, d in ((bytearray(key), bytearray(data)), (memoryview(key), memoryview(data)),
                 (memoryview(bytearray(key)), data)):
        assert p.prf(k, d) == expected
    # a non-contiguous view is taken as the bytes it shows
    assert p.prf(memoryview(bytes(2 * len(key)))[::2], data) == _ref_prf(alg, bytes(len(key)), data)
    assert len(expected) == p.output_len
