"""One typed, validated configuration for an IKEv2 peer (what ``swanctl.conf`` says for one connection).

Every value is checked when the object is made, and a bad one raises
:class:`~ikelab.errors.ConfigError` whose ``field`` names the setting.  Text
forms are parsed once and the parsed forms are stored: proposals become
:class:`~ikelab.payloads.Proposal` tuples (:mod:`ikelab.proposals`), traffic
selectors :class:`~ikelab.payloads.TrafficSelector` (or the keyword
``dynamic``: the peer's own IKE address), certificates and keys
``cryptography`` objects.  Durations accept seconds or strongSwan's
``"4h"``, ``"30m"``, ``"90s"``, ``"1d"``.

Defaults (and why):

* ``ike_proposals = ("aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp3072")``:
  an AEAD suite first, a classic CBC + HMAC one for peers without AEAD; all are
  MUST/SHOULD algorithms of RFC 8247 and give about 128-bit security;
* ``esp_proposals = ("aes256gcm16", "aes128-sha256")``: no PFS, as strongSwan's
  default; set ``pfs_group`` (added to every ESP proposal without a DH group)
  or write ``aes128-sha256-modp3072`` to get it;
* lifetimes as strongSwan's: IKE SA rekeyed after 4 h (``ike_rekey_time``),
  hard limit 10 % later (``ike_lifetime``, strongSwan's ``over_time``; derived
  from the rekey time when not given); CHILD SA 1 h and 1 h 6 min.
  ``rekey_margin`` (strongSwan's ``rand_time``) subtracts a random jitter from
  the rekey time; 0 here, so lessons show round numbers.  Leave the IKE SA
  minutes between its rekey time and its hard limit: a peer that is creating,
  rekeying or deleting a CHILD SA refuses the IKE SA rekey meanwhile (RFC 7296
  2.25.1), and on a lossy network one such exchange can take the sum of the
  retransmission timeouts (about 3 min with the defaults below).  A rekey the
  lifetime started that the peer refuses is asked again every one to two
  retransmission timeouts until the hard limit, as strongSwan does (not after
  NO_ADDITIONAL_SAS); meanwhile the old SA stays in use (RFC 7296 2.8);
* retransmission like strongSwan (RFC 7296 2.4 leaves it to implementations):
  first timeout 4 s, multiplied by 1.8 per try, 5 retries;
* ``cookie_threshold = 30`` half-open IKE SAs before the responder demands a
  COOKIE (RFC 7296 2.6), strongSwan's default; 0 = always, None = never;
* ``dpd_interval = None``: no liveness checks unless asked (RFC 7296 2.4);
* times are seconds (or text such as ``"30m"``); NaN, negative values and timers under
  1 ms (``MIN_TIMER``: a timer that fires again at once, or at the same float instant,
  would spin) are refused.  ``inf`` means *never*: a lifetime of ``inf`` never expires,
  ``dpd_interval = inf`` (like 0) checks no liveness, and a rekey time of ``inf`` is
  allowed only with a hard lifetime of ``inf`` (derived so when not given); a
  retransmission wait is always finite;
* ``encapsulation = "auto"``: UDP-encapsulate ESP only behind a NAT (RFC 3948);
* ``local_ts = remote_ts = ()``: empty means ``dynamic``, the IKE addresses
  (host-to-host), as in strongSwan; :meth:`IkeConfig.local_selectors` resolves it;
* ``initial_contact = False``: the initiator adds N(INITIAL_CONTACT) to IKE_AUTH
  only when asked (RFC 7296 2.4: it tells the peer that older IKE SAs between the
  same identities are stale); ``ikelab connect`` asks, as a fresh start;
* ``fragmentation = False``: IKE fragmentation (RFC 7383) only when asked, so
  that IKE_SA_INIT carries no extra notify in the lessons' traces (strongSwan
  offers it by default); with it, a protected message whose IP packet would
  exceed ``fragment_size = 1280`` octets (strongSwan's default; RFC 7383 2.5.1
  suggests 576 for an IPv4 path of unknown MTU) goes out in SKF fragments
  (:mod:`ikelab.ike_fragments`);
* ``vip = None``, ``pool = None``: no virtual IP.  A remote-access client sets
  ``vip = "0.0.0.0"`` (or ``"::"``, or the address it would like) to ask for
  its inner address in IKE_AUTH, and a gateway hands addresses out of
  ``pool = "10.3.0.0/24"`` (strongSwan's ``vips`` and ``pools``; :mod:`ikelab.vip`).
  Either may name one per family, ``vip = ("0.0.0.0", "::")`` and
  ``pool = ("10.3.0.0/24", "2001:db8:3::/120")`` (or ``"0.0.0.0,::"``): one
  address is stored as a string, two as a tuple in the order given;
* ``childless = False``: the first CHILD SA comes in IKE_AUTH.  With ``True``
  a responder announces N(CHILDLESS_IKEV2_SUPPORTED) and an initiator whose
  responder announced it sets up the IKE SA alone, then the CHILD SA with
  CREATE_CHILD_SA (RFC 6023; strongSwan's ``childless = prefer``).  That
  CHILD SA negotiates the ESP proposals' DH groups (PFS), which IKE_AUTH leaves out.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Mapping

from cryptography import x509

from .constants import DhId, ProtocolId, TransformType, TsType, lookup
from .errors import ConfigError, IkelabError
from .payloads import Proposal, Transform, TrafficSelector
from .proposal_syntax import check_proposal
from .proposals import DYNAMIC, parse_proposal, proposal_to_string, refuse_weak_transforms
from .ts import resolve_ts, ts_from_string, ts_to_string
from .vip import check_pool, check_vip, listed

DEFAULT_IKE_PROPOSALS = ("aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp3072")
DEFAULT_ESP_PROPOSALS = ("aes256gcm16", "aes128-sha256")

#: The smallest fragment_size (an IP packet): IPv6 + UDP + Non-ESP Marker (52), IKE header (28), SKF header (8),
#: the largest IV (16) and ICV (32), and one 16-octet block of content, with room to spare.
MIN_FRAGMENT_SIZE = 160

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The shortest timer IkeConfig accepts (seconds): below it a rekey, liveness or retransmission timer would fire
#: again at once, and under the float resolution of ``now`` (1e-7 s at a Unix time) at the very same instant.
MIN_TIMER = 0.001


def _duration(value: Any, name: str, *, allow_none: bool = False, allow_zero: bool = False,
              allow_inf: bool = True, floor: float = 0.0) -> float | None:
    if value is None:
        if allow_none:
            return None
        raise ConfigError(f"{name} must be a duration, not None", field=name, value=value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value.lower())
        if not m:
            raise ConfigError(f"{name} = {value!r} is not a duration like 30, '90s', '30m', '4h' or '1d'",
                              field=name, value=value)
        value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number of seconds, not {type(value).__name__}", field=name, value=value)
    value = float(value)
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise ConfigError(f"{name} = {value} must be positive", field=name, value=value)
    if value == float("inf") and not allow_inf:
        raise ConfigError(f"{name} = inf: give a finite number of seconds", field=name, value=value)
    if 0 < value < floor:
        raise ConfigError(f"{name} = {value:g} s is under {floor:g} s: a timer that short would fire again at once",
                          field=name, value=value)
    return value


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        try:
            value = int(value)
        except ValueError:  # isdigit() also holds for digits int() does not read, such as '²'
            pass
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} = {value!r} must be an integer >= {low}", field=name, value=value)
    return value


def _secret(value: Any, name: str) -> bytes | None:
    """A PSK: bytes, or text (UTF-8), or strongSwan's ``0x<hex>`` / ``0s<base64>``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if value.startswith("0x"):
                value = bytes.fromhex(value[2:])
            elif value.startswith("0s"):
                value = base64.b64decode(value[2:], validate=True)
            else:
                value = value.encode("utf-8")
        except ValueError:
            raise ConfigError(f"{name}: bad 0x (hex) or 0s (base64) secret", field=name) from None
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ConfigError(f"{name} must be bytes or str, not {type(value).__name__}", field=name)
    if not value:
        raise ConfigError(f"{name} is empty; a pre-shared key must be a strong secret (RFC 7296 2.15)", field=name)
    return bytes(value)


