"""The ``ikelab`` command's options: :func:`build_parser`, one sub-command each for derive, demo, dissect, flow,
connect and respond.

The live runs' options (:func:`_live_options`) say which RFC 7296 feature
each one turns on (1.3.1 transport mode, 2.4 liveness, 2.6 cookies, 2.19
virtual IPs; RFC 7383 fragmentation, RFC 6023 childless); a key is never an
argument (``--psk`` is refused: ``ps`` shows arguments).
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli_captures import _cmd_demo, _cmd_dissect, _cmd_flow
from .cli_derive import _cmd_derive
from .cli_live import _cmd_connect, _cmd_respond


_LIVE_EPILOG = (
    "exit status: 0 the IKE SA and its first CHILD SA were established; 1 other failure; 2 bad options; "
    "3 the peer did not answer (retransmissions, then timeout; also later, to a liveness check, RFC 7296 2.4); "
    "4 authentication failed; "
    "5 no common proposal (or traffic selectors); 6 the UDP port is already in use."
)


class _NoKeyOnTheCommandLine(argparse.Action):
    """``--psk KEY``: refused with the way to give a key, which is never an argument (``ps`` shows arguments)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error("--psk takes no key: a key on the command line is visible to every user of the machine "
                     "(ps); put it in a file and give --psk-file FILE")


def _live_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", required=True, help="our identity, typed as strongSwan does: user@host = RFC822, "
                   "a name = FQDN, an address = IPV4/IPV6, 'C=.., CN=..' = DN; override with a prefix "
                   "(fqdn:, email:, ipv4:, ipv6:, keyid:, asn1dn:)")
    p.add_argument("--remote-id", help="the identity the peer must prove (default: any)")
    auth = p.add_argument_group("authentication (one of)")
    auth.add_argument("--psk-file", help="file holding the pre-shared key: its bytes, or strongSwan's 0x<hex> or "
                      "0s<base64>")
    # without this, argparse reads --psk as an abbreviation of --psk-file and the key as a file name
    auth.add_argument("--psk", action=_NoKeyOnTheCommandLine, help=argparse.SUPPRESS)
    auth.add_argument("--cert", help="our certificate (PEM or DER); a PEM chain: ours, then intermediate CAs to send")
    auth.add_argument("--key", help="our private key (PEM)")
    auth.add_argument("--ca", help="the trusted CA certificate(s) of the peer's chain (PEM bundle or DER)")
    p.add_argument("--proposal", action="append", help="IKE proposal, strongSwan syntax (repeatable, or "
                   "a comma-separated list), e.g. aes128-sha256-modp2048")
    p.add_argument("--esp-proposal", action="append", help="ESP proposal (repeatable, or a comma-separated "
                   "list), e.g. aes128-sha256; add a DH group for PFS")
    p.add_argument("--ts", nargs=2, metavar=("LOCAL", "REMOTE"), help="traffic selectors, e.g. "
                   "198.51.100.1/32 203.0.113.1/32, each a comma-separated list if need be (default: the IKE "
                   "addresses)")
    p.add_argument("--pcap", help="write the packets sent and received to this pcap file (the run then keeps "
                   "every packet and IKE SA in memory until it ends)")
    p.add_argument("--keys", help="write ikev2_decryption_table and esp_sa (Wireshark) into this directory (the "
                   "run then keeps a row of keys per SA in memory until it ends)")
    p.add_argument("--rekey-after", type=float, help="rekey the CHILD SA after S seconds")
    p.add_argument("--rekey-ike-after", type=float, help="rekey the IKE SA after S seconds (after the CHILD rekey)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to keep the SAs before DELETE (default 0; "
                   "inf: until Ctrl-C, and respond then goes on whoever comes and goes); without --pcap a long run "
                   "keeps only its latest packets and events")
    p.add_argument("--dpd", type=float, help="liveness check (empty INFORMATIONAL) after S idle seconds; 0: none")
    p.add_argument("--ping", metavar="ADDR", help="send ICMP echoes to this inner address through ESP; 'peer': "
                   "to the peer's own inner address (its virtual IP, or its traffic selector's first), respond: "
                   "each client's")
    p.add_argument("--ping-src", metavar="ADDR", help="inner source address of the echoes (default: from the TS; "
                   "in transport mode our IKE address)")
    p.add_argument("--ping-count", type=int, default=3, help="echoes per round (default 3, at most 1000)")
    p.add_argument("--encap", choices=("auto", "always", "never"), default="auto",
                   help="UDP encapsulation of ESP: auto (after NAT detection), always, never")
    p.add_argument("--mode", choices=("tunnel", "transport"), default="tunnel",
                   help="IPsec mode of the CHILD SAs (RFC 4301 4.1): tunnel protects whole IP packets between the "
                        "traffic selectors; transport protects the upper layer of packets between the two IKE hosts, "
                        "asked for with N(USE_TRANSPORT_MODE) (RFC 7296 1.3.1) and granted only for those two hosts' "
                        "selectors; default tunnel")
    p.add_argument("--keepalive", type=float, default=20.0, metavar="S",
                   help="behind a NAT, send a NAT-keepalive after S idle seconds on port 4500 (default 20; 0: never)")
    p.add_argument("--fragmentation", action="store_true",
                   help="offer IKE fragmentation (RFC 7383): with a peer that agrees, messages whose IP packet would "
                        "exceed the fragment size go out in SKF pieces (strongSwan: fragmentation = yes)")
    p.add_argument("--fragment-size", type=int, metavar="N",
                   help="largest IP packet of an IKE fragment, in octets (default 1280; implies --fragmentation)")
    p.add_argument("--childless", action="store_true",
                   help="the IKE SA alone first, then the CHILD SA with CREATE_CHILD_SA, when the responder announces "
                        "it can (RFC 6023; strongSwan: childless = prefer); as responder, announce it")
    p.add_argument("--retransmit-timeout", type=float, default=1.0, help="first retransmission timeout (default 1 s)")
    p.add_argument("--retransmit-tries", type=int, default=3, help="retransmissions before giving up (default 3)")
    p.add_argument("--wait", type=float, default=30.0,
                   help="seconds to wait for the IKE SA and CHILD SA (default 30; inf: no limit)")
    p.add_argument("--quiet", action="store_true", help="do not print ESP packets and key derivations")
    _allow_weak_option(p)


