"""The anti-replay sliding window of RFC 4303 section 3.4.3 (ESP) and RFC 4302 3.4.3 (AH).

Theory of operation
-------------------
The receiver remembers the highest sequence number it has *authenticated*,
``T`` (the right edge of the window), and one bit for each of the ``W - 1``
numbers below it.  RFC 4303 3.4.3:

    "Duplicates are rejected through the use of a sliding receive window ...
    If the received packet falls within the window and is new, or if the
    packet is to the right of the window, then the receiver proceeds to ICV
    verification ... The receive window is updated only if the ICV
    verification succeeds."

So the window offers two verbs: :meth:`ReplayWindow.check` (a pre-check that
never changes state and raises :class:`~ikelab.errors.ReplayError`) and
:meth:`ReplayWindow.update` (called only after the ICV verified).

Extended sequence numbers (ESN, RFC 4303 appendix A2)
-----------------------------------------------------
With ESN the counter has 64 bits but only the low 32 (``Seql``) travel on the
wire.  The receiver infers the high half ``Seqh`` from where ``Seql`` falls
relative to the window (appendix A2.2, with ``Tl``/``Th`` the low and high
halves of ``T``)::

    If (Tl >= W - 1)                     Case A: window inside one subspace
        If (Seql >= Tl - W + 1) Seqh = Th
        else                    Seqh = Th + 1
    If (Tl <  W - 1)                     Case B: window spans two subspaces
        If (Seql >= Tl - W + 1) Seqh = Th - 1      (mod 2^32 subtraction)
        else                    Seqh = Th

:meth:`check` returns the inferred 64-bit number; the ICV (or the AEAD
associated data) then proves or disproves the guess.  The resynchronisation
procedure of appendix A3 is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, ReplayError

__all__ = ["DEFAULT_WINDOW", "ReplayWindow", "WindowState"]

#: RFC 4303 3.4.3: "a window size of 64 is preferred and SHOULD be employed as the default".
DEFAULT_WINDOW = 64
_MAX_WINDOW = 1 << 20
_MASK32 = 0xFFFFFFFF
_MAX_SEQ64 = (1 << 64) - 1


@dataclass(frozen=True)
class WindowState:
    """A printable snapshot of the window: its right edge and the sequence numbers seen in it."""

    size: int
    esn: bool
    top: int
    seen: tuple[int, ...]

    def __str__(self) -> str:
        # sequence numbers start at 1 (RFC 4303 3.3.3): a young window's left edge is 1, not 0 or below
        edges = f"[{max(self.top - self.size + 1, 1)}..{self.top}]" if self.top else "(empty)"
        return f"window {edges} (W={self.size}{', ESN' if self.esn else ''}), seen {list(self.seen)}"


class ReplayWindow:
    """A sliding anti-replay window of ``size`` packets (RFC 4303 3.4.3, appendix A).

    >>> w = ReplayWindow(64)
    >>> w.update(w.check(5))
    >>> w.check(5)
    Traceback (most recent call last):
    ...
    ikelab.errors.ReplayError: sequence number 5 was already received (window top 5)
    """

    __slots__ = ("size", "esn", "_top", "_bitmap")

    def __init__(self, size: int = DEFAULT_WINDOW, *, esn: bool = False, top: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= _MAX_WINDOW:
            raise ConfigError(
                f"replay window size must be an int in 1..{_MAX_WINDOW}, got {size!r}", field="replay_window",
                value=size,
            )
        if not isinstance(esn, bool):  # bool("no") is True: a 64-bit window the caller did not ask for
            raise ConfigError(f"esn must be True or False, not {esn!r:.40}", field="esn", value=esn)
        self.size = size
        self.esn = esn
        limit = _MAX_SEQ64 if self.esn else _MASK32
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= limit:
            raise ConfigError(f"window top must be an int in 0..{limit}, got {top!r}", field="top", value=top)
        # ``top`` > 0 starts the window as if ``top`` had just been received (a lesson can start near a wrap)
        self._top = top  # highest authenticated sequence number (64-bit with ESN); 0 = none yet
        self._bitmap = 1 if top else 0  # bit i set <=> sequence number (top - i) was received

    # -- inspection -------------------------------------------------------------------------
    @property
    def top(self) -> int:
        """The right edge ``T``: the highest sequence number authenticated so far (0 before any)."""
        return self._top

    @property
    def bitmap(self) -> int:
        """Bit ``i`` is set when ``top - i`` has been received."""
        return self._bitmap

    def state(self) -> WindowState:
        """A frozen snapshot, for printing in a lesson or comparing in a test."""
        seen = tuple(self._top - i for i in range(self.size) if self._bitmap >> i & 1)
        return WindowState(self.size, self.esn, self._top, tuple(sorted(seen)))

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self.size}, esn={self.esn}, top={self._top})"

    # -- RFC 4303 appendix A2.2 ----------------------------------------------------------------
    def infer(self, seq_lo: int) -> int:
        """The full sequence number for the 32 bits ``seq_lo`` received on the wire.

        Without ESN this is ``seq_lo`` itself; with ESN, appendix A2.2 guesses
        the high half from the window.  A guess outside the 64-bit space
        (before the first subspace or after the last) raises ReplayError.
        """
        if isinstance(seq_lo, bool) or not isinstance(seq_lo, int) or not 0 <= seq_lo <= _MASK32:
            raise ConfigError(f"wire sequence number must be a 32-bit int, got {seq_lo!r}", field="seq", value=seq_lo)
        if not self.esn:
            return seq_lo
        w = self.size
        tl, th = self._top & _MASK32, self._top >> 32
        bottom = (tl - w + 1) & _MASK32
        if tl >= w - 1:  # Case A
            seq_hi = th if seq_lo >= bottom else th + 1
        else:  # Case B
            seq_hi = th - 1 if seq_lo >= bottom else th
        if seq_hi < 0:
            raise ReplayError(f"sequence number {seq_lo} is left of the window (before the first ESN subspace)")
        if seq_hi > _MASK32:
            raise ReplayError(f"sequence number {seq_lo} would need a 65th bit: the ESN counter never cycles")
        return seq_hi << 32 | seq_lo

    def check(self, seq_lo: int) -> int:
        """The pre-check: return the full sequence number, or raise ReplayError.  Never changes state.

        RFC 4303 3.4.3: reject if the number is left of the window or was
        already received.  Sequence number 0 is never sent without ESN (the
        first packet carries 1, RFC 4303 3.3.3), so it is rejected too.
        """
        seq = self.infer(seq_lo)
        if seq == 0:
            raise ReplayError("sequence number 0 is never sent: the first packet of an SA carries 1 (RFC 4303 3.3.3)")
        if seq > self._top:
            return seq
        offset = self._top - seq
        if offset >= self.size:
            raise ReplayError(
                f"sequence number {seq} is left of the window [{self._top - self.size + 1}..{self._top}]"
            )
        if self._bitmap >> offset & 1:
            raise ReplayError(f"sequence number {seq} was already received (window top {self._top})")
        return seq

    def update(self, seq: int) -> None:
        """Record ``seq`` (the full number :meth:`check` returned) after its ICV verified.

        Raises ReplayError if ``seq`` is not acceptable (so a caller that
        forgot :meth:`check` cannot corrupt the window).
        """
        limit = _MAX_SEQ64 if self.esn else _MASK32
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq <= limit:
            raise ConfigError(f"sequence number must be an int in 1..{limit}, got {seq!r}", field="seq", value=seq)
        mask = (1 << self.size) - 1
        if seq > self._top:
            shift = seq - self._top
            self._bitmap = ((self._bitmap << shift) | 1) & mask if shift < self.size else 1
            self._top = seq
            return
        offset = self._top - seq
        if offset >= self.size or self._bitmap >> offset & 1:
            raise ReplayError(f"sequence number {seq} cannot be recorded: it is a replay or left of the window")
        self._bitmap |= 1 << offset

    def check_and_update(self, seq_lo: int) -> int:
        """:meth:`check` then :meth:`update`, for callers that have already verified the ICV."""
        seq = self.check(seq_lo)
        self.update(seq)
        return seq
