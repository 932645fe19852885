"""swanctl.conf connections for the interop tests: PSK and X.509 certificates.

Identities: with a PSK, an email address as IDi (ID_RFC822_ADDR, RFC 7296
3.5) and an FQDN as IDr (ID_FQDN) are the least surprising for swanctl's
``id`` settings (a bare address would become ID_IPV4_ADDR, a string with
``=`` a distinguished name).  With certificates the same identities go into
the certificates' subjectAltName (rfc822Name and dNSName), which is where
charon looks for them.

Certificates are made with ``cryptography`` (Debian's strongSwan ``pki`` tool
lives in a package the CI does not install): a self-signed CA and one end
entity per peer, RSA-2048 by default (charon's ``gmp`` plugin; the openssl
plugin, and with it ECDSA, is not installed) or Ed25519 (``curve25519``
plugin, RFC 8420).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ikelab.errors import ConfigError

from .charon import merge_conf, render_conf

DEFAULT_IKE_PROPOSALS = "aes128-sha256-modp2048"
DEFAULT_ESP_PROPOSALS = "aes128-sha256"
DEFAULT_PSK = "ikelab-interop-psk"
ID_INITIATOR = "alice@example.org"
ID_RESPONDER = "gw.example.com"


def connection(
    *,
    local_addrs: str,
    remote_addrs: str,
    local: Mapping[str, Any],
    remote: Mapping[str, Any],
    local_ts: str | Sequence[str],
    remote_ts: str | Sequence[str],
    proposals: str = DEFAULT_IKE_PROPOSALS,
    esp_proposals: str = DEFAULT_ESP_PROPOSALS,
    child: str = "net",
    start_action: str = "none",
    extra: Mapping[str, Any] | None = None,
    child_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One swanctl ``connections.<name>`` section as a dict (``extra`` merges over it)."""
    conn: dict[str, Any] = {
        "version": 2,
        "local_addrs": local_addrs,
        "remote_addrs": remote_addrs,
        "proposals": proposals,
        "mobike": False,
        "local": dict(local),
        "remote": dict(remote),
        "children": {
            child: merge_conf(
                {
                    "local_ts": local_ts,
                    "remote_ts": remote_ts,
                    "esp_proposals": esp_proposals,
                    "start_action": start_action,
                },
                child_extra or {},
            )
        },
    }
    return merge_conf(conn, extra or {})


def psk_conf(
    *,
    local_addrs: str,
    remote_addrs: str,
    local_id: str,
    remote_id: str,
    local_ts: str | Sequence[str],
    remote_ts: str | Sequence[str],
    psk: str = DEFAULT_PSK,
    name: str = "lab",
    **kwargs: Any,
) -> str:
    """swanctl.conf text: one PSK connection ``name`` and its shared secret.

    ``kwargs`` go to :func:`connection` (``proposals``, ``esp_proposals``,
    ``child``, ``start_action``, ``extra``, ``child_extra``).
    """
    conn = connection(
        local_addrs=local_addrs,
        remote_addrs=remote_addrs,
        local={"auth": "psk", "id": local_id},
        remote={"auth": "psk", "id": remote_id},
        local_ts=local_ts,
        remote_ts=remote_ts,
        **kwargs,
    )
    secrets = {"ike-lab": {"id-1": local_id, "id-2": remote_id, "secret": f'"{psk}"'}}
    return render_conf({"connections": {name: conn}, "secrets": secrets}) + "\n"


def cert_conf(
    *,
    local_addrs: str,
    remote_addrs: str,
    local_id: str,
    remote_id: str,
    local_ts: str | Sequence[str],
    remote_ts: str | Sequence[str],
    cert_file: str,
    name: str = "lab",
    **kwargs: Any,
) -> str:
    """swanctl.conf text: one public-key connection using ``x509/<cert_file>``.

    The private key is found by charon in ``private/`` (loaded by
    ``--load-all``), the CA in ``x509ca/``; see :func:`write_pki`.
    """
    conn = connection(
        local_addrs=local_addrs,
        remote_addrs=remote_addrs,
        local={"auth": "pubkey", "id": local_id, "certs": cert_file},
        remote={"auth": "pubkey", "id": remote_id},
        local_ts=local_ts,
        remote_ts=remote_ts,
        **kwargs,
    )
    conn.setdefault("send_cert", "always")
    return render_conf({"connections": {name: conn}}) + "\n"


