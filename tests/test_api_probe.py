"""Wrong argument types get a typed ikelab error that names the argument.

Each case below once failed with a bare TypeError, AttributeError, ValueError
or OverflowError from deep inside ikelab or a library.  The project's rule:
bad input gets an ikelab exception that says what was wrong and where.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import re

import pytest

from ikelab import ah, auth, certs, constants, dh, esp, fmt, identity, ike, keys, message, packet, pcap, policy, rand
from ikelab import cert_checks, dissect, endpoint, flow, ike_fragments, ipsec_sa, scenario, sk, transforms, ts, uat
from ikelab import dissect_keys, esp_peer, frame_info, host, trace, ts_negotiation, views, wire, wireshark
from ikelab.config import IkeConfig
from ikelab.errors import ConfigError
from ikelab.fixed_base import FixedBase, window_for
from ikelab.payloads import SK, Nonce

SPI = bytes(range(1, 9))
AES = transforms.encryption("ENCR_AES_CBC", 128)
SHA = transforms.integrity("AUTH_HMAC_SHA2_256_128")
T24 = ts.ts_from_string("10.0.0.0/24")
ALICE = identity.parse_identity("alice@example.com")
IP4 = bytes.fromhex("450000140000000040060000c0000201c0000202")  # a bare IPv4 header, protocol 6
PAIR = ("10.0.0.1", 500)


def _ip4() -> packet.IpPacket:
    return packet.parse_ip(IP4, verify_checksum=False)


def _gcm() -> sk.SkCrypto:
    return sk.SkCrypto.create("ENCR_AES_GCM_16", bytes(36), key_bits=256, rng=rand.DeterministicRandom(1))


def _protected() -> message.Message:
    return message.Message(SPI, exchange=35, payloads=(SK(inner=(Nonce(bytes(32)),)),))


def _esp_packet() -> bytes:
    return esp.esp_seal(spi=0x1234, seq=1, iv=bytes(16), payload=b"hello", next_header=4, encryption=AES,
                        encryption_key=bytes(16), integrity=SHA, integrity_key=bytes(32))


def _sealed(**bad):
    args = dict(spi=0x1234, seq=1, iv=bytes(16), payload=b"hello", next_header=4, encryption=AES,
                encryption_key=bytes(16), integrity=SHA, integrity_key=bytes(32))
    return esp.esp_seal(**{**args, **bad})


def _opened(**bad):
    args = dict(seq=1, encryption=AES, encryption_key=bytes(16), integrity=SHA, integrity_key=bytes(32))
    return esp.esp_open(_esp_packet(), **{**args, **bad})


def _keys_not_crypto():
    """What keys.ike_sa_keys returns, given where an SkCryptoPair belongs."""
    from ikelab import keys

    return keys.ike_sa_keys("PRF_HMAC_SHA2_256", bytes(32), bytes(32), bytes(32), SPI, SPI, encr="ENCR_AES_GCM_16",
                            encr_key_bits=256)


def _ec_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _leaf(**bad):
    ca_key = _ec_key()
    ca = certs.make_ca("CN=Root CA", ca_key)
    return certs.make_leaf(ca, ca_key, **{**dict(name="moon", key=_ec_key()), **bad})


def _ike_sa(**bad):
    config = IkeConfig(psk=b"a shared secret", ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128gcm16",),
                       local_id="moon.example", remote_id="sun.example")
    args = dict(initiator=True, local=("192.0.2.1", 500), remote=("192.0.2.2", 500))
    return ike.IkeSa(config, **{**args, **bad})


AES_ID, SHA_ID = "ENCR_AES_CBC", "AUTH_HMAC_SHA2_256_128"


def _config() -> IkeConfig:
    return IkeConfig(psk=b"a shared secret", ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128gcm16",),
                     local_id="moon.example", remote_id="sun.example")


def _endpoint_with_sa() -> endpoint.IkeEndpoint:
    ep = endpoint.IkeEndpoint(_config(), rand.DeterministicRandom(1))
    ep.initiate(("192.0.2.1", 500), 0.0)
    return ep


def _esp_record() -> wireshark.EspSaRecord:
    return wireshark.EspSaRecord("IPv4", "192.0.2.1", "192.0.2.2", 0x1234, "AES-CBC [RFC3602]", bytes(16),
                                 "HMAC-SHA-256-128 [RFC4868]", bytes(32))


def _plain() -> bytes:
    return message.Message(SPI, exchange=37, payloads=()).encode()


@functools.cache
def _scenario() -> scenario.Scenario:
    return scenario.classic(duration=3.0)


def _established_sa() -> ike.IkeSa:
    from ikelab.lab import Lab

    cfg = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128gcm16",))
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **cfg),
              IkeConfig(local_id="sun.example", remote_id="moon.example", **cfg))
    lab.initiate()
    lab.run_until_idle()
    return lab.initiator


def _ike_keys():
    return keys.ike_sa_keys("PRF_HMAC_SHA2_256", bytes(32), bytes(32), bytes(32), SPI, SPI, encr="ENCR_AES_CBC",
                            encr_key_bits=128, integ="AUTH_HMAC_SHA2_256_128")


# (id, call, argument the message must name)
CASES = [
    # rand: the sources every lesson seeds
    ("random_bytes-None", lambda: rand.DeterministicRandom(1).random_bytes(None), "n"),
    ("random_bytes-float", lambda: rand.DeterministicRandom(1).random_bytes(8.0), "n"),
    ("random_bytes-huge", lambda: rand.DeterministicRandom(1).random_bytes(2**200), "n"),
    ("system-random_bytes-str", lambda: rand.SystemRandom().random_bytes("8"), "n"),
    ("system-random_bytes-huge", lambda: rand.SystemRandom().random_bytes(2**200), "n"),
    ("randbelow-str", lambda: rand.DeterministicRandom(1).randbelow("8"), "n"),
    ("randbelow-bool", lambda: rand.DeterministicRandom(1).randbelow(True), "n"),
    ("random_bytes-bool", lambda: rand.DeterministicRandom(1).random_bytes(True), "n"),
    ("system-random_bytes-bool", lambda: rand.SystemRandom().random_bytes(True), "n"),
    ("spi-bool", lambda: rand.DeterministicRandom(1).spi(True), "size"),
    ("randbelow-nan", lambda: rand.DeterministicRandom(1).randbelow(float("nan")), "n"),
    ("randrange-None", lambda: rand.DeterministicRandom(1).randrange(None, 8), "low"),
    ("randrange-float", lambda: rand.DeterministicRandom(1).randrange(2, 8.5), "high"),
    ("spi-None", lambda: rand.DeterministicRandom(1).spi(None), "size"),
    ("spi-negative", lambda: rand.DeterministicRandom(1).spi(-1), "size"),
    ("spi-str", lambda: rand.DeterministicRandom(1).spi("4"), "size"),
    ("fork-bytes", lambda: rand.DeterministicRandom(1).fork(b"initiator"), "label"),
    ("fork-None", lambda: rand.DeterministicRandom(1).fork(None), "label"),
    # dh: a seed where a random source belongs, values that do not fit
    ("modp-generate-int", lambda: dh.group(14).generate(7), "rng"),
    ("ecp-generate-str", lambda: dh.group(19).generate("seed"), "rng"),
    ("x25519-generate-int", lambda: dh.group(31).generate(7), "rng"),
    ("toy-generate-object", lambda: dh.ToyGroup(23, 5).generate(object()), "rng"),
    ("modp-encode-negative", lambda: dh.group(14).encode(-1), "value"),
    ("modp-encode-huge", lambda: dh.group(14).encode(2**3000), "value"),
    ("modp-encode-str", lambda: dh.group(14).encode("5"), "value"),
    ("ecp-is_on_curve-str", lambda: dh.group(19).is_on_curve("1", 2), "x"),
    ("ecp-is_on_curve-None", lambda: dh.group(19).is_on_curve(1, None), "y"),
    # auth
    ("encode_signature_auth_data-str", lambda: auth.encode_signature_auth_data("3000", b"sig"), "algorithm_identifier"),
    ("encode_signature_auth_data-None", lambda: auth.encode_signature_auth_data(b"\x30\x00", None), "signature"),
    ("hash_algorithms_notify_data-int", lambda: auth.hash_algorithms_notify_data(2), "algs"),
    ("hash_algorithms_notify_data-None", lambda: auth.hash_algorithms_notify_data(None), "algs"),
    # esp: a name where a transforms object belongs
    ("esp_seal-encryption-name", lambda: _sealed(encryption="ENCR_AES_CBC"), "encryption"),
    ("esp_seal-encryption-None", lambda: _sealed(encryption=None), "encryption"),
    ("esp_seal-integrity-name", lambda: _sealed(integrity="AUTH_HMAC_SHA2_256_128"), "integrity"),
    ("esp_open-encryption-int", lambda: _opened(encryption=12), "encryption"),
    ("esp_open-integrity-str", lambda: _opened(integrity="AUTH_HMAC_SHA2_256_128"), "integrity"),
    # ah
    ("icv_field_len-None", lambda: ah.icv_field_len(None, 4), "icv_len"),
    ("icv_field_len-ip_version", lambda: ah.icv_field_len(12, "4"), "ip_version"),
    ("parse_ah-None", lambda: ah.parse_ah(None), "data"),
    ("parse_ah-offset-negative", lambda: ah.parse_ah(bytes(24), -1), "offset"),
    ("parse_ah-offset-str", lambda: ah.parse_ah(bytes(24), "0"), "offset"),
    ("zero_mutable_fields-int", lambda: ah.zero_mutable_fields(-1), "header"),
    ("zero_mutable_fields-str", lambda: ah.zero_mutable_fields("45000014"), "header"),
    # ts: one selector or text where a list belongs
    ("address_range-None", lambda: ts.address_range(None), "text"),
    ("address_range-bytes", lambda: ts.address_range(b"10.0.0.0/24"), "text"),
    ("check_range-str", lambda: ts.check_range("10.0.0.1", ipaddress.ip_address("10.0.0.9")), "lo"),
    ("check_range-None", lambda: ts.check_range(ipaddress.ip_address("10.0.0.1"), None), "hi"),
    ("resolve_ts-None", lambda: ts.resolve_ts(None, "10.0.0.1"), "selectors"),
    ("resolve_ts-str", lambda: ts.resolve_ts("10.0.0.0/24", None), "selectors"),
    ("narrow-offered_tsi-None", lambda: ts.narrow(None, [T24], ["10.0.0.0/16"], ["10.0.0.0/8"]), "offered_tsi"),
    ("narrow-offered_tsr-one", lambda: ts.narrow([T24], T24, ["10.0.0.0/16"], ["10.0.0.0/8"]), "offered_tsr"),
    ("narrow-policy_tsi-str", lambda: ts.narrow([T24], [T24], "10.0.0.0/16", ["10.0.0.0/8"]), "local_policy_tsi"),
    ("narrow-policy_tsr-int", lambda: ts.narrow([T24], [T24], ["10.0.0.0/16"], 8), "local_policy_tsr"),
    # identity
    ("dn_to_string-str", lambda: identity.dn_to_string("CN=alice"), "name"),
    ("format_identity-str", lambda: identity.format_identity("ID_RFC822_ADDR", "a@b"), "data"),
    ("format_identity-None", lambda: identity.format_identity("ID_RFC822_ADDR", None), "data"),
    ("matches-pattern-bytes", lambda: identity.matches(b"*@example.com", ALICE), "pattern"),
    ("matches-identity-str", lambda: identity.matches("*@example.com", "alice@example.com"), "identity"),
    ("matches-identity-None", lambda: identity.matches("alice@example.com", None), "identity"),
    # fmt
    ("hexstr-indent-int", lambda: fmt.hexstr(bytes(40), indent=4), "indent"),
    ("hexstr-indent-None", lambda: fmt.hexstr(bytes(40), indent=None), "indent"),
    # pcap
    ("write_pcap-records-None", lambda: pcap.write_pcap(io.BytesIO(), None), "records"),
    ("write_pcapng-records-int", lambda: pcap.write_pcapng(io.BytesIO(), 3), "records"),
    ("write_pcap-packet-data-str", lambda: pcap.write_pcap(io.BytesIO(), [pcap.CapturedPacket(0.0, "00", 1)]), "data"),
    ("ip_payload-bytes", lambda: pcap.ip_payload(bytes(14)), "captured_packet"),
    ("ip_payload-None", lambda: pcap.ip_payload(None), "captured_packet"),
    # policy
    ("Spd-one-policy", lambda: policy.Spd(policy.Policy("p", (policy.Selector.of(),), policy.Action.PROTECT)),
     "policies"),
    ("Spd-None", lambda: policy.Spd(None), "policies"),
    ("selectors_from_ts-ts-payload", lambda: policy.selectors_from_ts([T24], [T24]), "local_ts"),
    ("selectors_from_ts-None", lambda: policy.selectors_from_ts([("10.0.0.1", "10.0.0.9", 0, 0, 65535)], None),
     "remote_ts"),
    ("selectors_from_ts-int", lambda: policy.selectors_from_ts([7], [("10.0.0.1", "10.0.0.9", 0, 0, 65535)]),
     "local_ts"),
    # sk and message: the keys where the crypto belongs, text where bytes belong
    ("SkCrypto.create-hex-text", lambda: sk.SkCrypto.create("ENCR_AES_GCM_16", "00" * 36, key_bits=256), "sk_e"),
    ("SkCrypto.create-None", lambda: sk.SkCrypto.create("ENCR_AES_GCM_16", None, key_bits=256), "sk_e"),
    ("encode-crypto-keys", lambda: _protected().encode(crypto=_keys_not_crypto()), "crypto"),
    ("encode-crypto-bytes", lambda: _protected().encode(crypto=bytes(36)), "crypto"),
    ("decode-crypto-keys", lambda: message.decode(_protected().encode(_gcm()), crypto=_keys_not_crypto()), "crypto"),
    ("unprotect-crypto-str", lambda: sk.unprotect(_protected().encode(_gcm()), "key"), "crypto"),
    ("protect-message-bytes", lambda: sk.protect(b"\x00" * 28, _gcm()), "message"),
    ("protect-crypto-int", lambda: sk.protect(_protected(), 7), "crypto"),
    ("fragment-message-None", lambda: sk.fragment(None, _gcm(), 100), "message"),
    ("fragment-crypto-str", lambda: sk.fragment(_protected(), "key", 100), "crypto"),
    ("fragment-size-str", lambda: sk.fragment(_protected(), _gcm(), "100"), "max_message_size"),
    ("reassemble-None", lambda: sk.reassemble(None), "fragments"),
    ("reassemble-str-items", lambda: sk.reassemble(["fragment"]), "fragments"),
    ("reassemble-crypto-str", lambda: sk.reassemble(sk.fragment(_protected(), _gcm(), 100), "key"), "crypto"),
    # sk.SkCrypto built field by field: names where transforms objects belong, text where keys belong
    ("SkCrypto-encr-name", lambda: sk.SkCrypto("ENCR_AES_GCM_16", None, bytes(36)), "encr"),
    ("SkCrypto-encr-None", lambda: sk.SkCrypto(None, SHA, bytes(16), bytes(32)), "encr"),
    ("SkCrypto-integ-name", lambda: sk.SkCrypto(AES, "AUTH_HMAC_SHA2_256_128", bytes(16), bytes(32)), "integ"),
    ("SkCrypto-sk_e-None", lambda: sk.SkCrypto(AES, SHA, None, bytes(32)), "sk_e"),
    ("SkCrypto-sk_a-str", lambda: sk.SkCrypto(AES, SHA, bytes(16), "00" * 32), "sk_a"),
    ("SkCryptoPair.from_keys-None", lambda: sk.SkCryptoPair.from_keys(None, AES, SHA), "keys"),
    ("SkCryptoPair.from_keys-integ-int", lambda: sk.SkCryptoPair.from_keys(_ike_keys(), AES, 12), "integ"),
    # certs
    ("make_ca-name-None", lambda: certs.make_ca(None, _ec_key()), "name"),
    ("make_ca-name-empty", lambda: certs.make_ca("", _ec_key()), "name"),
    ("make_ca-not_before-str", lambda: certs.make_ca("ca", _ec_key(), not_before="2025-01-01"), "not_before"),
    ("make_ca-path_length-str", lambda: certs.make_ca("ca", _ec_key(), path_length="1"), "path_length"),
    ("make_ca-path_length-huge", lambda: certs.make_ca("ca", _ec_key(), path_length=2**70), "path_length"),
    ("make_leaf-not_after-None", lambda: _leaf(not_after=None), "not_after"),
    ("make_leaf-is_ca-None", lambda: _leaf(is_ca=None), "is_ca"),
    ("make_leaf-san-None", lambda: _leaf(san=None), "san"),
    ("make_leaf-san-bytes-item", lambda: _leaf(san=[b"moon.example"]), "san"),
    # policy: what a packet carries, given where the packet belongs
    ("packet_view-sel-None", lambda: policy.packet_view("outbound", None), "sel"),
    ("Spd.lookup-sel-bytes", lambda: policy.Spd([policy.Policy("p", (policy.Selector.of(),), policy.Action.BYPASS)])
     .lookup("inbound", bytes(20)), "sel"),
    ("PortRange.matches-str", lambda: policy.PortRange(0, 1023).matches("80"), "port"),
    # constants, message, packet
    ("lookup-enum-str", lambda: constants.lookup("PrfId", "PRF_HMAC_SHA2_256"), "enum"),
    ("decode-trace-str", lambda: message.decode(_protected().encode(_gcm()), trace="rows"), "trace"),
    ("decode-trace-bytearray", lambda: message.decode(_protected().encode(_gcm()), trace=bytearray()), "trace"),
    ("internet_checksum-None", lambda: packet.internet_checksum(None), "data"),
    ("internet_checksum-str", lambda: packet.internet_checksum("4500"), "data"),
    # ike: an address where an (address, port) pair belongs, a clock that is not a number
    ("IkeSa-local-str", lambda: _ike_sa(local="192.0.2.1"), "local"),
    ("IkeSa-remote-None", lambda: _ike_sa(remote=None), "remote"),
    ("IkeSa-remote-port-str", lambda: _ike_sa(remote=("192.0.2.2", "ike")), "remote"),
    ("IkeSa-remote-port-float", lambda: _ike_sa(remote=("192.0.2.2", 500.5)), "remote"),
    ("IkeSa-local-port-bool", lambda: _ike_sa(local=("192.0.2.1", True)), "local"),
    ("IkeSa-now-None", lambda: _ike_sa(now=None), "now"),
    ("IkeSa.initiate-now-str", lambda: _ike_sa().initiate("0"), "now"),
    ("IkeSa.receive-src-str", lambda: _ike_sa().receive(b"", 0.0, src="192.0.2.2"), "src"),
    ("IkeSa.receive-src-short", lambda: _ike_sa().receive(b"", 0.0, src=("192.0.2.2",)), "src"),
    ("IkeSa.receive-src-port-bool", lambda: _ike_sa().receive(b"", 0.0, src=("192.0.2.2", True)), "src"),
    ("IkeSa.receive-dst-port-float", lambda: _ike_sa().receive(b"", 0.0, src=PAIR, dst=("192.0.2.1", 500.5)),
     "dst"),
    # wireshark key tables, identity, views
    ("format_ikev2_table-None", lambda: wireshark.format_ikev2_table(None), "records"),
    ("format_esp_sa_table-int", lambda: wireshark.format_esp_sa_table(3), "records"),
    ("write_tables-directory-None", lambda: wireshark.write_tables(None, [], []), "directory"),
    ("write_tables-esp-None", lambda: wireshark.write_tables("/nonexistent/x", [], None), "esp"),
    ("records_from_lab-config", lambda: wireshark.records_from_lab(object()), "lab"),
    ("key_id_of-bytes", lambda: identity.key_id_of(b"0\x82"), "cert"),
    ("payload_label-str", lambda: views.payload_label("SA", _protected()), "payload"),
    ("payload_label-message-None", lambda: views.payload_label(Nonce(bytes(32)), None), "message"),
    # fixed_base: a table that would never finish; ipsec_sa, ike_fragments: what each packet or message needs
    ("FixedBase-max_bits-huge", lambda: FixedBase(2, 23, 2**70), "max_bits"),
    ("rewrite_ip_header-pkt-bytes", lambda: ipsec_sa.rewrite_ip_header(IP4, 17, b"ab"), "pkt"),
    ("rewrite_ip_header-protocol-None", lambda: ipsec_sa.rewrite_ip_header(_ip4(), None, b"ab"), "protocol"),
    ("rewrite_ip_header-protocol-huge", lambda: ipsec_sa.rewrite_ip_header(_ip4(), 256, b"ab"), "protocol"),
    ("rewrite_ip_header-protocol-bool", lambda: ipsec_sa.rewrite_ip_header(_ip4(), True, b"ab"), "protocol"),
    ("rewrite_ip_header-payload-None", lambda: ipsec_sa.rewrite_ip_header(_ip4(), 17, None), "payload"),
    ("rewrite_ip_header-payload-list", lambda: ipsec_sa.rewrite_ip_header(_ip4(), 17, [1, 2]), "payload"),
    ("max_message_size-size-None", lambda: ike_fragments.max_message_size(None, PAIR, PAIR), "fragment_size"),
    ("max_message_size-size-bool", lambda: ike_fragments.max_message_size(True, PAIR, PAIR), "fragment_size"),
    ("max_message_size-size-float", lambda: ike_fragments.max_message_size(1280.5, PAIR, PAIR), "fragment_size"),
    ("max_message_size-local-str", lambda: ike_fragments.max_message_size(1280, "10.0.0.1", PAIR), "local"),
    ("max_message_size-remote-None", lambda: ike_fragments.max_message_size(1280, PAIR, None), "remote"),
    ("max_message_size-remote-name", lambda: ike_fragments.max_message_size(1280, PAIR, ("moon", 500)), "remote"),
    # flow: what a notebook hands the drawing functions
    ("draw_flow-arrows-None", lambda: flow.draw_flow(None), "arrows"),
    ("draw_flow-arrows-str", lambda: flow.draw_flow(["HDR, SA"]), "arrows"),
    ("draw_flow-ax-str", lambda: flow.draw_flow([], ax="ax"), "ax"),
    ("draw_flow-names-list", lambda: flow.draw_flow([], names=["moon"]), "names"),
    ("draw_timeline-spans-int", lambda: flow.draw_timeline(3), "spans"),
    ("draw_timeline-ax-object", lambda: flow.draw_timeline([], ax=object()), "ax"),
    ("draw_timeline-colours-str", lambda: flow.draw_timeline([], colours="red"), "colours"),
    # uat: a key table's lines
    ("split_line-None", lambda: uat.split_line(None, 1, "esp_sa"), "line"),
    ("split_line-bytes", lambda: uat.split_line(b'"a","b"', 1, "esp_sa"), "line"),
    ("quote-bytes", lambda: uat.quote(b"moon"), "text"),
    ("hex_field-None", lambda: uat.hex_field(None, 1, "esp_sa", "key"), "value"),
    ("record-fields-None", lambda: uat.record(None, 1, "esp_sa", ("a",)), "fields"),
    ("record-names-str", lambda: uat.record([("x", True)], 1, "esp_sa", 7), "names"),
    # scenario: where the capture files go
    ("Scenario.write-directory-None", lambda: _scenario().write(None), "directory"),
    ("Scenario.write-name-None", lambda: _scenario().write("/nonexistent/x", name=None), "name"),
    # endpoint: a seed where the random source belongs, a text clock, bytes where a Datagram belongs
    ("IkeEndpoint-rng-int", lambda: endpoint.IkeEndpoint(_config(), 7), "rng"),
    ("IkeEndpoint.handle_timer-now-str", lambda: _endpoint_with_sa().handle_timer("1"), "now"),
    ("IkeEndpoint.receive-datagram-bytes", lambda: endpoint.IkeEndpoint(_config()).receive(b"\x00" * 28, 0.0),
     "datagram"),
    # wireshark, dissect, views, cert_checks
    ("ike_record_from_sa-spi_i-bool", lambda: wireshark.ike_record_from_sa(True, SPI, _ike_keys(), AES_ID, 128,
                                                                           SHA_ID), "spi_i"),
    ("ike_record_from_sa-spi_r-int", lambda: wireshark.ike_record_from_sa(SPI, 8, _ike_keys(), AES_ID, 128, SHA_ID),
     "spi_r"),
    ("ike_record_from_sa-keys-None", lambda: wireshark.ike_record_from_sa(SPI, SPI, None, AES_ID, 128, SHA_ID), "keys"),
    ("KeyTables.ike_sa-spi_i-None", lambda: wireshark.KeyTables().ike_sa(None, SPI), "spi_i"),
    ("KeyTables.ike_sa-spi_r-bool", lambda: wireshark.KeyTables().ike_sa(SPI, True), "spi_r"),
    ("dissect-ike_ports-None", lambda: dissect.dissect(io.BytesIO(), ike_ports=None), "ike_ports"),
    ("dissect-ike_ports-int", lambda: dissect.dissect(io.BytesIO(), ike_ports=5600), "ike_ports"),
    ("format_dump-rows-None", lambda: views.format_dump(None), "rows"),
    ("format_dump-rows-str-items", lambda: views.format_dump(["HDR"]), "rows"),
    ("format_dump-data-str", lambda: views.format_dump(views.dump(_plain()), "00"), "data"),
    ("format_dump-max_hex-None", lambda: views.format_dump(views.dump(_plain()), _plain(), max_hex=None), "max_hex"),
    ("KeyTables-ike-None", lambda: wireshark.KeyTables(None), "ike"),
    ("KeyTables-esp-one-record", lambda: wireshark.KeyTables((), _esp_record()), "esp"),
    ("esp_records_from_child-event-None", lambda: wireshark.esp_records_from_child(None), "event"),
    ("endpoints-rows-None", lambda: flow.endpoints(None), "rows"),
    ("endpoints-rows-str-items", lambda: flow.endpoints(["192.0.2.1"]), "rows"),
    ("wrap_summary-text-None", lambda: flow.wrap_summary(None, 40), "text"),
    ("wrap_summary-width-str", lambda: flow.wrap_summary("HDR, SA", "40"), "width"),
    ("wrap_summary-lines-zero", lambda: flow.wrap_summary("HDR, SA, KE, Ni", 4, lines=0), "lines"),
    ("window_for-p-None", lambda: window_for(None, 320), "p"),
    ("window_for-max_bits-float", lambda: window_for(23, 320.0), "max_bits"),
    # constants.lookup: callers name their argument, not the enum class (field was "EncrId", "DhId", ...)
    ("encryption-alg-None", lambda: transforms.encryption(None), "alg"),
    ("integrity-alg-object", lambda: transforms.integrity(object()), "alg"),
    ("key_lengths-alg-None", lambda: transforms.key_lengths(None), "alg"),
    ("cipher_suite-encr-str", lambda: transforms.cipher_suite("x"), "encr"),
    ("cipher_suite-integ-None-list", lambda: transforms.cipher_suite("ENCR_AES_CBC", [], key_bits=128), "integ"),
    ("dh.group-id-None", lambda: dh.group(None), "id"),
    ("get_prf-alg-negative", lambda: __import__("ikelab.prf").prf.get_prf(-1), "alg"),
    ("psk_auth-prf_alg-None", lambda: auth.psk_auth(None, b"secret", b"octets"), "prf_alg"),
    ("psk_pad_key-prf_alg-str", lambda: auth.psk_pad_key("x", b"secret"), "prf_alg"),
    # a PRF that is registered but not implemented (Tiger): the caller's argument named, not the enum class
    ("get_prf-alg-tiger", lambda: __import__("ikelab.prf").prf.get_prf("PRF_HMAC_TIGER"), "alg"),
    ("psk_pad_key-prf_alg-tiger", lambda: auth.psk_pad_key("PRF_HMAC_TIGER", b"secret"), "prf_alg"),
    ("ike_sa_keys-prf_alg-tiger", lambda: __import__("ikelab.keys").keys.ike_sa_keys(
        "PRF_HMAC_TIGER", bytes(32), bytes(32), bytes(32), SPI, SPI, encr="ENCR_AES_GCM_16", encr_key_bits=256), "prf_alg"),
    ("sign-method-None", lambda: auth.sign(_ec_key(), b"octets", method=None), "method"),
    ("id_body-id_type-None", lambda: identity.id_body(None, b"x"), "id_type"),
    ("EspSa-encryption-None", lambda: esp.EspSa(0x1234, direction="inbound", encryption=None,
                                                                    encryption_key=bytes(16)), "encryption"),
    ("EspSa-integrity-str", lambda: esp.EspSa(0x1234, direction="inbound", encryption=AES, encryption_key=bytes(16),
                                               integrity="x", integrity_key=bytes(32)), "integrity"),
    ("ike_record_from_sa-encr-None", lambda: wireshark.ike_record_from_sa(SPI, SPI, _ike_keys(), None, 128, SHA_ID),
     "encr"),
    # sk: the sizes of an SK payload (block_size=0 was a ZeroDivisionError, a negative one a wrong pad length)
    ("pad_length_for-block_size-zero", lambda: sk.pad_length_for(5, 0), "block_size"),
    ("pad_length_for-block_size-negative", lambda: sk.pad_length_for(5, -16), "block_size"),
    ("pad_length_for-plaintext_len-None", lambda: sk.pad_length_for(None, 16), "plaintext_len"),
    ("pad_length_for-plaintext_len-float", lambda: sk.pad_length_for(1.5, 16), "plaintext_len"),
    ("sealed_length-crypto-None", lambda: sk.sealed_length(None, 10), "crypto"),
    ("sealed_length-plaintext_len-None", lambda: sk.sealed_length(_gcm(), None), "plaintext_len"),
    # wire: the helpers payload modules and lessons call (were TypeError/AttributeError)
    ("check_bytes-min_len-None", lambda: wire.check_bytes(b"ab", "nonce", min_len=None), "min_len"),
    ("check_bytes-max_len-str", lambda: wire.check_bytes(b"ab", "nonce", max_len="8"), "max_len"),
    ("to_enum-enum-None", lambda: wire.to_enum(None, 5), "enum"),
    ("to_enum-value-list", lambda: wire.to_enum(constants.DhId, []), "value"),
    ("name_of-enum-str", lambda: wire.name_of(5, "DhId"), "enum"),
    ("name_of-value-dict", lambda: wire.name_of({}, constants.DhId), "value"),
    # trace, ts_negotiation, esp_peer (were TypeError/AttributeError, or a driver that could not work)
    ("Trace.of-packets-None", lambda: trace.Trace.of(None), "packets"),
    ("check_narrowed-answer-str", lambda: ts_negotiation.check_narrowed("x", (T24,), "TSi"), "answer"),
    ("check_narrowed-answer-int", lambda: ts_negotiation.check_narrowed(7, (T24,), "TSi"), "answer"),
    ("check_narrowed-offered-None", lambda: ts_negotiation.check_narrowed((T24,), None, "TSi"), "offered"),
    ("check_narrowed-offered-list-of-str", lambda: ts_negotiation.check_narrowed([T24], ["x"], "TSi"), "offered"),
    ("EspPeer-driver-None", lambda: esp_peer.EspPeer(None), "driver"),
    ("EspPeer-driver-dict", lambda: esp_peer.EspPeer({}), "driver"),
    # dissect_keys.EspOpener: one SA of a key table (were AttributeError/TypeError/ValueError)
    ("EspOpener-enc-str", lambda: dissect_keys.EspOpener("ENCR_AES_CBC", bytes(16), SHA, bytes(32)), "enc"),
    ("EspOpener-integ-int", lambda: dissect_keys.EspOpener(AES, bytes(16), 12, bytes(32)), "integ"),
    ("EspOpener-ekey-None", lambda: dissect_keys.EspOpener(AES, None, SHA, bytes(32)), "ekey"),
    ("EspOpener-ekey-short", lambda: dissect_keys.EspOpener(AES, bytes(3), SHA, bytes(32)), "ekey"),
    ("EspOpener-akey-str", lambda: dissect_keys.EspOpener(AES, bytes(16), SHA, "key"), "akey"),
    ("EspOpener.open-data-None", lambda: dissect_keys.EspOpener(AES, bytes(16), SHA, bytes(32)).open(None, 1), "data"),
    # frame_info: tshark's Info column (were ValueError/TypeError/IndexError, and address(0) said "0.0.0.0")
    ("address-raw-int", lambda: frame_info.address(0), "raw"),
    ("address-raw-short", lambda: frame_info.address(b"\x00" * 3), "raw"),
    ("address-raw-list", lambda: frame_info.address([]), "raw"),
    ("arp_info-body-None", lambda: frame_info.arp_info(None), "body"),
    ("arp_info-body-str", lambda: frame_info.arp_info("x" * 30), "body"),
    ("icmp_info-version-None", lambda: frame_info.icmp_info(None, IP4, bytes(8)), "version"),
    ("icmp_info-packet-empty", lambda: frame_info.icmp_info(4, b"", bytes(8)), "packet"),
    ("icmp_info-packet-int", lambda: frame_info.icmp_info(4, 7, bytes(8)), "packet"),
    ("icmp_info-payload-None", lambda: frame_info.icmp_info(4, IP4, None), "payload"),
    ("icmp_info-payload-dict", lambda: frame_info.icmp_info(4, IP4, {}), "payload"),
    # host: a CHILD SA's event (were AttributeError)
    ("child_selectors-event-None", lambda: host.child_selectors(None), "event"),
    ("sa_pair-event-str", lambda: host.sa_pair("child"), "event"),
    # ah.ah_icv_coverage: parse_ah's errors named data and offset, not the caller's packet and header_len
    ("ah_icv_coverage-packet-None", lambda: ah.ah_icv_coverage(None, 20), "packet"),
    ("ah_icv_coverage-header_len-str", lambda: ah.ah_icv_coverage(IP4, "20"), "header_len"),
    ("parse_identity-text-None", lambda: identity.parse_identity(None), "text"),
    ("create_child-pfs-str", lambda: _established_sa().create_child(0.0, pfs="modp7"), "pfs"),
    ("EspSa-initial_seq-str", lambda: esp.EspSa(0x1234, direction="inbound", encryption=AES,
                                                 encryption_key=bytes(16), integrity=SHA, integrity_key=bytes(32),
                                                 initial_seq="1"), "initial_seq"),
    ("rows_of-source-None", lambda: flow.rows_of(None), "source"),
    ("check_signature_hash-cert-bytes", lambda: cert_checks.check_signature_hash(b"0\x82", "cert", allow_weak=False),
     "cert"),
]


@pytest.mark.parametrize("call, argument", [pytest.param(c, a, id=i) for i, c, a in CASES])
def test_wrong_argument_is_a_config_error_naming_it(call, argument):
    with pytest.raises(ConfigError) as info:
        call()
    assert re.search(rf"\b{re.escape(argument)}\b", str(info.value)), str(info.value)
    assert info.value.field == argument
    assert info.value.__cause__ is None  # raised for the caller, not chained to the library's TypeError


def test_a_seed_where_a_random_source_belongs_gets_a_hint():
    with pytest.raises(ConfigError, match=r"DeterministicRandom\(7\)"):
        dh.group(19).generate(7)


def test_a_transform_name_where_an_object_belongs_gets_a_hint():
    with pytest.raises(ConfigError, match=r"ikelab\.transforms\.encryption\('ENCR_AES_CBC'"):
        _sealed(encryption="ENCR_AES_CBC")


def test_keys_where_crypto_belongs_gets_a_hint():
    with pytest.raises(ConfigError, match=r"SkCryptoPair\.from_keys"):
        message.decode(_protected().encode(_gcm()), crypto=_keys_not_crypto())


def test_one_selector_where_a_list_belongs_gets_a_hint():
    with pytest.raises(ConfigError, match="wrap a single selector in a list"):
        ts.narrow([T24], [T24], "10.0.0.0/16", ["10.0.0.0/8"])


def test_a_wrong_records_argument_leaves_no_capture_file(tmp_path):
    path = tmp_path / "x.pcap"
    with pytest.raises(ConfigError):
        pcap.write_pcap(path, None)
    assert not path.exists()

