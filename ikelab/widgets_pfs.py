"""The PFS widget (lesson 03): choose PFS per CHILD SA rekey and which IKE SA's keys leak.

Each change re-runs the experiment of :mod:`ikelab.figures_pfs` (a real lab
run, Curve25519, virtual time) and the attacker, and shows for every CHILD
SA whether ``prf+(SK_d, Ni | Nr)`` computed from the leak equals the KEYMAT
the engine installed (RFC 7296 2.17).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import figures_pfs
from .widgets import pre, start_choice

__all__ = ["PfsExplorer", "pfs_explorer"]


class PfsExplorer(w.VBox):
    """Three PFS check boxes and a leak menu; ``.output.value`` holds the attacker's results (HTML)."""

    def __init__(self, pfs: tuple[bool, bool, bool] = (False, True, False), leaked: int = 1,
                 seed: int | str = "lesson03") -> None:
        pfs = figures_pfs.pfs_flags(pfs)
        start_choice("leaked", leaked, [1, 2])
        self.seed = seed
        labels = ("rekey at 10 s (IKE SA 1)", "rekey at 20 s (IKE SA 1)", "rekey at 40 s (IKE SA 2)")
        self.pfs = [w.Checkbox(value=bool(v), description=f"PFS for the {label}", indent=False)
                    for v, label in zip(pfs, labels)]
        self.leaked = w.Dropdown(options=[("IKE SA 1 (before its rekey at 30 s)", 1), ("IKE SA 2", 2)],
                                 value=leaked, description="keys leaked", style={"description_width": "100px"})
        self.output = w.HTML()
        self.outcomes: list[figures_pfs.Outcome] = []
        super().__init__(self.pfs + [self.leaked, self.output])
        for control in self.pfs + [self.leaked]:
            control.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def __repr__(self) -> str:
        flags = ", ".join("PFS" if c.value else "no PFS" for c in self.pfs)
        return f"PfsExplorer({flags}; IKE SA {self.leaked.value} leaked) -- run the notebook to use it"

    def update(self) -> None:
        """Re-run the lab and the attack for the current settings."""
        run = figures_pfs.pfs_run(tuple(c.value for c in self.pfs), seed=self.seed)
        self.outcomes = figures_pfs.attack(run, self.leaked.value)
        fallen = [o.child.number for o in self.outcomes if o.falls]
        head = f"CHILD SAs whose keys fall: {', '.join(map(str, fallen)) if fallen else 'none'}\n\n"
        self.output.value = pre(head + figures_pfs.format_outcomes(self.outcomes))


def pfs_explorer(**options: Any) -> PfsExplorer:
    """The PFS widget (options: ``pfs``, ``leaked``, ``seed``)."""
    return PfsExplorer(**options)