def _items(value: Any, name: str, one: tuple[type, ...], what: str) -> list[Any]:
    """``value`` as a list: one item of a type in ``one`` (or None: none) or an iterable of items."""
    if value is None or isinstance(value, one):
        return [] if value is None else [value]
    try:
        return list(value)
    except TypeError:
        raise ConfigError(f"{name} must be {what} or a list of them, not {type(value).__name__}", field=name,
                          value=value) from None


def _proposals(value: Any, name: str, protocol: ProtocolId, allow_weak: bool) -> tuple[Proposal, ...]:
    items = _items(value, name, (str, Proposal), "proposals (text such as 'aes128-sha256-modp3072', or Proposal)")
    # a string may hold several comma-separated proposals, as a strongSwan "proposals = ..." line does
    items = [part for item in items for part in (item.split(",") if isinstance(item, str) else [item])]
    out: list[Proposal] = []
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                continue
            try:
                p = parse_proposal(item, protocol, allow_weak=allow_weak, number=len(out) + 1)
            except ConfigError as exc:
                raise type(exc)(f"{name}: {exc}", field=name, value=item) from None
        elif isinstance(item, Proposal):
            if item.protocol != protocol:
                raise ConfigError(f"{name}: proposal {item} is for {item.protocol}, not {protocol.name}",
                                  field=name, value=item)
            p = Proposal(len(out) + 1, item.protocol, item.spi, item.transforms)
            refuse_weak_transforms(p, allow_weak=allow_weak, field=name)
            check_proposal(p, field=name)  # what parse_proposal checks in text: a Proposal is no way round it
        else:
            raise ConfigError(f"{name}: {item!r} is neither a proposal string nor a Proposal", field=name, value=item)
        out.append(p)
    if not out:
        raise ConfigError(f"{name} is empty: at least one proposal is needed", field=name, value=value)
    return tuple(out)


