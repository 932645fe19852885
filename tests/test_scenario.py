"""The classic scenario (ikelab.scenario): the course's trace, reproduced by the lab.

The expectations are the course's description of the trace and RFC 7296:
IKE_SA_INIT with one retransmission (2.1), IKE_AUTH creating the first CHILD
SA (1.2), ESP both ways about once a second under two SPIs, CREATE_CHILD_SA
about two seconds in rekeying the CHILD SA (1.3.3, 2.8) with the old SPIs
seen a moment longer and then deleted (1.4.1), liveness checks every 5 s
(1.4), later a new IKE_SA_INIT/IKE_AUTH and another CREATE_CHILD_SA.  The
capture's decryption is checked by tshark in test_wireshark.py and
test_dissect.py.
"""

from __future__ import annotations

import math

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ikelab.dissect import dissect
from ikelab.errors import ConfigError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.pcap import LINKTYPE_RAW, CapturedPacket
from ikelab.scenario import CLASSIC_DEFAULTS, MAX_STEPS, classic, esp_proposal_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def default_run():
    sc = classic()
    frames = [CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()]
    return sc, dissect(frames, sc.tables)


def test_timeline_of_the_classic_trace(default_run) -> None:
    sc, rows = default_run
    ike = [r for r in rows if r.kind == "ike"]
    # IKE_SA_INIT request twice (the first is lost), same bytes, about a second apart; then the response
    assert [(r.exchange, r.is_response) for r in ike[:5]] == [
        ("IKE_SA_INIT", False), ("IKE_SA_INIT", False), ("IKE_SA_INIT", True), ("IKE_AUTH", False), ("IKE_AUTH", True)]
    first, again = sc.records()[0][1], sc.records()[1][1]
    assert first[28:] == again[28:]  # the retransmission is the same IKE message (RFC 7296 2.1)
    assert 0.5 <= ike[1].time - ike[0].time <= 2.0
    assert sc.trace[0].note == "lost"
    t_auth = ike[4].time

    # ESP: two SPIs (one per direction) about once a second, both ways, ICV good
    esp = [r for r in rows if r.kind == "esp"]
    assert all(r.decrypted and r.icv_ok and r.inner_protocol == "ICMP" for r in esp)
    first_spis = {(r.src, r.spi) for r in esp if r.time < t_auth + 1.5}
    assert len(first_spis) == 2 and len({s for s, _ in first_spis}) == 2
    requests = [r for r in esp if r.inner_info.startswith("Echo (ping) request")]
    gaps = [b.time - a.time for a, b in zip(requests, requests[1:])]
    assert len(requests) >= 20 and sorted(gaps)[len(gaps) // 2] == pytest.approx(1.0, abs=0.05)
    assert len([r for r in esp if r.inner_info.startswith("Echo (ping) reply")]) == len(requests)  # every ping answered

    # CREATE_CHILD_SA about 2 s after IKE_AUTH; new SPIs afterwards, old ones still seen, then deleted
    ccs = [r for r in ike if r.exchange == "CREATE_CHILD_SA" and not r.is_response]
    assert len(ccs) == 2 and 1.5 <= ccs[0].time - t_auth <= 2.5
    old = {r.spi for r in esp if r.time < ccs[0].time}
    after = [r for r in esp if ccs[0].time < r.time < ccs[0].time + 3]
    assert any(r.spi in old for r in after), "old SPIs seen after the rekey started"
    new = {r.spi for r in after} - old
    assert len(new) == 2
    delete = next(r for r in ike if r.exchange == "INFORMATIONAL" and r.time > ccs[0].time and "D" in r.inner_payloads)
    assert not any(r.spi in old for r in esp if r.time > delete.time)

    # liveness: empty INFORMATIONAL requests every 5 s
    live = [r.time for r in ike if r.exchange == "INFORMATIONAL" and not r.is_response and r.inner_payloads == ()]
    assert len(live) >= 3
    assert all(abs((b - a) - 5.0) < 0.2 or b - a > 5.0 for a, b in zip(live, live[1:]))

    # later: IKE SA deleted, a new IKE_SA_INIT / IKE_AUTH, another CREATE_CHILD_SA, new SPIs everywhere
    inits = [r for r in ike if r.exchange == "IKE_SA_INIT" and not r.is_response]
    assert len(inits) == 3 and inits[2].spi_i != inits[0].spi_i
    assert ccs[1].time > inits[2].time and ccs[1].spi_i == inits[2].spi_i
    assert len({(r.spi_i) for r in ike}) == 2
    assert len({r.spi for r in esp}) == 8


def test_key_tables_cover_every_sa(default_run) -> None:
    sc, rows = default_run
    assert len(sc.tables.ike) == 2  # two IKE SAs
    assert len(sc.tables.esp) == 8  # four CHILD SAs, two directions each
    assert {r.spi for r in rows if r.kind == "esp"} == {rec.spi for rec in sc.tables.esp}
    assert all(r.decrypted for r in rows if r.kind == "esp" or r.payloads[-1:] == ("SK",))


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = classic(seed=3, duration=6.0, reconnect_at=None)
    b = classic(seed=3, duration=6.0, reconnect_at=None)
    c = classic(seed=4, duration=6.0, reconnect_at=None)
    assert a.records() == b.records() and a.tables == b.tables
    assert a.records() != c.records()
    assert [t for t, _ in a.records()] == [t for t, _ in c.records()]  # same timeline, other keys


def test_committed_data_is_what_make_data_writes(tmp_path: Path) -> None:
    """data/ must be regenerated by scripts/make_data.py, byte for byte (in a fresh interpreter)."""
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_data.py"), "--out", str(tmp_path)], check=True,
                   env=env, capture_output=True, timeout=300)
    for name in ("ikev2-lab.pcap", "ikev2-lab.pcapng", "ikev2_decryption_table", "esp_sa"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data" / name).read_bytes(), name


@pytest.mark.parametrize("suite, esp", [
    ("aes128-sha256-modp2048", "aes128-sha256"),
    ("aes256gcm16-prfsha384-ecp384", "aes256gcm16"),
    ("aes128ctr-sha1-modp3072", "aes128ctr-sha1"),
])
def test_esp_proposal_follows_the_suite(suite: str, esp: str) -> None:
    assert esp_proposal_for(suite) == esp


def test_other_suites_and_ipv6_run() -> None:
    for kwargs in ({"suite": "aes256gcm16-prfsha256-ecp256"}, {"ipv6": True}, {"suite": "chacha20poly1305-prfsha256-x25519"}):
        sc = classic(duration=5.0, reconnect_at=None, **kwargs)
        frames = [CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()]
        rows = dissect(frames, sc.tables)
        assert all(r.decrypted for r in rows if r.kind == "esp") and any(r.kind == "esp" for r in rows)
        if kwargs.get("ipv6"):
            assert rows[0].src == "2001:db8::1"


def test_certificate_authentication() -> None:
    """RFC 7296 1.2: with certificates IKE_AUTH carries CERT (and CERTREQ) beside AUTH; Ed25519 stays deterministic."""
    a = classic(duration=3.0, reconnect_at=None, auth="ed25519")
    rows = dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in a.records()], a.tables)
    auth = [r for r in rows if r.exchange == "IKE_AUTH"]
    assert all(r.decrypted for r in auth) and len(auth) == 2
    assert {"IDi", "CERT", "AUTH", "SA", "TSi", "TSr"} <= set(auth[0].inner_payloads)
    assert {"IDr", "CERT", "AUTH"} <= set(auth[1].inner_payloads)
    assert a.records() == classic(duration=3.0, reconnect_at=None, auth="ed25519").records()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        classic(duration=-1)
    with pytest.raises(ConfigError):
        classic(suite="nonsense-cipher")
    with pytest.raises(ConfigError):
        classic(auth="eap")
    with pytest.raises(ConfigError):  # weak without allow_weak (WeakAlgorithmError is a ConfigError)
        classic(suite="3des-sha1-modp2048", duration=3.0)


