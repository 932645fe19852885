"""Which key decrypts a packet: :class:`KeyTables` finds an IKE SA's row by its SPIs and an ESP packet's row.

An ``esp_sa`` row is found as packet-esp.c ``get_esp_sa`` finds it: the first
row, in file order, whose SPI, protocol (the packet's IP version) and both
addresses fit the packet; addresses are compared as values, not text
(``2001:DB8::1`` is ``2001:db8::1``), with Wireshark's wildcards
(:func:`ikelab.esp_sa_addresses.address_filter`), and so is the SPI (``*``,
``0x0000100*``: :func:`ikelab.esp_sa_addresses.spi_filter`).  An
``ikev2_decryption_table`` row is found by its SPI pair (RFC 7296 3.1), and of
two rows with the same SPIs the *last* counts, as in packet-isakmp.c.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .esp_sa_addresses import AddressFilter, SpiFilter
from .wireshark_records import EspSaRecord, IkeSaRecord, _check_ike_spis, _esp_filters, records_from_lab


def _packet_address(address: Any, name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"esp_sa lookup: {name} {address!r} is not an IP address", field=name,
                          value=address) from None


@dataclass(frozen=True)
class KeyTables:
    """The keys a dissection may use: IKE SAs by SPI pair, ESP SAs by SPI (and addresses).

    Two ``ikev2_decryption_table`` rows for one SPI pair: the *last* one counts, as in tshark
    (packet-isakmp.c puts the rows into a hash table in file order, so a later row replaces an
    earlier one); appending a corrected row is how a table is fixed.  ``esp_sa`` rows are the
    other way round: the *first* row that fits a packet counts (:meth:`esp_sa`).
    """

    ike: tuple[IkeSaRecord, ...] = ()
    esp: tuple[EspSaRecord, ...] = ()
    _ike_index: dict[tuple[bytes, bytes], IkeSaRecord] = field(default_factory=dict, repr=False, compare=False)
    #: SPI -> the rows for that one SPI, each with its place in the table: (place, row, source, destination)
    _esp_index: dict[int, list[tuple[int, EspSaRecord, AddressFilter, AddressFilter]]] = field(
        default_factory=dict, repr=False, compare=False)
    #: the rows whose SPI has wildcards, with their place in the table and their SPI filter
    _esp_wild: list[tuple[int, SpiFilter, EspSaRecord, AddressFilter, AddressFilter]] = field(
        default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, kind in (("ike", IkeSaRecord), ("esp", EspSaRecord)):
            rows = getattr(self, name)
            if isinstance(rows, (str, bytes, bytearray, kind)) or not hasattr(rows, "__iter__"):
                raise ConfigError(f"KeyTables: {name} must be a list of {kind.__name__}, not {type(rows).__name__}",
                                  field=name, value=rows)
            rows = tuple(rows)
            for n, row in enumerate(rows):
                if not isinstance(row, kind):
                    raise ConfigError(f"KeyTables: {name}[{n}] must be an {kind.__name__}, not {type(row).__name__}",
                                      field=f"{name}[{n}]", value=row)
            object.__setattr__(self, name, rows)
        for r in self.ike:  # a later row for the same SPIs replaces an earlier one, as in packet-isakmp.c
            self._ike_index[(r.spi_i, r.spi_r)] = r
        for n, e in enumerate(self.esp):
            try:
                src, dst = _esp_filters(e)
                spis = e.spis()
            except ValueError as exc:
                raise ConfigError(f"esp[{n}] (SPI {e.spi_text}): {exc}", field=f"esp[{n}]", value=e) from None
            if spis.exact:
                self._esp_index.setdefault(e.spi, []).append((n, e, src, dst))
            else:
                self._esp_wild.append((n, spis, e, src, dst))

    def _rows(self, spi: int) -> Any:
        """The rows whose SPI column fits ``spi`` (one number, or a pattern with wildcards), in table order."""
        rows = self._esp_index.get(spi, ())
        if not self._esp_wild:
            return rows
        return sorted([*rows, *((n, e, s, d) for n, f, e, s, d in self._esp_wild if f.matches(spi))],
                      key=lambda row: row[0])

    def __add__(self, other: "KeyTables") -> "KeyTables":
        return KeyTables(self.ike + other.ike, self.esp + other.esp)

    def __bool__(self) -> bool:
        return bool(self.ike or self.esp)

    def ike_sa(self, spi_i: bytes, spi_r: bytes) -> IkeSaRecord | None:
        """The row for an IKE SA's SPIs (the last such row in table order, as tshark takes it), or None."""
        if spi_i.__class__ is not bytes or spi_r.__class__ is not bytes:  # one identity test each per lookup
            _check_ike_spis("KeyTables.ike_sa", spi_i, spi_r)
        return self._ike_index.get((bytes(spi_i), bytes(spi_r)))

    def esp_sa(self, spi: int, src: Any = None, dst: Any = None) -> EspSaRecord | None:
        """The row that decrypts an ESP packet, as packet-esp.c ``get_esp_sa`` picks it.

        The first row, in table order, for this SPI (or for a pattern that
        matches it, :func:`ikelab.esp_sa_addresses.spi_filter`) whose protocol is the
        packet's IP version (``Any``: either) and whose addresses match the
        packet's as values (:func:`ikelab.esp_sa_addresses.address_filter`).  An address left out
        (None) is not checked; with neither, the first row for the SPI.
        """
        s = None if src is None else _packet_address(src, "src")
        d = None if dst is None else _packet_address(dst, "dst")
        for _, rec, src_filter, dst_filter in self._rows(spi):
            if (s is None or _fits(rec, src_filter, s)) and (d is None or _fits(rec, dst_filter, d)):
                return rec
        return None

    def esp_miss(self, spi: int, src: Any, dst: Any) -> str:
        """Why no row decrypts a packet from ``src`` to ``dst``: no row has its SPI, or those that do are for
        other addresses or another IP version; the dissection shows this as the packet's note."""
        rows = [rec for _, rec, _, _ in self._rows(spi)]
        if not rows:
            return "no key for this SPI"
        version = f"IPv{_packet_address(src, 'src').version}"
        where: list[str] = []
        for rec in rows:
            text = f"{rec.src} -> {rec.dst}"
            if rec.protocol not in ("Any", version):
                text = f"{rec.protocol} packets ({text})"
            if text not in where:
                where.append(text)
        shown = "; ".join(where[:3]) + (f"; and {len(where) - 3} more" if len(where) > 3 else "")
        found = f"a key for SPI 0x{spi:08x} exists" if len(rows) == 1 else f"keys for SPI 0x{spi:08x} exist"
        return f"{found}, but for {shown}"

    @classmethod
    def from_lab(cls, lab: Any, side: str = "initiator") -> "KeyTables":
        ike, esp = records_from_lab(lab, side)
        return cls(tuple(ike), tuple(esp))

    def write(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        from .wireshark_files import write_tables  # the files module reads tables into KeyTables: import it here

        return write_tables(directory, self.ike, self.esp)


def _fits(rec: EspSaRecord, wanted: AddressFilter, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True if the row's protocol is the packet's IP version (or ``Any``) and its address filter matches."""
    return rec.protocol in ("Any", f"IPv{address.version}") and wanted.matches(address)