@dataclass(frozen=True)
class TestPki:
    """PEM bytes of a CA and of end-entity certificates and keys, by identity."""

    ca_cert: bytes
    certs: dict[str, bytes]
    keys: dict[str, bytes]
    #: the intermediate CA (signed by the root) and the identities whose certificates it signed
    intermediate: bytes | None = None
    under_intermediate: tuple[str, ...] = ()

    def chain(self, identity: str) -> bytes:
        """``identity``'s certificate, followed by the intermediate CA that signed it (if one did)."""
        return self.certs[identity] + (self.intermediate or b"" if identity in self.under_intermediate else b"")

    def install(self, swanctl_dir: str | Path, identity: str, *, stem: str = "peer") -> str:
        """Write the CA, ``identity``'s certificate and key into a swanctl directory; return the cert file name.

        Only the root CA goes into ``x509ca/`` (trusted); an intermediate CA that signed ``identity``
        goes into ``x509/``, untrusted, where charon finds it to build and send its own chain.
        """
        base = Path(swanctl_dir)
        for sub in ("x509ca", "x509", "private"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "x509ca" / "ca.pem").write_bytes(self.ca_cert)
        (base / "x509" / f"{stem}.pem").write_bytes(self.certs[identity])
        if identity in self.under_intermediate and self.intermediate:
            (base / "x509" / "intermediate.pem").write_bytes(self.intermediate)
        (base / "private" / f"{stem}.pem").write_bytes(self.keys[identity])
        return f"{stem}.pem"


def make_pki(identities: Sequence[str], *, key_type: str = "rsa", under_intermediate: Sequence[str] = ()) -> TestPki:
    """A throw-away CA (CN=ikelab interop CA) and one certificate per identity.

    An identity with ``@`` goes into an rfc822Name subjectAltName, any other
    into a dNSName.  ``key_type`` is ``"rsa"`` (2048 bits), ``"ecdsa"`` (P-256) or ``"ed25519"``.
    The identities in ``under_intermediate`` get certificates from an intermediate CA
    (CN=ikelab interop intermediate CA) that the root signed, so their chains have three links.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def new_key() -> Any:
        if key_type == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_type == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        if key_type == "ecdsa":  # P-256 (needs charon's openssl plugin)
            return ec.generate_private_key(ec.SECP256R1())
        raise ConfigError(f"key_type must be 'rsa', 'ecdsa' or 'ed25519', not {key_type!r}", field="key_type", value=key_type)

    def algorithm() -> Any:
        return None if key_type == "ed25519" else hashes.SHA256()

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=2)

    def name_of(common_name: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikelab"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def builder(subject: Any, issuer_name: Any, key: Any) -> Any:
        """A certificate for ``key`` named ``subject``, valid from now - 5 min for two days, no extensions yet."""
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(later))

    def make_ca(common_name: str, issuer: tuple[Any, Any] | None, path_length: int) -> tuple[Any, Any, Any]:
        """(name, key, certificate) of a CA; self-signed unless ``issuer`` = (its name, its key) signs it."""
        key = new_key()
        name = name_of(common_name)
        issuer_name, issuer_key = issuer or (name, key)
        ca = (
            builder(name, issuer_name, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if issuer is not None:
            ca = ca.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        return name, key, ca.sign(issuer_key, algorithm())

    ca_name, ca_key, ca_cert = make_ca("ikelab interop CA", None, 1 if under_intermediate else 0)
    pem = serialization.Encoding.PEM
    issuers = {"root": (ca_name, ca_key)}
    intermediate = None
    if under_intermediate:
        im_name, im_key, intermediate = make_ca("ikelab interop intermediate CA", (ca_name, ca_key), 0)
        issuers["intermediate"] = (im_name, im_key)
    certs, keys = {}, {}
    for ident in identities:
        issuer_name, issuer_key = issuers["intermediate" if ident in under_intermediate else "root"]
        key = new_key()
        san: x509.GeneralName = x509.RFC822Name(ident) if "@" in ident else x509.DNSName(ident)
        cert = (
            builder(name_of(ident), issuer_name, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .sign(issuer_key, algorithm())
        )
        certs[ident] = cert.public_bytes(pem)
        keys[ident] = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return TestPki(ca_cert.public_bytes(pem), certs, keys,
                   intermediate.public_bytes(pem) if intermediate is not None else None, tuple(under_intermediate))
