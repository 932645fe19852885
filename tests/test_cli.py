"""``ikelab derive``: the printed schedule is right, recomputed independently
from the printed inputs with the standard library and cryptography's HKDF."""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ikelab.cli import main
from ikelab.xcbc import aes_xcbc_prf_128
from reference import prf_plus


def _parse(text: str) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    name = None
    for line in text.splitlines():
        head = re.match(r"^(\S.*?) \((\d+) bytes\)", line)
        if head:
            name = head.group(1)
            values[name] = b""
        elif line.startswith("    ") and name is not None and line.strip() != "(empty)":
            values[name] += bytes.fromhex(line.replace(" ", ""))
    return values


def _run(capsys, *argv: str) -> dict[str, bytes]:
    assert main(["derive", *argv]) == 0
    return _parse(capsys.readouterr().out)




@pytest.mark.parametrize("group, ke_len", [("MODP_2048", 256), ("ECP_256", 64), ("CURVE25519", 32)])
def test_derive_sha256_matches_rfc_formulas(capsys, group: str, ke_len: int) -> None:
    v = _run(capsys, "--group", group, "--prf", "PRF_HMAC_SHA2_256")
    assert len(v["KEi"]) == len(v["KEr"]) == ke_len
    ni, nr, spis = v["Ni"], v["Nr"], v["SPIi"] + v["SPIr"]
    skeyseed = hmac.new(ni + nr, v["g^ir"], hashlib.sha256).digest()
    assert v["SKEYSEED"] == skeyseed
    lengths = [32, 32, 32, 16, 16, 32, 32]  # SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr
    stream = HKDFExpand(hashes.SHA256(), sum(lengths), ni + nr + spis).derive(skeyseed)
    offset = 0
    for name, n in zip(["SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr"], lengths):
        assert v[name] == stream[offset : offset + n], name
        offset += n
    assert v["T1"] + v["T2"] == stream[:64]
    sk_d = v["SK_d"]
    assert v["KEYMAT (first CHILD SA)"] == HKDFExpand(hashes.SHA256(), 96, ni + nr).derive(sk_d)
    assert v["ESP encr_i"] + v["ESP integ_i"] + v["ESP encr_r"] + v["ESP integ_r"] == v["KEYMAT (first CHILD SA)"]
    n2 = v["Ni'"] + v["Nr'"]
    assert v["KEYMAT (rekey, no PFS)"] == HKDFExpand(hashes.SHA256(), 96, n2).derive(sk_d)
    assert v["KEYMAT (rekey, PFS)"] == HKDFExpand(hashes.SHA256(), 96, v["g^ir (new)"] + n2).derive(sk_d)


@pytest.mark.parametrize("group", ["MODP_2048", "ECP_256", "CURVE25519"])
def test_derive_aes_xcbc_uses_truncated_nonces(capsys, group: str) -> None:
    v = _run(capsys, "--group", group, "--prf", "PRF_AES128_XCBC")
    ni, nr = v["Ni"], v["Nr"]
    # RFC 7296 2.14: fixed-key-size PRFs take the first 64 bits of Ni and of Nr as the key
    skeyseed = aes_xcbc_prf_128(ni[:8] + nr[:8], v["g^ir"])
    assert v["SKEYSEED"] == skeyseed
    stream = prf_plus(skeyseed, ni + nr + v["SPIi"] + v["SPIr"], 16 + 32 + 32 + 16 + 16 + 16 + 16, aes_xcbc_prf_128)
    assert v["SK_d"] == stream[:16]
    assert v["SK_pr"] == stream[-16:]
    assert v["KEYMAT (rekey, PFS)"] == prf_plus(v["SK_d"], v["g^ir (new)"] + v["Ni'"] + v["Nr'"], 96, aes_xcbc_prf_128)


def test_derive_is_deterministic_and_seeded(capsys) -> None:
    a = _run(capsys)
    b = _run(capsys)
    c = _run(capsys, "--seed", "7")
    assert a == b
    assert a["Ni"] != c["Ni"] and a["g^ir"] != c["g^ir"]