BAD_TIMES = [
    # a timeline that never ends (these once ran for ever), or never stops adding steps
    (dict(duration=math.inf), "duration", "finite"),
    (dict(liveness_interval=0), "liveness_interval", "positive"),
    (dict(ping_interval=1e-9, duration=5.0), "ping_interval", "more than 10000 steps"),
    (dict(liveness_interval=1e-3, duration=1e6, ping_interval=1e3), "liveness_interval", "more than 10000 steps"),
    # values that were taken silently: NaN skipped the liveness checks, a NaN start made a pcap error "record 0"
    (dict(liveness_interval=math.nan), "liveness_interval", "finite"),
    (dict(start_time=math.nan), "start_time", "finite"),
    (dict(start_time=-1.0), "start_time", "outside pcap's clock"),
    (dict(start_time=2.0**32 - 10, duration=30.0), "start_time", "outside pcap's clock"),
    (dict(child_rekey_after=-5), "child_rekey_after", "0 or more"),
    (dict(child_rekey_after=math.inf), "child_rekey_after", "finite"),  # was named 'until', a name not given
    (dict(reconnect_at=-1), "reconnect_at", "0 or more"),
    (dict(duration=True), "duration", "finite"),
    # a caller may allow more steps (benchmarks/bench_dissect.py), never a count that is not one
    (dict(ping_interval=0.01, duration=21.2, max_steps=2000), "ping_interval", "more than 2000 steps"),
    (dict(max_steps=0), "max_steps", "whole number of steps"),
    (dict(max_steps=True), "max_steps", "whole number of steps"),
    (dict(max_steps=1e6), "max_steps", "whole number of steps"),
]


