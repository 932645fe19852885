"""Throwaway X.509 certificates for lessons and tests (RFC 5280 profile, RFC 4945 for IPsec).

A lab needs a small PKI: one CA and a leaf certificate per peer, whose
subjectAltName carries the IKE identity (RFC 4945 3.1: "the ID payload ...
MUST match a subjectAltName of the end-entity certificate", or the subject DN
for ID_DER_ASN1_DN).  Everything here is built with ``cryptography``'s x509
builder and is deterministic where the primitives allow:

* EC keys from a seed: ``ec_key_from_seed(b"moon")`` (``ec.derive_private_key``
  on a SHA-256-derived scalar), so lessons show the same public keys every run;
* fixed validity (``NOT_BEFORE`` .. ``NOT_AFTER`` by default) and serials
  derived from the name and key; RSA PKCS#1 v1.5 and Ed25519 signatures are
  deterministic, ECDSA signatures are not (random k), so ECDSA-signed
  certificates differ in their signature bits from run to run.

``cryptography`` cannot seed RSA key generation: tests keep pre-generated RSA
keys as PEM files (``tests/vectors/rsa2048_*.pem``) and load them with
:func:`load_private_key`.

**Not for production**: anyone who knows the seed knows the private key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from datetime import datetime, timezone
from typing import Any, Iterable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from .errors import ConfigError
from .dn_strongswan import dn_from_string

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)
NOT_AFTER = datetime(2035, 1, 1, tzinfo=timezone.utc)

_CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1,
           "p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}


def ec_key_from_seed(seed: bytes | str | Any, curve: str | ec.EllipticCurve = "secp256r1") -> ec.EllipticCurvePrivateKey:
    """A reproducible EC private key on ``curve``.

    ``seed`` is bytes/str (scalar = SHAKE-256(label | seed) reduced into [1, n-1])
    or a random source such as :class:`ikelab.rand.DeterministicRandom`
    (scalar = ``rng.randbelow(n - 1) + 1``).
    """
    if isinstance(curve, str):
        try:
            curve = _CURVES[curve.lower().replace("-", "")]()
        except KeyError:
            raise ConfigError(f"unknown curve {curve!r}; known: {', '.join(_CURVES)}", field="curve", value=curve) from None
    if not isinstance(curve, ec.EllipticCurve):
        raise ConfigError(f"curve must be a name or an ec.EllipticCurve instance, not {curve!r}", field="curve",
                          value=curve)
    from . import dh_params

    orders = {"secp256r1": dh_params.P256_N, "secp384r1": dh_params.P384_N, "secp521r1": dh_params.P521_N}
    if curve.name not in orders:
        raise ConfigError(f"curve {curve.name} is not one of {', '.join(orders)}", field="curve", value=curve.name)
    order = orders[curve.name]
    if hasattr(seed, "randbelow"):
        return ec.derive_private_key(seed.randbelow(order - 1) + 1, curve)
    if isinstance(seed, str):
        seed = seed.encode()
    if not isinstance(seed, (bytes, bytearray)):
        raise ConfigError(f"seed must be bytes, str or a random source, not {type(seed).__name__}", field="seed")
    stream = hashlib.shake_256(b"ikelab.certs.ec\x00" + bytes(seed)).digest(80)
    scalar = int.from_bytes(stream, "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve)


#: the private keys ikelab signs with (RFC 7296 2.15, RFC 7427, RFC 8420): what load_private_key returns
_SIGNING_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


def load_private_key(pem_or_path: bytes | str | os.PathLike[str]) -> Any:
    """A private key that can sign IKE AUTH (RSA, EC, Ed25519) from PEM or DER bytes or a PEM/DER file path.

    The key must be unencrypted; anything else raises :class:`ConfigError` saying why.
    """
    data: Any = os.fspath(pem_or_path) if isinstance(pem_or_path, os.PathLike) else pem_or_path
    if isinstance(data, str) and "-----BEGIN" not in data:
        try:
            with open(data, "rb") as fh:
                data = fh.read()
        except (OSError, ValueError) as exc:  # missing file, a directory, a NUL in the name...
            raise ConfigError(f"cannot read private key file {pem_or_path!r}: {exc}", field="private_key",
                              value=pem_or_path) from None
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigError(f"private key must be PEM or DER bytes or a file path, not {type(data).__name__}",
                          field="private_key")
    data = bytes(data)
    pem = b"-----BEGIN" in data
    try:
        key = (serialization.load_pem_private_key if pem else serialization.load_der_private_key)(data, password=None)
    except TypeError as exc:  # cryptography: "Password was not given but private key is encrypted"
        raise ConfigError(f"cannot load private key: it is encrypted, and ikelab reads unencrypted keys only ({exc})",
                          field="private_key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        what = "PEM" if pem else "DER (no -----BEGIN line)"
        raise ConfigError(f"cannot load private key from {what}: {exc}", field="private_key") from None
    if not isinstance(key, _SIGNING_KEYS):
        raise ConfigError(f"private key is {type(key).__name__.lstrip('_')}, which cannot sign IKE AUTH: "
                          "need an RSA, EC or Ed25519 key", field="private_key", value=type(key).__name__)
    return key


def _check_signing_key(key: Any, field: str) -> None:
    if not isinstance(key, _SIGNING_KEYS):
        raise ConfigError(f"{field} must be an RSA, EC or Ed25519 private key, not {type(key).__name__}", field=field)


def _check_issuer_key(issuer: Any, issuer_key: Any, field: str) -> None:
    """``issuer_key`` must be the private key of ``issuer``: else the certificate would never verify."""
    if not isinstance(issuer, x509.Certificate):
        raise ConfigError(f"the issuer must be an x509.Certificate, not {type(issuer).__name__}", field=field)
    _check_signing_key(issuer_key, field)
    if issuer_key.public_key() != issuer.public_key():
        raise ConfigError(f"{field} is not the private key of the issuing CA certificate", field=field)


def _name(name: str | x509.Name) -> x509.Name:
    if isinstance(name, x509.Name):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"name must be a DN string, a plain CN or an x509.Name, not {type(name).__name__}",
                          field="name", value=name)
    if "=" in name:
        return dn_from_string(name)
    if not 1 <= len(name) <= 64:  # RFC 5280 appendix A: ub-common-name
        raise ConfigError(f"name {name!r:.80} is a common name of {len(name)} characters; it must have 1 to 64",
                          field="name", value=name)
    return x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])


def _check_validity(not_before: Any, not_after: Any) -> None:
    """ConfigError naming ``not_before`` or ``not_after`` unless both are datetimes."""
    for field, value in (("not_before", not_before), ("not_after", not_after)):
        if not isinstance(value, datetime):
            raise ConfigError(f"{field} must be a datetime, not {type(value).__name__} ({value!r:.40})",
                              field=field, value=value)


def _serial(name: x509.Name, key: Any) -> int:
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return int.from_bytes(hashlib.sha256(name.public_bytes() + spki).digest()[:16], "big") >> 1 or 1


def _hash_for(key: Any) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384() if key.curve.key_size <= 384 else hashes.SHA512()
    return hashes.SHA256()


def _names(values: Any, field: str, *, subtrees: bool = False) -> list[x509.GeneralName]:
    """subjectAltNames (:func:`make_leaf`'s ``san``) or nameConstraints subtrees (:func:`make_ca`'s
    ``permitted`` and ``excluded``, RFC 5280 4.2.1.10), each typed like a strongSwan identity: an IP address
    -> iPAddress (a subtree: an address prefix, "192.0.2.0/24"); something with "@" -> rfc822Name; anything
    else ("example.com", ".example.com") -> dNSName.  A subtree may also be a DN ("O=Example, OU=VPN") ->
    directoryName, "@@" before a host or domain ("@@example.com", "@@.example.com") -> rfc822Name, or an
    x509.GeneralName, kept as it is.  A name cryptography cannot encode (a prefix with host bits set, a name
    that is not ASCII: RFC 5280 wants A-labels) is a ConfigError naming ``field``."""
    what = "subtrees" if subtrees else "names"
    if isinstance(values, (str, bytes)):  # a str would be read letter by letter: one name per character
        raise ConfigError(f"{field} must be a list of {what}, not one {type(values).__name__} ({values!r:.40}): "
                          f"write [{values!r:.40}]", field=field, value=values)
    try:
        values = list(values)
    except TypeError:
        raise ConfigError(f"{field} must be a list of {what}, not {type(values).__name__}", field=field,
                          value=values) from None
    out: list[x509.GeneralName] = []
    for value in values:
        if subtrees and isinstance(value, x509.GeneralName):
            out.append(value)
            continue
        if not isinstance(value, str) or (subtrees and not value):
            kinds = "non-empty str or x509.GeneralName" if subtrees else "str"
            raise ConfigError(f"{field} entries must be {kinds}, not {value!r:.40}", field=field, value=value)
        try:
            out.append(_typed_name(value, subtrees))
        except ValueError as exc:
            raise ConfigError(f"{field} entry {value!r:.40} is not a {what[:-1]} ikelab can write: {exc}",
                              field=field, value=value) from None
    return out


def _typed_name(value: str, subtree: bool) -> x509.GeneralName:
    if subtree and "/" in value:
        return x509.IPAddress(ipaddress.ip_network(value))
    if subtree and "=" in value:
        return x509.DirectoryName(_name(value))
    if subtree and value.startswith("@@"):
        return x509.RFC822Name(value[2:])
    if not subtree:
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            pass
    return x509.RFC822Name(value) if "@" in value else x509.DNSName(value)


def make_ca(
    name: str | x509.Name,
    key: Any,
    *,
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    path_length: int | None = None,
    issuer: x509.Certificate | None = None,
    issuer_key: Any = None,
    permitted: Iterable[str | x509.GeneralName] = (),
    excluded: Iterable[str | x509.GeneralName] = (),
) -> x509.Certificate:
    """A CA certificate for ``key``: self-signed, or an intermediate signed by ``issuer``/``issuer_key``.

    ``permitted`` and ``excluded`` give it a critical nameConstraints extension (RFC 5280 4.2.1.10), whose
    subtrees bind the names of every certificate below it (:mod:`ikelab.name_constraints`); see
    :func:`_names` for how strings are typed: ``make_ca("CN=VPN CA", key, permitted=["vpn.example",
    "192.0.2.0/24"], excluded=["@@example.org"], issuer=root, issuer_key=root_key)``.
    """
    if (issuer is None) != (issuer_key is None):
        raise ConfigError("an intermediate CA needs both issuer and issuer_key (a self-signed CA neither)",
                          field="issuer_key" if issuer is not None else "issuer")
    _check_signing_key(key, "key")
    if issuer is not None:
        _check_issuer_key(issuer, issuer_key, "issuer_key")
    subject = _name(name)
    _check_validity(not_before, not_after)
    if path_length is not None and (path_length.__class__ is bool or not isinstance(path_length, int)
                                    or not 0 <= path_length < 2**64):
        raise ConfigError(f"path_length must be None or an int from 0 to 2**64 - 1, not {path_length!r:.40}",
                          field="path_length", value=path_length)
    signer_key = issuer_key if issuer is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(_serial(subject, key))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    allowed = _names(permitted, "permitted", subtrees=True)
    refused = _names(excluded, "excluded", subtrees=True)
    if allowed or refused:
        builder = builder.add_extension(x509.NameConstraints(allowed or None, refused or None), critical=True)
    return builder.sign(signer_key, _hash_for(signer_key))


def make_leaf(
    ca: x509.Certificate,
    ca_key: Any,
    name: str | x509.Name,
    key: Any,
    *,
    san: Iterable[str] = (),
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    is_ca: bool = False,
) -> x509.Certificate:
    """An end-entity certificate for ``key`` issued by ``ca``, with subjectAltNames ``san``.

    ``san`` entries are typed like strongSwan identities: an IP address ->
    iPAddress, something with "@" -> rfc822Name, anything else -> dNSName.
    ``name`` is a DN string (``"C=CH, O=strongSwan, CN=moon"``) or a plain CN.
    """
    names = _names(san, "san")
    _check_issuer_key(ca, ca_key, "ca_key")
    if not hasattr(key, "public_key"):
        raise ConfigError(f"key must be a private key, not {type(key).__name__}", field="key")
    subject = _name(name)
    _check_validity(not_before, not_after)
    if is_ca.__class__ is not bool:
        raise ConfigError(f"is_ca must be True or False, not {is_ca!r:.40}", field="is_ca", value=is_ca)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(_serial(subject, key))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


def to_pem(obj: Any) -> bytes:
    """PEM of a certificate or a private key (unencrypted PKCS#8)."""
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    raise ConfigError(f"cannot write {type(obj).__name__} as PEM", field="obj")