def _selectors(value: Any, name: str) -> tuple[TrafficSelector | str, ...]:
    items = value.split(",") if isinstance(value, str) else _items(
        value, name, (TrafficSelector,), "traffic selectors ('10.1.0.0/16', 'dynamic', or TrafficSelector)")
    out: list[TrafficSelector | str] = []
    for item in items:
        if isinstance(item, TrafficSelector):
            out.append(item)
            continue
        if not isinstance(item, str):
            raise ConfigError(f"{name}: {item!r} is not a traffic selector", field=name, value=item)
        if not item.strip():
            continue
        if item.strip().lower() == DYNAMIC:
            out.append(DYNAMIC)
            continue
        try:
            out.append(ts_from_string(item))
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}", field=name, value=item) from None
    return tuple(out)


def _check_families(local: tuple[Any, ...], remote: tuple[Any, ...]) -> None:
    """ConfigError when the local selectors are all of one IP version and the remote ones all of the other.

    A packet's source and destination have one version, so such a CHILD SA (``10.0.0.0/24 ===
    2001:db8::/64``) would match no packet.  ``dynamic`` takes the IKE address's version, known later.
    """
    if not local or not remote or DYNAMIC in local or DYNAMIC in remote:
        return
    versions = [{6 if t.ts_type == TsType.TS_IPV6_ADDR_RANGE else 4 for t in side} for side in (local, remote)]
    if not versions[0] & versions[1]:
        shown = [", ".join(ts_to_string(t) for t in side) for side in (local, remote)]
        raise ConfigError(f"local_ts: {shown[0]} is IPv{versions[0].pop()} but the remote selectors ({shown[1]}) "
                          f"are IPv{versions[1].pop()}: a packet's source and destination have one IP version, "
                          "so no packet would match", field="local_ts", value=shown[0])


def _cert(value: Any, name: str) -> x509.Certificate:
    from .cert_checks import load_certificate

    try:
        return load_certificate(value)
    except (IkelabError, TypeError) as exc:
        raise ConfigError(f"{name}: {exc}", field=name) from None


