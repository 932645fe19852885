"""Interactive controls for the IKE exchange lessons (05, 06, 07), thin layers over :mod:`ikelab.figures_ike`.

* :func:`key_cut_explorer` (lesson 05) -- the same Ni, Nr, g^ir and SPIs,
  another IKE suite: SKEYSEED = prf(Ni | Nr, g^ir) and the cut of
  prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into SK_d ... SK_pr (RFC 7296 2.14);
* :func:`psk_auth_explorer` (lesson 06) -- type a pre-shared key and see the
  AUTH value it gives for the real signed octets, and whether the peer would
  accept it (RFC 7296 2.15);
* :func:`child_keymat_explorer` (lesson 07) -- an ESP suite and PFS on or
  off: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) cut into
  encr_i | integ_i | encr_r | integ_r (RFC 7296 2.17).

Each widget writes text into ``.output`` (an HTML ``<pre>``), so tests set
``.value`` on a control and read the output back.  Callbacks are pure
computations (no lab run), well within 100 ms.
"""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as w

from . import events as _ev
from . import figures_ike as fi
from . import prf as _prf
from .errors import ConfigError
from .fmt import short_hex
from .widgets import pre, start_bytes, start_choice, start_text

__all__ = ["ChildKeymatExplorer", "IKE_SUITES", "ESP_SUITES", "KeyCutExplorer", "PskAuthExplorer",
           "child_keymat_explorer", "key_cut_explorer", "psk_auth_explorer"]

#: IKE proposals offered by the key cut widget (strongSwan syntax).
IKE_SUITES: tuple[str, ...] = (
    "aes128-sha256-modp2048", "aes256-sha384-modp3072", "aes128-sha1-modp2048", "aes128-aesxcbc-prfaesxcbc-modp2048",
    "aes128ctr-sha256-ecp256", "aes128gcm16-prfsha256-ecp256", "aes256gcm16-prfsha384-ecp384",
    "chacha20poly1305-prfsha256-x25519", "aes256-sha512-modp4096",
)
#: ESP proposals offered by the KEYMAT widget.
ESP_SUITES: tuple[str, ...] = (
    "aes128-sha256", "aes256-sha512", "aes128-sha1", "aes128gcm16", "aes256gcm16", "chacha20poly1305",
    "aes128ctr-sha256",
)

_STYLE = {"description_width": "120px"}


class KeyCutExplorer(w.VBox):
    """SKEYSEED and the SK_* cut for a chosen suite; ``.output.value`` holds the table (HTML)."""

    def __init__(self, ni: bytes, nr: bytes, g_ir: bytes, spi_i: bytes, spi_r: bytes, *,
                 suite: str = IKE_SUITES[0], suites: Sequence[str] = IKE_SUITES) -> None:
        self.inputs = tuple(start_bytes(name, value) for name, value in
                            (("ni", ni), ("nr", nr), ("g_ir", g_ir), ("spi_i", spi_i), ("spi_r", spi_r)))
        options = list(suites) if start_text("suite", suite) in suites else [suite] + list(suites)
        self.suite = w.Dropdown(options=options, value=suite, description="IKE suite", style=_STYLE)
        self.output = w.HTML()
        self.result: Any = None
        super().__init__([self.suite, self.output])
        self.suite.observe(lambda change: self.update(), names="value")
        self.update()

    def __repr__(self) -> str:
        return f"KeyCutExplorer({self.suite.value}) -- run the notebook to use it"

    def update(self) -> None:
        """Recompute SKEYSEED and the seven keys for the chosen suite."""
        seed, self.result = fi.ike_key_cut(self.suite.value, *self.inputs)
        prf_name = _prf.get_prf(self.result.prf).name
        text = f"SKEYSEED = prf(Ni | Nr, g^ir) with {prf_name}: {short_hex(seed)}\n" + fi.format_key_cut(self.result)
        self.output.value = pre(text)


def key_cut_explorer(ni: bytes, nr: bytes, g_ir: bytes, spi_i: bytes, spi_r: bytes, **options: Any) -> KeyCutExplorer:
    """The lesson 05 widget for these inputs (options: suite, suites)."""
    return KeyCutExplorer(ni, nr, g_ir, spi_i, spi_r, **options)


