"""A worked IKEv2 key schedule, step by step, from one seed.

This is what ``ikelab derive`` prints and what the key-schedule lessons show:
every value is computed by the real functions (:mod:`ikelab.dh`,
:mod:`ikelab.prf`, :mod:`ikelab.keys`), never re-implemented here.

RFC 7296 2.14::

    SKEYSEED = prf(Ni | Nr, g^ir)
    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
                = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)

RFC 7296 2.17::

    KEYMAT = prf+(SK_d, Ni | Nr)                    (no PFS)
    KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)       (PFS)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from . import dh, keys, prf, transforms
from .constants import DhId, EncrId, IntegId, PrfId, lookup
from .errors import ConfigError, WeakAlgorithmWarning
from .fmt import hexstr
from .rand import DeterministicRandom


@dataclass(frozen=True)
class Step:
    """One labelled value of the schedule, with the formula that produced it."""

    name: str
    value: bytes
    formula: str = ""
    rfc: str = ""


@dataclass(frozen=True)
class WorkedSchedule:
    """Every step of one key schedule; ``format()`` renders it as text."""

    group: DhId
    prf: PrfId
    encr: EncrId
    key_bits: int | None
    integ: IntegId | None
    seed: int | str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> bytes:
        for step in self.steps:
            if step.name == name:
                return step.value
        names = ", ".join(step.name for step in self.steps)
        raise ConfigError(f"no step named {name!r} in this schedule; steps: {names}", field="name", value=name)

    def format(self, *, width: int = 32) -> str:
        integ = self.integ.name if self.integ is not None else "(AEAD: none)"
        bits = f"-{self.key_bits}" if self.key_bits else ""
        lines = [
            f"IKEv2 key schedule: {self.group.name}, {self.prf.name}, {self.encr.name}{bits}, {integ}; seed {self.seed}",
            "",
        ]
        for step in self.steps:
            head = f"{step.name} ({len(step.value)} bytes)"
            if step.formula:
                head += f" = {step.formula}"
            if step.rfc:
                head += f"   [{step.rfc}]"
            lines.append(head)
            lines.append("    " + hexstr(step.value, width=width, indent="    "))
        return "\n".join(lines)


#: Nonce Data is 16..256 octets (RFC 7296 3.9).
NONCE_MIN, NONCE_MAX = 16, 256


def _check_nonce_len(nonce_len: object, prf_id: PrfId) -> None:
    """A ConfigError naming ``nonce_len`` unless it is a nonce size RFC 7296 2.10 and 3.9 allow with ``prf_id``."""
    if isinstance(nonce_len, bool) or not isinstance(nonce_len, int):
        raise ConfigError(f"nonce_len must be an int, not {type(nonce_len).__name__}", field="nonce_len",
                          value=nonce_len)
    with warnings.catch_warnings():  # only the key size is read: worked_schedule warns, or refuses, once later
        warnings.simplefilter("ignore", WeakAlgorithmWarning)
        p = prf.get_prf(prf_id, allow_weak=True)
    need = max(NONCE_MIN, p.key_len // 2)
    if not need <= nonce_len <= NONCE_MAX:
        raise ConfigError(
            f"nonce_len must be {need}..{NONCE_MAX} octets with {p.name} (RFC 7296 2.10: at least 128 bits and half "
            f"the PRF's key size; 3.9: at most 256 octets), got {nonce_len}",
            field="nonce_len",
            value=nonce_len,
        )


def worked_schedule(
    *,
    group: DhId | int | str = "MODP_2048",
    prf_alg: PrfId | int | str = "PRF_HMAC_SHA2_256",
    encr: EncrId | int | str = "ENCR_AES_CBC",
    key_bits: int | None = 128,
    integ: IntegId | int | str | None = "AUTH_HMAC_SHA2_256_128",
    seed: int | str = 2026,
    nonce_len: int = 32,
    allow_weak: bool = False,
) -> WorkedSchedule:
    """Run a full IKE SA and CHILD SA key schedule from ``seed`` and return every step."""
    grp = dh.group(group, allow_weak=allow_weak)
    prf_id = lookup(PrfId, prf_alg)
    cipher = transforms.encryption(encr, key_bits, allow_weak=allow_weak)
    if not cipher.ike_allowed:  # as a proposal with it is refused (proposals.parse_proposal)
        raise ConfigError(f"{cipher.name} is not allowed for IKE: IKE always encrypts (RFC 7296 3.3.2)",
                          field="encr", value=encr)
    mac = None
    if integ is not None and lookup(IntegId, integ) != IntegId.NONE:
        mac = transforms.integrity(integ, allow_weak=allow_weak)

    _check_nonce_len(nonce_len, prf_id)

    rng = DeterministicRandom(seed)
    init, resp = rng.fork("initiator"), rng.fork("responder")
    spi_i, ni, x_i = init.spi(8), init.random_bytes(nonce_len), grp.generate(init)
    spi_r, nr, x_r = resp.spi(8), resp.random_bytes(nonce_len), grp.generate(resp)
    g_ir = x_i.exchange(x_r.public_bytes())

    steps = [
        Step("KEi", x_i.public_bytes(), "g^i (initiator's public value)", "RFC 7296 3.4"),
        Step("KEr", x_r.public_bytes(), "g^r (responder's public value)", "RFC 7296 3.4"),
        Step("g^ir", g_ir, "shared secret", "RFC 7296 2.14"),
        Step("Ni", ni, "initiator nonce", "RFC 7296 2.10"),
        Step("Nr", nr, "responder nonce", "RFC 7296 2.10"),
        Step("SPIi", spi_i, "initiator IKE SPI", "RFC 7296 3.1"),
        Step("SPIr", spi_r, "responder IKE SPI", "RFC 7296 3.1"),
    ]
    sk_seed = keys.skeyseed(prf_id, ni, nr, g_ir, allow_weak=allow_weak)
    steps.append(Step("SKEYSEED", sk_seed, "prf(Ni | Nr, g^ir)", "RFC 7296 2.14"))

    ike = keys.ike_sa_keys(prf_id, sk_seed, ni, nr, spi_i, spi_r, encr=cipher.transform_id,
                           encr_key_bits=cipher.key_bits, integ=mac.transform_id if mac else None,
                           allow_weak=allow_weak)
    total = sum(len(v) for v in (ike.sk_d, ike.sk_ai, ike.sk_ar, ike.sk_ei, ike.sk_er, ike.sk_pi, ike.sk_pr))
    for n, block in enumerate(prf.prf_plus_blocks(prf_id, sk_seed, ni + nr + spi_i + spi_r, total, allow_weak=allow_weak), 1):
        formula = "prf(SKEYSEED, S | 0x01)" if n == 1 else f"prf(SKEYSEED, T{n - 1} | S | 0x{n:02x})"
        steps.append(Step(f"T{n}", block, formula + ", S = Ni | Nr | SPIi | SPIr", "RFC 7296 2.13"))
    for part in ike.split():
        end = part.offset + len(part.value) - 1
        formula, rfc = f"prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) octets {part.offset}..{end}", "RFC 7296 2.14"
        if not part.value:  # SK_ai, SK_ar with an AEAD cipher
            formula, rfc = "none: the AEAD cipher protects integrity itself", "RFC 5282 7.1"
        elif part.name in ("SK_ei", "SK_er") and cipher.salt_len:
            formula, rfc = formula + f" (a {cipher.cipher_key_len}-byte key, then a {cipher.salt_len}-byte salt)", \
                "RFC 5282 7.1"
        steps.append(Step(part.name, part.value, formula, rfc))

    child = keys.child_sa_keys(prf_id, ike.sk_d, ni, nr, encr=cipher.transform_id, encr_key_bits=cipher.key_bits,
                               integ=mac.transform_id if mac else None, allow_weak=allow_weak)
    child_len = child.total_len
    steps.append(Step("KEYMAT (first CHILD SA)", child.keymat, "prf+(SK_d, Ni | Nr)", "RFC 7296 2.17"))
    for part in child.split():
        if part.value:
            end = part.offset + len(part.value) - 1
            steps.append(Step(f"ESP {part.name}", part.value, f"KEYMAT octets {part.offset}..{end}", "RFC 7296 2.17"))

    ni2, nr2 = init.random_bytes(nonce_len), resp.random_bytes(nonce_len)
    y_i, y_r = grp.generate(init), grp.generate(resp)
    g_ir_new = y_i.exchange(y_r.public_bytes())
    steps.append(Step("Ni'", ni2, "CREATE_CHILD_SA initiator nonce", "RFC 7296 1.3.1"))
    steps.append(Step("Nr'", nr2, "CREATE_CHILD_SA responder nonce", "RFC 7296 1.3.1"))
    steps.append(Step("KEYMAT (rekey, no PFS)", keys.child_keymat(prf_id, ike.sk_d, ni2, nr2, child_len, allow_weak=allow_weak),
                      "prf+(SK_d, Ni' | Nr')", "RFC 7296 2.17"))
    steps.append(Step("g^ir (new)", g_ir_new, "fresh DH in CREATE_CHILD_SA (KEi, KEr)", "RFC 7296 1.3.1"))
    steps.append(Step("KEYMAT (rekey, PFS)", keys.child_keymat(prf_id, ike.sk_d, ni2, nr2, child_len, g_ir=g_ir_new, allow_weak=allow_weak),
                      "prf+(SK_d, g^ir (new) | Ni' | Nr')", "RFC 7296 2.17"))
    return WorkedSchedule(lookup(DhId, grp.id), prf_id, cipher.transform_id, cipher.key_bits,
                          mac.transform_id if mac else None, seed, tuple(steps))