def _certs(value: Any, name: str) -> tuple[x509.Certificate, ...]:
    """Certificates: a list of them, or one (a PEM bundle, DER, or an ``x509.Certificate``)."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        from .cert_checks import load_certificates

        try:
            return tuple(load_certificates(value))
        except (IkelabError, TypeError) as exc:
            raise ConfigError(f"{name}: {exc}", field=name) from None
    return tuple(_cert(c, name) for c in _items(value, name, (x509.Certificate,), "certificates (PEM, DER)"))


def _key(value: Any, name: str) -> Any:
    if value is None or hasattr(value, "sign"):
        return value
    from .certs import load_private_key

    try:
        return load_private_key(value)
    except (ConfigError, OSError) as exc:
        raise ConfigError(f"{name}: {exc}", field=name) from None


def _check_id(text: Any, name: str, *, pattern: bool) -> str | None:
    if text is None:
        return None
    from .identity import parse_identity

    if hasattr(text, "id_type") and hasattr(text, "data"):
        from .identity import format_identity

        text = format_identity(text.id_type, bytes(text.data))
    if not isinstance(text, str):
        raise ConfigError(f"{name} must be an identity string, not {type(text).__name__}", field=name, value=text)
    if pattern and (text.strip() in ("%any", "%any6") or "*" in text):
        return text.strip()
    try:
        parse_identity(text)
    except IkelabError as exc:
        raise ConfigError(f"{name}: {exc}", field=name, value=text) from None
    return text.strip()


@dataclass(frozen=True)
class IkeConfig:
    """The configuration of one IKEv2 peer for one connection (see the module docstring)."""

    local_id: str | None = None
    remote_id: str = "%any"
    psk: bytes | None = None
    remote_psk: bytes | None = None
    certificate: x509.Certificate | None = None
    private_key: Any = None
    intermediates: tuple[x509.Certificate, ...] = ()
    trust_anchors: tuple[x509.Certificate, ...] = ()
    ike_proposals: tuple[Proposal, ...] = DEFAULT_IKE_PROPOSALS  # type: ignore[assignment]
    esp_proposals: tuple[Proposal, ...] = DEFAULT_ESP_PROPOSALS  # type: ignore[assignment]
    local_ts: tuple[TrafficSelector | str, ...] = ()
    remote_ts: tuple[TrafficSelector | str, ...] = ()
    mode: str = "tunnel"
    ike_rekey_time: float = 14400.0
    ike_lifetime: float | None = None
    child_rekey_time: float = 3600.0
    child_lifetime: float | None = None
    rekey_margin: float = 0.0
    pfs_group: DhId | None = None
    dpd_interval: float | None = None
    retransmit_timeout: float = 4.0
    retransmit_tries: int = 5
    retransmit_base: float = 1.8
    cookie_threshold: int | None = 30
    encapsulation: str = "auto"
    window_size: int = 1
    initial_contact: bool = False
    fragmentation: bool = False
    fragment_size: int = 1280
    vip: str | tuple[str, ...] | None = None  # one address, or one per family (ikelab.vip.check_vip)
    pool: str | tuple[str, ...] | None = None  # one network, or one per family (ikelab.vip.check_pool)
    childless: bool = False
    allow_weak: bool = False
    name: str = "ikelab"
    epoch: datetime | None = None

    def __post_init__(self) -> None:
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass normalisation
        for flag in ("allow_weak", "initial_contact", "fragmentation", "childless"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, not {getattr(self, flag)!r}", field=flag)
        weak = self.allow_weak
        put("psk", _secret(self.psk, "psk"))
        put("remote_psk", _secret(self.remote_psk, "remote_psk"))
        put("certificate", None if self.certificate is None else _cert(self.certificate, "certificate"))
        put("private_key", _key(self.private_key, "private_key"))
        put("intermediates", _certs(self.intermediates, "intermediates"))
        put("trust_anchors", _certs(self.trust_anchors, "trust_anchors"))
        put("ike_proposals", _proposals(self.ike_proposals, "ike_proposals", ProtocolId.IKE, weak))
        if self.pfs_group is not None:
            try:
                group = lookup(DhId, self.pfs_group)
            except ConfigError as exc:
                raise ConfigError(f"pfs_group: {exc}", field="pfs_group", value=self.pfs_group) from None
            if group != DhId.NONE:
                from .dh import group as _group

                try:
                    _group(group, allow_weak=weak)
                except ConfigError as exc:
                    raise type(exc)(f"pfs_group: {exc}", field="pfs_group", value=self.pfs_group) from None
            put("pfs_group", None if group == DhId.NONE else group)
        esp = _proposals(self.esp_proposals, "esp_proposals", ProtocolId.ESP, weak)
        if self.pfs_group is not None:
            esp = tuple(p if p.of_type(TransformType.DH) else _with_dh(p, self.pfs_group) for p in esp)
        put("esp_proposals", esp)
        put("local_ts", _selectors(self.local_ts, "local_ts"))
        put("remote_ts", _selectors(self.remote_ts, "remote_ts"))
        _check_families(self.local_ts, self.remote_ts)
        if self.mode not in ("tunnel", "transport"):
            raise ConfigError(f"mode must be 'tunnel' or 'transport', not {self.mode!r}", field="mode", value=self.mode)
        if self.encapsulation not in ("auto", "always", "never"):
            raise ConfigError(f"encapsulation must be 'auto', 'always' or 'never', not {self.encapsulation!r}",
                              field="encapsulation", value=self.encapsulation)
        for name in ("ike_rekey_time", "child_rekey_time"):
            put(name, _duration(getattr(self, name), name, floor=MIN_TIMER))
        # a request whose first wait never ends would neither be sent again nor ever give up (RFC 7296 2.4)
        put("retransmit_timeout", _duration(self.retransmit_timeout, "retransmit_timeout", allow_inf=False,
                                            floor=MIN_TIMER))
        for soft, hard in (("ike_rekey_time", "ike_lifetime"), ("child_rekey_time", "child_lifetime")):
            value = getattr(self, hard)
            put(hard, round(getattr(self, soft) * 1.1, 6) if value is None else _duration(value, hard, floor=MIN_TIMER))
        put("rekey_margin", _duration(self.rekey_margin, "rekey_margin", allow_zero=True))
        dpd = _duration(self.dpd_interval, "dpd_interval", allow_none=True, allow_zero=True, floor=MIN_TIMER)
        put("dpd_interval", dpd if dpd and dpd != float("inf") else None)  # 0 and inf: no liveness checks
        for soft, hard in (("ike_rekey_time", "ike_lifetime"), ("child_rekey_time", "child_lifetime")):
            rekey, lifetime = getattr(self, soft), getattr(self, hard)
            if lifetime != float("inf") and rekey >= lifetime:  # an SA that never expires may be rekeyed whenever
                raise ConfigError(f"{soft} ({rekey:g} s) must be below {hard} ({lifetime:g} s): "
                                  "the SA must be rekeyed before it expires", field=soft, value=rekey)
            if self.rekey_margin >= rekey:
                raise ConfigError(f"rekey_margin ({self.rekey_margin:g} s) must be below {soft}", field="rekey_margin",
                                  value=self.rekey_margin)
        if isinstance(self.retransmit_base, bool) or not isinstance(self.retransmit_base, (int, float)) \
                or not 1.0 <= self.retransmit_base < float("inf"):
            raise ConfigError(f"retransmit_base = {self.retransmit_base!r} must be a finite number >= 1",
                              field="retransmit_base", value=self.retransmit_base)
        put("retransmit_base", float(self.retransmit_base))
        put("retransmit_tries", _int(self.retransmit_tries, "retransmit_tries", 0))
        put("window_size", _int(self.window_size, "window_size", 1))
        put("fragment_size", _int(self.fragment_size, "fragment_size", MIN_FRAGMENT_SIZE))
        put("vip", check_vip(self.vip))
        put("pool", check_pool(self.pool))
        if self.fragment_size > 65535:
            raise ConfigError(f"fragment_size must be at most 65535 (an IP packet), not {self.fragment_size}",
                              field="fragment_size", value=self.fragment_size)
        if self.cookie_threshold is not None:
            put("cookie_threshold", _int(self.cookie_threshold, "cookie_threshold", 0))
        if self.epoch is not None and not isinstance(self.epoch, datetime):
            raise ConfigError(f"epoch must be a datetime, not {type(self.epoch).__name__}", field="epoch", value=self.epoch)
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string, not {self.name!r}", field="name", value=self.name)
        self._check_auth()

    def _check_auth(self) -> None:
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if (self.certificate is None) != (self.private_key is None):
            missing = "private_key" if self.private_key is None else "certificate"
            raise ConfigError(f"{missing} is missing: a certificate and its private key go together", field=missing)
        if self.psk is None and self.certificate is None:
            raise ConfigError("no way to authenticate: give psk= or certificate= and private_key=", field="psk")
        if self.certificate is not None:
            from cryptography.hazmat.primitives import serialization as s
            from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

            if not isinstance(self.private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                                                 ed25519.Ed25519PrivateKey)):
                kind = type(self.private_key).__name__.lstrip("_")
                raise ConfigError(f"private_key: ikelab signs AUTH (RFC 7296 2.15, RFC 7427) with an RSA, ECDSA or "
                                  f"Ed25519 key, not a {kind}", field="private_key")

            fmt = (s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
            if self.certificate.public_key().public_bytes(*fmt) != self.private_key.public_key().public_bytes(*fmt):
                raise ConfigError("private_key does not belong to certificate (public keys differ; in a chain file, "
                                  "our own certificate comes first)", field="private_key")
            from .cert_checks import check_key_strength

            check_key_strength(self.private_key, "private_key", allow_weak=self.allow_weak, field="private_key")
            if self.local_id is None:
                from .dn_strongswan import dn_to_string

                put("local_id", dn_to_string(self.certificate.subject))
        if self.psk is None and self.remote_psk is None and not self.trust_anchors:
            raise ConfigError("cannot authenticate the peer: give psk=/remote_psk= or trust_anchors=",
                              field="trust_anchors")
        put("local_id", _check_id(self.local_id, "local_id", pattern=False))
        put("remote_id", _check_id(self.remote_id, "remote_id", pattern=True) or "%any")
        if self.certificate is not None and self.local_id is not None:
            from .identity import identity_matches_certificate, parse_identity

            ident = parse_identity(self.local_id)
            if not identity_matches_certificate(ident.id_type, ident.data, self.certificate):
                raise ConfigError(f"local_id {self.local_id!r} is neither the certificate's subject nor one of its "
                                  "subjectAltNames (RFC 4945 3.1)", field="local_id", value=self.local_id)

    # ----------------------------------------------------------------- helpers

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "IkeConfig":
        """Build from a mapping (a parsed YAML/TOML/JSON file); unknown keys -> ConfigError naming them.

        strongSwan spellings are accepted too: ``proposals`` (= ike_proposals),
        ``esp`` (= esp_proposals), ``id``/``local`` and ``remote`` for the identities.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"configuration must be a mapping, not {type(data).__name__}", field="config")
        aliases = {"proposals": "ike_proposals", "esp": "esp_proposals", "id": "local_id", "remote": "remote_id",
                   "local": "local_id", "secret": "psk", "rekey_time": "ike_rekey_time", "dpd_delay": "dpd_interval"}
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in known:
                raise ConfigError(f"unknown configuration key {key!r}; known: {', '.join(sorted(known))}",
                                  field=str(key), value=value)
            if name in kwargs:
                raise ConfigError(f"configuration key {name!r} given twice (as {key!r})", field=name, value=value)
            kwargs[name] = value
        return cls(**kwargs)

    def local_selectors(self, address: str) -> tuple[TrafficSelector, ...]:
        """``local_ts`` with ``dynamic`` replaced by this peer's IKE ``address``."""
        return resolve_ts(self.local_ts or _DYNAMIC_ONLY, address)

    def remote_selectors(self, address: str) -> tuple[TrafficSelector, ...]:
        """``remote_ts`` with ``dynamic`` replaced by the peer's IKE ``address``."""
        return resolve_ts(self.remote_ts or _DYNAMIC_ONLY, address)

    @property
    def auth_method(self) -> str:
        """``"psk"`` or ``"pubkey"`` (strongSwan's ``auth =``) for the local side."""
        return "pubkey" if self.certificate is not None else "psk"

    def __str__(self) -> str:
        def ts(items: tuple[TrafficSelector | str, ...]) -> str:
            return ", ".join(i if isinstance(i, str) else ts_to_string(i) for i in items) or DYNAMIC

        lines = [
            f"connection {self.name}:",
            f"  local_id   = {self.local_id or '(the IKE address)'}   auth = {self.auth_method}",
            f"  remote_id  = {self.remote_id}",
            f"  proposals  = {', '.join(proposal_to_string(p) for p in self.ike_proposals)}",
            f"  esp        = {', '.join(proposal_to_string(p) for p in self.esp_proposals)}"
            + (f"   (PFS {self.pfs_group.name})" if self.pfs_group else ""),
            f"  local_ts   = {ts(self.local_ts)}",
            f"  remote_ts  = {ts(self.remote_ts)}   mode = {self.mode}",
            f"  IKE SA     rekey {self.ike_rekey_time:g} s, lifetime {self.ike_lifetime:g} s",
            f"  CHILD SA   rekey {self.child_rekey_time:g} s, lifetime {self.child_lifetime:g} s, "
            f"margin {self.rekey_margin:g} s",
            f"  retransmit {self.retransmit_timeout:g} s x {self.retransmit_base:g}^n, {self.retransmit_tries} tries;"
            f" dpd {'off' if self.dpd_interval is None else f'{self.dpd_interval:g} s'}",
            f"  cookies    {'never' if self.cookie_threshold is None else f'from {self.cookie_threshold} half-open SAs'};"
            f" encapsulation {self.encapsulation}; window {self.window_size}"
            + ("; initial contact" if self.initial_contact else "")
            + (f"; fragments of {self.fragment_size} octets" if self.fragmentation else "")
            + (f"; virtual IP{'s' if isinstance(self.vip, tuple) else ''} {', '.join(listed(self.vip))} asked for"
               if self.vip else "")
            + (f"; virtual IPs from {', '.join(listed(self.pool))}" if self.pool else "")
            + ("; childless IKE SA first (RFC 6023)" if self.childless else "")
            + ("; allow_weak" if self.allow_weak else ""),
        ]
        if self.psk is not None:
            lines.append("  psk        = (set, not shown)")
        if self.certificate is not None:
            from .dn_strongswan import dn_to_string

            lines.append(f"  cert       = {dn_to_string(self.certificate.subject)}")
        if self.trust_anchors:
            from .dn_strongswan import dn_to_string

            lines.append("  cacerts    = " + "; ".join(dn_to_string(c.subject) for c in self.trust_anchors))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"IkeConfig(name={self.name!r}, local_id={self.local_id!r}, remote_id={self.remote_id!r}, ...)"


_DYNAMIC_ONLY = (DYNAMIC,)


def _with_dh(p: Proposal, group: DhId) -> Proposal:
    """Insert a DH transform before the ESN transforms (strongSwan order)."""
    ts = list(p.transforms)
    pos = next((i for i, t in enumerate(ts) if t.type == TransformType.ESN), len(ts))
    ts.insert(pos, Transform(TransformType.DH, group))
    return Proposal(p.number, p.protocol, p.spi, tuple(ts))


def require_config(config: Any, where: str) -> IkeConfig:
    """``config`` itself when it is an :class:`IkeConfig`; otherwise ConfigError naming ``where``.

    The engine reads settings by name with defaults, so a stray dict or string
    would otherwise run with no proposals and fail later, far from the mistake.
    """
    if isinstance(config, IkeConfig):
        return config
    hint = ": IkeConfig(**settings) builds one from a dict" if isinstance(config, Mapping) else ""
    raise ConfigError(f"{where} needs an IkeConfig, not {type(config).__name__}{hint}", field="config",
                      value=type(config).__name__)