class PskAuthExplorer(w.VBox):
    """AUTH for a typed pre-shared key, compared with the AUTH the signer really sent."""

    def __init__(self, event: _ev.AuthComputed, prf_alg: Any, psk: str = "") -> None:
        if not isinstance(event, _ev.AuthComputed):
            raise ConfigError(f"psk_auth_explorer() takes an AuthComputed event, not {type(event).__name__}",
                              field="event", value=event)
        self.event, self.prf_alg = event, prf_alg
        self.psk = w.Text(value=start_text("psk", psk), description="pre-shared key", style=_STYLE)
        self.output = w.HTML()
        self.accepted: bool | None = None
        super().__init__([self.psk, self.output])
        self.psk.observe(lambda change: self.update(), names="value")
        self.update()

    def __repr__(self) -> str:
        return f"PskAuthExplorer({self.event.signer}'s AUTH, psk={self.psk.value!r}) -- run the notebook to use it"

    def update(self) -> None:
        """Recompute AUTH with the typed key and compare it with the AUTH payload that was sent."""
        if not self.psk.value:
            self.accepted = None
            self.output.value = pre("type a pre-shared key (ikelab refuses an empty one; "
                                    "RFC 7296 2.15 asks for a strong secret)")
            return
        rows = fi.auth_rows(self.event, self.psk.value, self.prf_alg)
        self.accepted = rows[-1].value == self.event.auth
        verdict = ("equal to the AUTH that was sent: the peer accepts it" if self.accepted else
                   "differs from the AUTH that was sent: the peer answers AUTHENTICATION_FAILED")
        text = fi.format_auth_rows(rows[-2:]) + f"\nsent AUTH      {short_hex(self.event.auth)}\n-> {verdict}"
        self.output.value = pre(text)


def psk_auth_explorer(event: _ev.AuthComputed, prf_alg: Any, psk: str = "") -> PskAuthExplorer:
    """The lesson 06 widget for one AuthComputed event of a PSK exchange."""
    return PskAuthExplorer(event, prf_alg, psk)


class ChildKeymatExplorer(w.VBox):
    """KEYMAT for an ESP suite with and without PFS; ``.output.value`` holds the cut."""

    def __init__(self, prf_alg: Any, sk_d: bytes, ni: bytes, nr: bytes, g_ir: bytes, *, esp: str = ESP_SUITES[0],
                 pfs: bool = False, suites: Sequence[str] = ESP_SUITES) -> None:
        self.prf_alg, self.g_ir = prf_alg, start_bytes("g_ir", g_ir)
        self.inputs = tuple(start_bytes(name, value) for name, value in (("sk_d", sk_d), ("ni", ni), ("nr", nr)))
        options = list(suites) if start_text("esp", esp) in suites else [esp] + list(suites)
        start_choice("pfs", pfs, [False, True])
        self.esp = w.Dropdown(options=options, value=esp, description="ESP suite", style=_STYLE)
        self.pfs = w.Checkbox(value=pfs, description="PFS (new g^ir)", style=_STYLE)
        self.output = w.HTML()
        self.result: Any = None
        super().__init__([self.esp, self.pfs, self.output])
        for control in (self.esp, self.pfs):
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def __repr__(self) -> str:
        return f"ChildKeymatExplorer({self.esp.value}, pfs={self.pfs.value}) -- run the notebook to use it"

    def update(self) -> None:
        """Recompute KEYMAT for the chosen suite, with or without the new g^ir."""
        sk_d, ni, nr = self.inputs
        g_ir = self.g_ir if self.pfs.value else None
        self.result = fi.child_key_cut(self.esp.value, self.prf_alg, sk_d, ni, nr, g_ir)
        self.output.value = pre(self.result.format())


def child_keymat_explorer(prf_alg: Any, sk_d: bytes, ni: bytes, nr: bytes, g_ir: bytes,
                          **options: Any) -> ChildKeymatExplorer:
    """The lesson 07 widget (options: esp, pfs, suites)."""
    return ChildKeymatExplorer(prf_alg, sk_d, ni, nr, g_ir, **options)