def _allow_weak_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-weak", action="store_true",
                   help="allow weak groups and algorithms, with a warning that says why each is weak "
                        "(for teaching only)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="ikelab", description="A teaching toolkit for IKEv2 and IPsec.")
    parser.add_argument("--version", action="version", version=f"ikelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    derive = sub.add_parser(
        "derive",
        help="print a worked IKEv2 key schedule (DH, SKEYSEED, prf+, SK_*, KEYMAT)",
        description="Print a worked IKEv2 key schedule from a fixed seed: the DH values, g^ir, SKEYSEED, "
        "each prf+ block, the seven SK_* keys and a CHILD SA KEYMAT with and without PFS (RFC 7296 2.13-2.17).",
    )
    derive.add_argument("--group", default="MODP_2048",
                        help="DH group: IANA name, number or strongSwan keyword, e.g. MODP_2048, 14, modp2048, x25519 "
                        "(default MODP_2048)")
    derive.add_argument("--prf", default="PRF_HMAC_SHA2_256",
                        help="PRF transform: IANA name, number or strongSwan keyword such as prfsha384 "
                        "(default PRF_HMAC_SHA2_256)")
    derive.add_argument("--encr", default="ENCR_AES_CBC",
                        help="encryption transform: IANA name, number or strongSwan keyword such as aes256gcm16 or "
                        "chacha20poly1305 (default ENCR_AES_CBC)")
    derive.add_argument("--key-bits", type=int,
                        help="key length attribute in bits (default: the keyword's, else 128 for ciphers that have "
                        "one; 0 for none)")
    derive.add_argument("--integ",
                        help="integrity transform (IANA name, number or strongSwan keyword such as sha256), or NONE; "
                        "default NONE with an AEAD cipher, else AUTH_HMAC_SHA2_256_128")
    derive.add_argument("--seed", default="2026", help="seed for the nonces, SPIs and private keys (default 2026)")
    _allow_weak_option(derive)
    derive.set_defaults(func=_cmd_derive)

    from .scenario import CLASSIC_DEFAULTS

    demo = sub.add_parser(
        "demo",
        help="run the classic IKEv2 lab trace and write its capture, key tables and flow diagram",
        description="Run the classic scenario (IKE_SA_INIT with a retransmission, IKE_AUTH, ESP pings both ways, "
        "CREATE_CHILD_SA, liveness checks, a new IKE SA) in virtual time; write DIR/ikev2-lab.pcap(ng), "
        "DIR/ikev2_decryption_table, DIR/esp_sa and DIR/flow.png; print the packet list and the tshark command "
        "that decrypts the capture.",
    )
    demo.add_argument("--out", default="ikelab-demo", help="output directory (default ./ikelab-demo)")
    demo.add_argument("--seed", default=str(CLASSIC_DEFAULTS["seed"]), help="seed of every random value (default 1)")
    demo.add_argument("--suite", default=CLASSIC_DEFAULTS["suite"],
                      help=f"IKE proposal, strongSwan syntax (default {CLASSIC_DEFAULTS['suite']})")
    _allow_weak_option(demo)
    demo.set_defaults(func=_cmd_demo)

    dis = sub.add_parser(
        "dissect",
        help="print the packet list of a capture, decrypting IKE and ESP where keys are given",
        description="Dissect a pcap/pcapng capture: every IKE message (UDP 500, UDP 4500 with the Non-ESP Marker) "
        "and ESP packet (IP protocol 50, UDP 4500 without the marker), decrypted with the Wireshark key tables "
        "in --keys.",
    )
    dis.add_argument("capture", help="pcap or pcapng file")
    dis.add_argument("--keys", help="directory holding ikev2_decryption_table and/or esp_sa")
    dis.add_argument("--json", action="store_true", help="one JSON object per packet (JSON Lines)")
    dis.add_argument("--ike-port", type=int, action="append", metavar="PORT",
                     help="a UDP port besides 500 that carries IKE, e.g. that of ikelab connect --port 5600 "
                          "(repeatable; Wireshark: Decode As)")
    dis.set_defaults(func=_cmd_dissect)

    flow = sub.add_parser(
        "flow",
        help="draw the flow diagram of a capture (matplotlib)",
        description="Draw a capture as Wireshark's Flow Graph: the endpoints as vertical lines, one labelled arrow "
        "per packet (ESP runs folded in long captures), exchanges coloured.",
    )
    flow.add_argument("capture", help="pcap or pcapng file")
    flow.add_argument("--keys", help="directory holding ikev2_decryption_table and/or esp_sa")
    flow.add_argument("--ike-port", type=int, action="append", metavar="PORT",
                      help="a UDP port besides 500 that carries IKE, e.g. that of ikelab connect --port 5600 "
                           "(repeatable; Wireshark: Decode As)")
    flow.add_argument("-o", "--output", default="flow.png", help="image file (.png, .svg, .pdf; default flow.png)")
    flow.add_argument("--fold", choices=("auto", "yes", "no"), default="auto",
                      help="fold runs of ESP packets into one arrow per SPI (default: auto, above 60 packets)")
    flow.add_argument("--timeline", action="store_true", help="add the SA lifetime timeline under the diagram")
    flow.add_argument("--all", action="store_true",
                      help="draw every frame (ARP, Neighbor Discovery, pings outside the SAs), not only IKE and ESP")
    flow.set_defaults(func=_cmd_flow)

    connect = sub.add_parser(
        "connect",
        help="initiate an IKE SA and CHILD SA with a real peer over UDP (e.g. strongSwan)",
        description="Initiate IKEv2 with PEER over UDP 500 (4500 after NAT detection), print each packet as it "
        "happens, optionally ping through ESP and rekey, and end with DELETE after --duration seconds or on Ctrl-C.",
        epilog=_LIVE_EPILOG,
    )
    connect.add_argument("peer", help="the peer's IP address")
    connect.add_argument("--port", type=int, default=500, help="the peer's IKE port (default 500)")
    connect.add_argument("--local", help="our address (default: the one the route to PEER uses)")
    connect.add_argument("--local-port", type=int, default=500,
                         help="our IKE port (default 500; with 500, port 4500 is bound too, for NAT-T)")
    connect.add_argument("--vip", metavar="ADDR", action="append",
                         help="ask the peer for our inner address in IKE_AUTH (CP, RFC 7296 2.19): 0.0.0.0 or :: "
                              "for any, or the address we would like; repeatable (or a comma-separated list), one "
                              "per family, e.g. --vip 0.0.0.0 --vip :: (strongSwan: vips)")
    _live_options(connect)
    connect.set_defaults(func=_cmd_connect)

    respond = sub.add_parser(
        "respond",
        help="answer IKEv2 initiators on an address (UDP 500 and 4500)",
        description="Answer every initiator on --listen ADDR (a gateway for several clients): IKE_SA_INIT, "
        "IKE_AUTH, pings through ESP; --ping and --rekey-after act on each client from its own CHILD SA on.  A "
        "refused handshake or a client lost is said, and the others are still served.  The run ends when the last "
        "IKE SA is gone, --duration after the first client's rounds, or on Ctrl-C (then DELETE to every client); a "
        "peer that deletes its IKE SA and at once starts a new one (reauthentication) is followed.",
        epilog=_LIVE_EPILOG,
    )
    respond.add_argument("--listen", required=True, help="the address to listen on")
    respond.add_argument("--port", type=int, default=500,
                         help="the IKE port (default 500; with 500, port 4500 is bound too, for NAT-T)")
    respond.add_argument("--cookie-threshold", metavar="N",
                         help="answer IKE_SA_INIT with N(COOKIE) once N IKE SAs are half open, 0 for always, "
                              "never for never (RFC 7296 2.6; default: 30, as IkeConfig)")
    respond.add_argument("--pool", metavar="NETWORK", action="append",
                         help="hand initiators that ask for one an inner address from this network, e.g. "
                              "10.3.0.0/24; repeatable (or a comma-separated list), one per family, e.g. "
                              "--pool 10.3.0.0/24 --pool 2001:db8:3::/120 (CP, RFC 7296 2.19; strongSwan: pools)")
    _live_options(respond)
    respond.set_defaults(func=_cmd_respond)
    return parser
