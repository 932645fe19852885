"""Tests for ikelab.figures_arch (lesson 01): manual keying counts, and a packet's SPD/SAD path.

References: RFC 4301 4.1 (an SA is simplex: two per pair of peers), 4.4.1 (the SPD is ordered, first match wins),
5.1/5.2 (outbound and inbound processing); RFC 4303 2 (ESP: SPI, sequence number, IV, payload, padding, pad length,
next header, ICV) and RFC 4868 (HMAC-SHA-256-128).  The ESP packet on the wire is opened here with the
``cryptography`` package's AES-CBC and Python's hmac, independently of ikelab.esp.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ikelab import figures_arch, scenario
from ikelab import packet as ip
from ikelab.errors import ConfigError, PolicyError


@pytest.fixture(scope="module")
def events() -> dict:
    sc = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                          lose_first=False)
    return sc.events


@pytest.mark.parametrize("n, tunnels, sas, keys, key_bytes", [
    (2, 1, 2, 4, 96),            # one pair: 2 SAs x (16 + 32) bytes
    (4, 6, 12, 24, 576),
    (10, 45, 90, 180, 4320),
])
def test_manual_keying_cost_by_hand(n: int, tunnels: int, sas: int, keys: int, key_bytes: int) -> None:
    cost = figures_arch.manual_keying_cost(n)
    assert (cost.tunnels, cost.sas, cost.secret_keys, cost.key_bytes) == (tunnels, sas, keys, key_bytes)
    assert cost.per_gateway == 2 * (n - 1) and cost.ike_credentials == n + 1


@pytest.mark.parametrize("bad", [1, 0, -3, True, 2.5, "4"])
def test_manual_keying_cost_refuses_bad_n(bad: object) -> None:
    with pytest.raises(ConfigError):
        figures_arch.manual_keying_cost(bad)  # type: ignore[arg-type]


def test_the_databases_come_from_ike(events: dict) -> None:
    gws = figures_arch.gateways_from_events(events)
    assert [p.name for p in gws.moon.spd] == ["bypass-ike", "moon-sun", "dns-bypass", "default-discard"]
    assert [p.name for p in gws.sun.spd] == ["bypass-ike", "sun-moon", "default-discard"]
    moon, sun = gws.events["initiator"], gws.events["responder"]
    assert moon.spi_out == sun.spi_in and moon.spi_in == sun.spi_out
    assert gws.moon.sad.lookup_outbound("moon-sun").spi == int.from_bytes(sun.spi_in, "big")


def _open_esp(outer: bytes, encr_key: bytes, integ_key: bytes) -> tuple[int, int, bytes, int]:
    """RFC 4303 by hand: (SPI, seq, inner packet, next header) of an IPv4 ESP packet, AES-CBC + HMAC-SHA-256-128."""
    ihl = (outer[0] & 0x0F) * 4
    assert outer[9] == 50
    esp = outer[ihl:]
    body, icv = esp[:-16], esp[-16:]
    assert hmac.compare_digest(hmac.new(integ_key, body, hashlib.sha256).digest()[:16], icv)
    spi, seq, iv, ct = int.from_bytes(esp[:4], "big"), int.from_bytes(esp[4:8], "big"), esp[8:24], body[24:]
    dec = Cipher(algorithms.AES(encr_key), modes.CBC(iv)).decryptor()
    plain = dec.update(ct) + dec.finalize()
    pad_len, next_header = plain[-2], plain[-1]
    assert plain[-2 - pad_len:-2] == bytes(range(1, pad_len + 1))  # RFC 4303 2.4 default padding
    return spi, seq, plain[:-2 - pad_len], next_header


def test_protected_path_opened_independently(events: dict) -> None:
    gws = figures_arch.gateways_from_events(events)
    ping = figures_arch.make_packet("10.1.0.1", "10.2.0.1", "icmp echo")
    path = figures_arch.packet_path(gws, ping)
    assert path.outbound.action.value == "PROTECT" and path.outbound.policy.name == "moon-sun"
    sun = gws.events["responder"]
    spi, seq, inner, nh = _open_esp(path.wire, sun.encr_key_in, sun.integ_key_in)
    assert (spi, seq, inner, nh) == (int.from_bytes(sun.spi_in, "big"), 1, ping, 4)  # tunnel mode: IPv4 inside
    outer = ip.parse_ip(path.wire)
    assert (str(outer.src), str(outer.dst)) == ("192.0.2.1", "192.0.2.2")
    assert path.inbound.action.value == "PROTECT" and path.delivered == ping
    assert "delivered" in figures_arch.format_packet_path(path)


def test_first_match_discard_bypass_and_spoofing(events: dict) -> None:
    gws = figures_arch.gateways_from_events(events)
    dns = figures_arch.packet_path(gws, figures_arch.make_packet("10.1.0.1", "10.2.0.53", "udp/53 (DNS)"))
    assert dns.outbound.policy.name == "moon-sun"  # the CHILD SA's policy comes before dns-bypass
    lone = figures_arch.gateways_from_events(events, dns_bypass=None)
    assert [p.name for p in lone.moon.spd] == ["bypass-ike", "moon-sun", "default-discard"]
    away = figures_arch.packet_path(gws, figures_arch.make_packet("10.1.0.1", "10.3.0.1", "icmp echo"))
    assert away.outbound.action.value == "DISCARD" and away.wire is None and away.inbound is None
    assert "dropped at moon" in figures_arch.format_packet_path(away)
    ike = figures_arch.packet_path(gws, figures_arch.make_packet("192.0.2.1", "192.0.2.2", "udp/500 (IKE)"))
    assert ike.outbound.action.value == "BYPASS" and ike.delivered == ike.packet
    with pytest.raises(PolicyError):
        gws.sun.inbound(figures_arch.make_packet("10.1.0.1", "10.2.0.1", "icmp echo"))


def test_refused_inbound_is_reported(events: dict) -> None:
    gws = figures_arch.gateways_from_events(events)
    ping = figures_arch.make_packet("10.1.0.1", "10.2.0.1", "icmp echo")
    assert figures_arch.packet_path(gws, ping).inbound_error is None
    rebooted = figures_arch.Gateways(figures_arch.gateways_from_events(events).moon, gws.sun, gws.events)
    path = figures_arch.packet_path(rebooted, ping)  # moon starts again at sequence number 1
    assert path.inbound is None and path.delivered is None
    assert path.inbound_error is not None and path.inbound_error.startswith("ReplayError")
    assert "refused: ReplayError" in figures_arch.format_packet_path(path)


def test_bad_inputs_and_figure(events: dict) -> None:
    with pytest.raises(ConfigError):
        figures_arch.make_packet("10.1.0.1", "10.2.0.1", "sctp")
    with pytest.raises(ConfigError):
        figures_arch.gateways_from_events({"initiator": events["initiator"]})
    with pytest.raises(ConfigError, match="takes a scenario's events by side"):
        figures_arch.gateways_from_events(events["initiator"])  # one side's list instead of both sides
    with pytest.raises(ConfigError, match="protocol must be one of"):
        figures_arch.make_packet("10.1.0.1", "10.2.0.1", ["icmp echo"])  # type: ignore[arg-type]
    fig = figures_arch.manual_keying_figure((2, 10, 50))
    assert fig.ikelab_alt == ("Figure: with 50 gateways, manual keying means 2450 SAs to configure by hand, "
                              "IKE with certificates 51 credentials")
