"""Name constraints: the names a CA lets the certificates below it have (RFC 5280 4.2.1.10, 6.1.3 (b)-(c), 6.1.4 (g)).

A CA's nameConstraints extension lists permitted and excluded subtrees, each of one name form.  Every name
of every certificate below the CA, of a form the CA constrains, must lie inside one of the CA's permitted
subtrees of that form (when it lists any) and outside all of its excluded subtrees.  Checking each CA of
the path this way against all the certificates below it is RFC 5280 6.1.4 (g)'s working state written out:
the permitted subtrees of the CAs intersect down the path, their excluded subtrees add up.  Constraints
bind whatever the extension's criticality (6.1.4 (g) does not ask; 4.2.1.10 says CAs MUST mark it critical).
A trust anchor's own nameConstraints bind too (as in OpenSSL and cryptography's verifier, and as RFC 5937 suggests).

The names of a certificate (4.2.1.10): its subject DN as a directoryName (unless empty), each
subjectAltName entry, and each emailAddress attribute of its subject as an rfc822Name (4.2.1.10 asks for
that when there is no subjectAltName; ikelab, like OpenSSL, always does).  A self-issued intermediate's
names are not checked (6.1.3 (b): "if certificate i is self-issued and it is not the final certificate").

How a name lies inside a subtree, per form (:func:`within`):

* dNSName: the name is the subtree or ends in "." + the subtree: ``example.com`` holds ``example.com`` and
  ``www.example.com``, not ``badexample.com`` (4.2.1.10: "adding zero or more labels to the left-hand
  side"); a subtree with a leading dot, ``.example.com``, holds the names strictly below it (OpenSSL's
  reading; RFC 5280 does not define the form).  Case-insensitive (ASCII, RFC 4343).
* rfc822Name: a mailbox ``root@example.com`` holds that mailbox (local part case-sensitive, except in an
  excluded subtree: :func:`_excludes`); a host
  ``example.com`` all mailboxes at that host; a domain ``.example.com`` all mailboxes at hosts below it
  (host and domain case-insensitive, RFC 5280 7.5).  ``@example.com``, a form RFC 5280 does not define,
  holds every mailbox at that host, permitted or excluded, as OpenSSL reads it; a subtree with an empty host
  or a dot after its ``@`` holds nothing one can name, so a chain constrained by one is refused.
* iPAddress: an address inside the subtree's address/mask of the same IP version (4.2.1.10); so an
  IPv4-only permitted list leaves no IPv6 address permitted, and an IPv4 excluded subtree excludes no IPv6.
* directoryName: the subtree's RDNs are the first RDNs of the name, attribute values compared after
  preparation as RFC 5280 7.1 asks (simplified: :func:`ikelab.dn_strongswan.dn_key`), string types ignored.

Any other form (URI, otherName, registeredID) is not processed: a CA constraining it above a certificate
with such a name is refused, never passed.  ``ikelab.certs.make_ca(..., permitted=[...], excluded=[...])``
makes a name-constrained CA to try this with.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

from cryptography import x509

from .cert_rules import describe, extensions
from .errors import AuthenticationError
from .dn_strongswan import dn_key, dn_to_string, same_dn

__all__ = ["certificate_names", "check_name_constraints", "within"]

_FORMS = {x509.DNSName: "dNSName", x509.IPAddress: "iPAddress", x509.RFC822Name: "rfc822Name",
          x509.DirectoryName: "directoryName", x509.UniformResourceIdentifier: "uniformResourceIdentifier",
          x509.OtherName: "otherName", x509.RegisteredID: "registeredID"}


def _dns_within(name: str, base: str) -> bool:
    name, base = name.lower(), base.lower()
    if base.startswith("."):
        return name.endswith(base)
    return base == "" or name == base or name.endswith("." + base)


def _email_within(name: str, base: str) -> bool:
    local, _, host = name.rpartition("@")
    if "@" in base:  # a mailbox, or '@host': every mailbox at that host (OpenSSL's reading, see _odd_email_subtree)
        base_local, _, base_host = base.rpartition("@")
        return base_local in ("", local) and host.lower() == base_host.lower()
    if base.startswith("."):
        return host.lower().endswith(base.lower())
    return host.lower() == base.lower()


def _ip_within(name: Any, base: Any) -> bool:
    return name.version == base.version and name in base


def _dn_within(name: x509.Name, base: x509.Name) -> bool:
    prefix = dn_key(base)
    return dn_key(name)[:len(prefix)] == prefix


_WITHIN: dict[type, Callable[[Any, Any], bool]] = {x509.DNSName: _dns_within, x509.RFC822Name: _email_within,
                                                  x509.IPAddress: _ip_within, x509.DirectoryName: _dn_within}


def within(name: x509.GeneralName, subtree: x509.GeneralName) -> bool:
    """Whether ``name`` lies inside ``subtree``, a nameConstraints base of the same form (RFC 5280 4.2.1.10);
    a name of another form never does."""
    if type(name) is not type(subtree) or type(name) not in _WITHIN:
        return False
    return _WITHIN[type(name)](name.value, subtree.value)


def _excludes(subtree: x509.GeneralName, name: x509.GeneralName) -> bool:
    """An excluded subtree holds ``name`` as :func:`within` says, and an excluded mailbox holds the same mailbox
    whatever the case of its local part: :mod:`ikelab.identity` takes an ID_RFC822_ADDR for a certificate's
    rfc822Name case-insensitively, so a name the peer could authenticate as the excluded mailbox must not pass.
    An excluded subtree must not fail open, so an excluded dNSName written as an absolute name,
    ``example.com.``, holds what ``example.com`` holds (a name with an empty label never gets this far:
    :func:`_malformed`)."""
    if isinstance(name, x509.RFC822Name) and isinstance(subtree, x509.RFC822Name):
        return _email_within(name.value.lower(), subtree.value.lower())
    if isinstance(name, x509.DNSName) and isinstance(subtree, x509.DNSName) and subtree.value.endswith("."):
        return _dns_within(name.value, subtree.value[:-1])
    return within(name, subtree)


def certificate_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    """The names constraints apply to (RFC 5280 4.2.1.10): the subject DN unless empty, the subjectAltName
    entries, and each emailAddress attribute of the subject as an rfc822Name (one that is not ASCII:
    AuthenticationError)."""
    names: list[x509.GeneralName] = [x509.DirectoryName(cert.subject)] if len(cert.subject) > 0 else []
    try:
        names += list(extensions(cert).get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        pass
    for attr in cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS):
        try:
            names.append(x509.RFC822Name(str(attr.value)))
        except ValueError:  # as OpenSSL, which refuses a non-IA5String emailAddress below any nameConstraints
            raise AuthenticationError(f"certificate '{describe(cert)}' has the emailAddress '{attr.value}', which is "
                                      "not an ASCII mailbox (RFC 5280 4.1.2.6: IA5String), so name constraints "
                                      "cannot be applied to it") from None
    return names


def _text(name: x509.GeneralName) -> str:
    return f"{_FORMS.get(type(name), type(name).__name__)} '" + \
        (dn_to_string(name.value) if isinstance(name, x509.DirectoryName) else str(name.value)) + "'"


def _malformed(name: x509.GeneralName) -> str | None:
    """Why a name cannot be matched against subtrees of its form, or None (RFC 5280 4.2.1.6)."""
    if isinstance(name, x509.DNSName) and "" in name.value.split("."):
        return "is not in the preferred name syntax (an empty label, RFC 5280 4.2.1.6)"
    if isinstance(name, x509.RFC822Name) and not all(name.value.rpartition("@")[::2]):
        return "is not a mailbox (local-part@domain, RFC 5280 4.2.1.6)"
    if isinstance(name, x509.IPAddress) and not isinstance(name.value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return "is an address range, not an address (RFC 5280 4.2.1.6)"
    return None


def _odd_email_subtree(subtree: x509.GeneralName) -> bool:
    """Whether an rfc822Name subtree is none of a mailbox, a host, a domain (RFC 5280 4.2.1.10) and not OpenSSL's
    ``@host`` either (every mailbox at that host): its host or domain is empty (``""``, ``"."``, ``"@"``,
    ``"alice@"``), or an ``@`` comes before a leading dot (``@.example.com``, which OpenSSL compares with the
    host as written, so it holds no mailbox of a real host, permitted or excluded)."""
    if not isinstance(subtree, x509.RFC822Name):
        return False
    _, at, host = subtree.value.rpartition("@")
    return host in ("", ".") or bool(at and host.startswith("."))


def check_name_constraints(ca: x509.Certificate, below: list[x509.Certificate]) -> None:
    """Every name of ``below`` (leaf first, then the intermediates up to ``ca``) that ``ca``'s nameConstraints
    constrain lies inside its permitted and outside its excluded subtrees (RFC 5280 6.1.3 (b), (c))."""
    try:
        nc = extensions(ca).get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return
    permitted, excluded = list(nc.permitted_subtrees or []), list(nc.excluded_subtrees or [])
    constrained = {type(s) for s in permitted + excluded}
    for i, cert in enumerate(below):
        if i > 0 and same_dn(cert.subject, cert.issuer):  # a self-issued intermediate (6.1.3 (b))
            continue
        for name in certificate_names(cert):
            if type(name) not in constrained:
                continue
            where = f"certificate '{describe(cert)}' below CA '{describe(ca)}' has {_text(name)}, which"
            if type(name) not in _WITHIN:
                raise AuthenticationError(f"{where} the CA's nameConstraints constrain; ikelab does not process "
                                          "constraints on that name form, so it must refuse the chain "
                                          "(RFC 5280 4.2.1.10, 6.1.4 (g))")
            why = _malformed(name)
            if why is not None:
                raise AuthenticationError(f"{where} {why}, so the CA's nameConstraints cannot be applied to it")
            odd = [s for s in permitted + excluded if type(s) is type(name) and _odd_email_subtree(s)]
            if odd:  # 4.2.1.10: "MUST either process the constraint or reject the certificate"
                raise AuthenticationError(f"{where} the CA's nameConstraints constrain, but with {_text(odd[0])}: "
                                          "none of a mailbox, a host or a domain (an empty host, or a dot after "
                                          "the '@'), so ikelab must refuse the chain (RFC 5280 4.2.1.10)")
            allowed = [s for s in permitted if type(s) is type(name)]
            if allowed and not any(within(name, s) for s in allowed):
                raise AuthenticationError(f"{where} lies outside every permitted subtree of that form in its "
                                          f"nameConstraints ({', '.join(_text(s) for s in allowed)}; "
                                          "RFC 5280 4.2.1.10, 6.1.3 (b))")
            hit = next((s for s in excluded if _excludes(s, name)), None)
            if hit is not None:
                raise AuthenticationError(f"{where} lies inside the excluded subtree {_text(hit)} of its "
                                          "nameConstraints (RFC 5280 4.2.1.10, 6.1.3 (c))")
