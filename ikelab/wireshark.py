"""Wireshark's decryption tables: ``ikev2_decryption_table`` and ``esp_sa`` (export and import).

Wireshark decrypts IKEv2 and ESP only when it is given the keys, in two UAT
("user accessible table") files of its configuration directory.  The field
lists below are those of tshark 4.0 (``packet-isakmp.c`` ``ikev2_uat_flds``
and ``packet-esp.c`` ``esp_uat_flds``); one record per line, fields
separated by commas, strings in double quotes, byte buffers as bare hex::

    ikev2_decryption_table:
        SPIi, SPIr, SK_ei, SK_er, "encryption", SK_ai, SK_ar, "integrity"
        e.g.  8d2f...,c1a4...,7f3e...,0b9d...,"AES-CBC-128 [RFC3602]",5a..,e1..,"HMAC_SHA2_256_128 [RFC4868]"
    esp_sa:
        "protocol","source","destination","SPI","encryption","key","authentication","key"
        e.g.  "IPv4","192.0.2.1","192.0.2.2","0x0d713155","AES-CBC [RFC3602]","0x7f3e...","HMAC-SHA-256-128 [RFC4868]","0x5a.."

The keys are those of RFC 7296 2.14 (IKE SA: SK_e and SK_a per direction,
the encryption key including the salt for GCM/CCM/CTR) and 2.17 (CHILD SA:
the KEYMAT slices, one ``esp_sa`` line per direction, each keyed by the SPI
its *receiver* chose).  The algorithm names are Wireshark's exact,
case-sensitive value strings, carried by :mod:`ikelab.transforms`.  tshark
4.0 rejects a *whole* table over one name it does not know, so an SA whose
algorithm it lacks (AES-CCM and ChaCha20-Poly1305 in ESP, ChaCha20 in IKEv2,
XCBC/CMAC integrity) is written as a comment line holding ikelab's IANA
names: Wireshark skips it, ikelab reads it back.

:func:`records_from_lab` collects every IKE SA and CHILD SA of a lab run;
:func:`format_ikev2_table` / :func:`format_esp_sa_table` write the files,
:func:`parse_ikev2_table` / :func:`parse_esp_sa_table` read them back (a bad
line is a :class:`~ikelab.errors.CaptureError` naming its line number; the
text format itself, as tshark reads it, is :mod:`ikelab.uat`), and
:class:`KeyTables` turns records into the SK crypto and ESP parameters that
:mod:`ikelab.dissect` uses.  An ``esp_sa`` row is found as packet-esp.c
``get_esp_sa`` finds it: the first row, in file order, whose SPI, protocol
(the packet's IP version) and both addresses fit the packet; addresses are
compared as values, not text (``2001:DB8::1`` is ``2001:db8::1``), with
Wireshark's wildcards (:func:`ikelab.esp_sa_addresses.address_filter`), and so
is the SPI (``*``, ``0x0000100*``: :func:`ikelab.esp_sa_addresses.spi_filter`).  An
``ikev2_decryption_table`` row is found by its SPI pair, and of two rows with
the same SPIs the *last* counts, as in packet-isakmp.c.  :func:`tshark_command`
prints a command that makes tshark read a directory holding both files.

The code is in four modules, one idea each, and this module gathers their
public names: :mod:`ikelab.wireshark_names` maps algorithms to Wireshark's
names and back, :mod:`ikelab.wireshark_records` holds the two kinds of row and
builds them from a lab run, :mod:`ikelab.wireshark_lookup` finds the row that
decrypts a packet (:class:`KeyTables`), and :mod:`ikelab.wireshark_files`
writes and reads the files and prints the tshark command.
"""

from __future__ import annotations

from .wireshark_files import (ESP_PROTOCOLS, ESP_SA_FILE, IKEV2_TABLE_FILE, format_esp_sa_table, format_ikev2_table,
                              parse_esp_sa_table, parse_ikev2_table, read_tables, tshark_command, write_tables)
from .wireshark_lookup import KeyTables
from .wireshark_names import NOT_IN_WIRESHARK_4_0
from .wireshark_records import EspSaRecord, IkeSaRecord, esp_records_from_child, ike_record_from_sa, records_from_lab

__all__ = [
    "ESP_PROTOCOLS",
    "ESP_SA_FILE",
    "NOT_IN_WIRESHARK_4_0",
    "IKEV2_TABLE_FILE",
    "EspSaRecord",
    "IkeSaRecord",
    "KeyTables",
    "esp_records_from_child",
    "format_esp_sa_table",
    "format_ikev2_table",
    "ike_record_from_sa",
    "parse_esp_sa_table",
    "parse_ikev2_table",
    "read_tables",
    "records_from_lab",
    "tshark_command",
    "write_tables",
]