def test_derive_aead_has_no_integrity_keys(capsys) -> None:
    v = _run(capsys, "--encr", "ENCR_AES_GCM_16", "--key-bits", "256", "--integ", "NONE", "--group", "CURVE25519")
    assert v["SK_ai"] == v["SK_ar"] == b""
    assert len(v["SK_ei"]) == 36  # 32-byte key + 4-byte salt (RFC 5282)
    assert len(v["KEYMAT (first CHILD SA)"]) == 72


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--group", "nope"], "--group nope: not a key exchange group"),
        (["--group", "MODP_1024"], "weak"),
        (["--group", "MODP_1024"], "--allow-weak"),
        (["--prf", "PRF_HMAC_TIGER"], "PRF_HMAC_TIGER"),
        (["--encr", "ENCR_AES_CBC", "--key-bits", "100"], "100"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(capsys, argv: list[str], message: str) -> None:
    assert main(["derive", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab derive: error:") and message in err
    assert "Traceback" not in err


def test_console_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "ikelab", "derive", "--group", "CURVE25519"],
                         capture_output=True, text=True, check=True)
    assert "SKEYSEED (32 bytes) = prf(Ni | Nr, g^ir)" in out.stdout


def test_schedule_lookup_by_step_name() -> None:
    from ikelab.errors import ConfigError
    from ikelab.schedule import worked_schedule

    schedule = worked_schedule(group="CURVE25519")
    assert len(schedule["SK_d"]) == 32
    with pytest.raises(ConfigError, match="no step named 'SK_x'"):
        schedule["SK_x"]


def test_derive_takes_the_strongswan_keywords_that_demo_takes(capsys) -> None:
    """``--group x25519 --prf prfsha384 --integ sha384`` is the same schedule as the IANA names."""
    assert main(["derive", "--group", "x25519", "--prf", "prfsha384", "--integ", "sha384"]) == 0
    by_keyword = capsys.readouterr().out
    assert main(["derive", "--group", "CURVE25519", "--prf", "PRF_HMAC_SHA2_384",
                 "--integ", "AUTH_HMAC_SHA2_384_192"]) == 0
    assert by_keyword == capsys.readouterr().out and "CURVE25519, PRF_HMAC_SHA2_384" in by_keyword
    assert main(["derive", "--group", "sha256"]) == 2  # a keyword of another transform type is not a group
    assert "--group sha256: not a key exchange group" in capsys.readouterr().err


def test_derive_takes_encryption_keywords_with_their_key_length(capsys) -> None:
    """``--encr aes256gcm16`` (as ``--suite`` spells it) carries its key length, and an AEAD cipher needs no
    ``--integ NONE``: it once failed with "unknown EncrId", and ``--encr ENCR_AES_GCM_16`` alone blamed the
    default integrity transform the user never gave."""
    assert main(["derive", "--encr", "aes256gcm16", "--group", "x25519"]) == 0
    by_keyword = capsys.readouterr().out
    assert main(["derive", "--encr", "ENCR_AES_GCM_16", "--key-bits", "256", "--integ", "NONE",
                 "--group", "CURVE25519"]) == 0
    assert by_keyword == capsys.readouterr().out
    assert "SK_ai (0 bytes) = none: the AEAD cipher protects integrity itself" in by_keyword
    assert ("SK_ei (36 bytes) = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) octets 32..67 (a 32-byte key, then a 4-byte "
            "salt)") in by_keyword
    assert main(["derive", "--encr", "chacha20poly1305"]) == 0  # no Key Length attribute (RFC 7634 2)
    assert "ENCR_CHACHA20_POLY1305, (AEAD: none)" in capsys.readouterr().out
    assert main(["derive", "--encr", "ENCR_AES_GCM_16"]) == 0  # 128 bits by default, and no integrity transform
    assert "ENCR_AES_GCM_16-128, (AEAD: none)" in capsys.readouterr().out


@pytest.mark.parametrize("encr", ["ENCR_NULL", "null"])
def test_derive_refuses_encr_null_as_demo_does(capsys, encr: str) -> None:
    """RFC 7296 3.3.2: IKE always encrypts.  ``derive --encr ENCR_NULL`` once printed a schedule whose 0-byte
    SK_ei was explained as an AEAD's, while ``demo`` refused the same cipher."""
    assert main(["derive", "--encr", encr]) == 2
    assert capsys.readouterr().err == ("ikelab derive: error: ENCR_NULL is not allowed for IKE: IKE always encrypts "
                                       "(RFC 7296 3.3.2)\n")


def test_a_refused_weak_cipher_is_one_error_line_and_no_warning(capsys) -> None:
    """``derive --encr 3des`` used to warn that 3DES is weak, then refuse it for the same reason."""
    assert main(["derive", "--encr", "3des"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ikelab derive: error: ENCR_3DES is weak") and "--allow-weak" in err[0]
    assert main(["derive", "--encr", "3des", "--allow-weak"]) == 0
    assert capsys.readouterr().err.count("warning: ENCR_3DES is weak") == 1


def test_a_keyword_key_length_and_another_key_bits_are_refused(capsys) -> None:
    """``--encr aes256gcm16 --key-bits 128`` silently made AES-GCM-128; the two now have to agree."""
    assert main(["derive", "--encr", "aes256gcm16", "--key-bits", "128"]) == 2
    assert "--encr aes256gcm16 names 256-bit keys, --key-bits 128 another length" in capsys.readouterr().err
    assert main(["derive", "--encr", "aes256gcm16", "--key-bits", "256"]) == 0
    assert "ENCR_AES_GCM_16-256" in capsys.readouterr().out


@pytest.mark.parametrize("option, value, said", [
    ("--group", "99", "--group 99: not a key exchange group; give a keyword (modp768 "),
    ("--prf", "aesxcbc", "--prf aesxcbc: not a PRF; give a keyword (prfmd5 prfsha1 prfsha256"),
    ("--integ", "foo", "--integ foo: not an integrity algorithm; give a keyword (md5 sha1"),
])
def test_derive_names_the_option_and_its_keywords_for_an_unknown_name(capsys, option: str, value: str,
                                                                       said: str) -> None:
    """The error used to say ``unknown PrfId 'aesxcbc'`` and list IANA names only, so ``aesxcbc`` got no hint
    that the PRF keyword is ``prfaesxcbc``."""
    assert main(["derive", option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ikelab derive: error: {said}") and "Id '" not in err


def test_a_weak_prf_implied_by_a_weak_integrity_keyword_is_named_once(capsys, tmp_path) -> None:
    """``aes128-md5-modp1024`` names no PRF, so HMAC-MD5 becomes the PRF too (strongSwan's rule): one warning
    says so, in the proposal's words, and the engine's own PRF warning is not printed again."""
    assert main(["demo", "--suite", "aes128-md5-modp1024", "--allow-weak", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("ikelab demo: warning: ") for line in err)
    assert sum("PRF_HMAC_MD5" in line for line in err) == 1
    assert "no PRF is named in proposal 'aes128-md5-modp1024', so its integrity algorithm gives PRF_HMAC_MD5" in err[2]


def test_an_unknown_encr_says_which_words_derive_takes(capsys) -> None:
    """``--encr aes129`` answered with the IANA enum's name and its list of ciphers ikelab does not implement;
    it now says so as --group, --prf and --integ do, in the words ``--help`` gives."""
    assert main(["derive", "--encr", "aes129"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ikelab derive: error: --encr aes129: not an encryption algorithm; give a keyword (")
    assert "aes256gcm16" in err and "chacha20poly1305" in err and "EncrId" not in err


def test_a_key_table_that_is_a_directory_is_named_by_dissect_and_demo(capsys, tmp_path) -> None:
    """``mkdir -p d/esp_sa``: ``dissect --keys d`` and ``demo --out d`` said "cannot read/write key tables in
    'd': Is a directory", naming the directory that is meant to be one; they now name ``d/esp_sa``."""
    assert main(["demo", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    d = tmp_path / "d"
    (d / "esp_sa").mkdir(parents=True)
    assert main(["dissect", str(tmp_path / "run" / "ikev2-lab.pcap"), "--keys", str(d)]) == 2
    err = capsys.readouterr().err
    assert err == f"ikelab dissect: error: cannot read key table '{d / 'esp_sa'}': Is a directory\n"
    assert main(["demo", "--out", str(d)]) == 2
    err = capsys.readouterr().err
    assert err == f"ikelab demo: error: cannot write key table '{d / 'esp_sa'}': Is a directory\n"


@pytest.mark.parametrize("command", [["respond", "--listen", "127.0.0.1"], ["connect", "127.0.0.1"]])
def test_a_key_on_the_command_line_is_refused_with_the_way_to_give_one(capsys, command: list[str]) -> None:
    """argparse once took --psk for an abbreviation of --psk-file, and the key for a file name to read."""
    from ikelab.cli import main

    with pytest.raises(SystemExit) as info:
        main([*command, "--id", "a.example", "--psk", "a secret"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--psk takes no key" in err and "--psk-file FILE" in err
    assert "a secret" not in err  # the key is not echoed either
