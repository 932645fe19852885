"""The strongSwan interop harness: network namespaces, a real charon, its keys.

* :mod:`interop.netns`: two namespaces joined by a veth pair (documentation addresses).
* :mod:`interop.charon`: :class:`~interop.charon.Charon`, one charon daemon in a namespace, driven with swanctl.
* :mod:`interop.charonlog`: :func:`~interop.charonlog.parse_keys`, the keys charon derived, from its log.
* :mod:`interop.swanctl`: swanctl.conf connections (PSK, certificates) and a throw-away PKI.
* :mod:`interop.capture`: tshark on a namespace's interface.

See ``docs/strongswan.md``.
"""
