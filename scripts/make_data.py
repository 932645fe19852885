"""Regenerate ``data/``: the classic scenario's capture and its Wireshark key tables.

    python scripts/make_data.py            # writes data/ikev2-lab.pcap, .pcapng, ikev2_decryption_table, esp_sa
    python scripts/make_data.py --out DIR  # somewhere else (tests/test_scenario.py compares the two)

Everything comes from :func:`ikelab.scenario.classic` with its embedded
defaults (fixed seed, virtual clock), so the files are byte-identical on
every machine; open the capture in Wireshark with the two tables as in
``ikelab demo``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DATA_FILES = ("ikev2-lab.pcap", "ikev2-lab.pcapng", "ikev2_decryption_table", "esp_sa")


def build(out: Path) -> list[Path]:
    """Write the data files into ``out``; return their paths."""
    from ikelab.scenario import classic

    paths = classic().write(out)
    return [paths["pcap"], paths["pcapng"], paths["ikev2_decryption_table"], paths["esp_sa"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data"))
    args = parser.parse_args(argv)
    for path in build(Path(args.out)):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