@pytest.mark.parametrize("kw, field, words", BAD_TIMES, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_TIMES)])
def test_times_that_cannot_make_a_trace_are_named(kw: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        classic(**kw)
    assert info.value.field == field and str(info.value).startswith(field)


def test_max_steps_lets_a_benchmark_ask_for_a_longer_trace() -> None:
    """About 12,000 pings over 120 s: more than MAX_STEPS, refused by default and made when the caller asks."""
    kw = dict(duration=121.2, ping_interval=0.01, reconnect_at=None, liveness_interval=60.0)
    with pytest.raises(ConfigError, match="more than 10000 steps"):
        classic(**kw)
    esp = [p for p in classic(**kw, max_steps=12_200).trace if p.kind == "esp"]
    assert len(esp) > 2 * MAX_STEPS  # each ping and its reply, from t = 1.24 s (IKE_AUTH done) to 121.2 s


def test_a_reconnect_before_the_first_ike_sa_is_up_is_refused() -> None:
    """reconnect_at before IKE_AUTH ends (about 1.04 s with the lost first packet) once ran at that end instead."""
    with pytest.raises(ConfigError, match=r"comes before the first IKE SA is up \(t=1\.0") as info:
        classic(duration=3.0, reconnect_at=0.5)
    assert info.value.field == "reconnect_at"
    s = classic(duration=3.0, reconnect_at=1.5, child_rekey_after=None, liveness_interval=None)
    deleted = [e.time for e in s.events["initiator"] if type(e).__name__ == "IkeSaDeleted"]
    assert deleted and 1.5 <= deleted[0] < 1.6  # the reconnect runs when asked: its DELETE goes at 1.5 s
    classic(duration=3.0, reconnect_at=5.0)  # after the trace's end: no reconnect, no error (as before)


def test_the_last_second_pcap_can_stamp_is_allowed() -> None:
    s = classic(start_time=2.0**32 - 1 - 9.0, duration=4.0)  # 4 s and 5 to settle
    assert max(t for t, _ in s.records()) <= 2**32 - 1
    with pytest.raises(ConfigError, match="start_time"):
        classic(start_time=2.0**32 - 1 - 8.0, duration=4.0)


def test_defaults_are_embedded() -> None:
    assert CLASSIC_DEFAULTS["seed"] == 1 and CLASSIC_DEFAULTS["suite"] == "aes128-sha256-modp2048"


def test_a_weak_suite_runs_when_asked_for_and_says_why() -> None:
    """allow_weak=True reaches every parse of the suite, the ESP proposal made from it included."""
    with pytest.raises(WeakAlgorithmError, match="md5"):
        esp_proposal_for("aes128-md5-modp2048")
    with pytest.warns(WeakAlgorithmWarning, match="MD5 is broken"):
        assert esp_proposal_for("aes128-md5-modp2048", allow_weak=True) == "aes128-md5"
    with pytest.warns(WeakAlgorithmWarning) as caught:
        sc = classic(suite="3des-sha1-modp1024", duration=3.0, reconnect_at=None, allow_weak=True)
    reasons = " ".join(str(w.message) for w in caught)
    assert "3des" in reasons and "MODP_1024" in reasons
    rows = dissect([CapturedPacket(t, p, LINKTYPE_RAW) for t, p in sc.records()], sc.tables)
    assert any(r.kind == "esp" for r in rows) and all(r.decrypted for r in rows if r.kind == "esp")
