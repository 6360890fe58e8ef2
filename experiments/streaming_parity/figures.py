"""Figures of the streaming-parity experiments, drawn only from the saved arrays and the settings.

Each function takes ``(arrays, cfg)`` as stored in ``arrays.npz`` and ``summary.json`` and returns
``{file stem: Figure}``; ``python -m experiments plot NAME`` redraws them without recomputing. Titles name the
paper figure each panel reproduces (van Rossem & Saxe 2025).
"""

from __future__ import annotations

import numpy as np

from experiments.style import paper_title, pyplot

__all__ = ["merger_theory"]

PAPER = "van Rossem & Saxe 2025"


def merger_theory(a: dict, cfg) -> dict:
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    t = a["times"]
    for name, color in (("agree", "C0"), ("disagree", "C3")):
        ax[0].plot(t, a[f"{name}_flow"][:, 0], color=color, lw=3, alpha=0.4, label=f"{name}ing: gradient flow (Eq. 14)")
        ax[0].plot(np.linspace(0, t[-1], a[f"{name}_ode"].shape[0]), a[f"{name}_ode"][:, 0], "k--", lw=0.8)
        ax[0].axhline(float(a[f"{name}_final_theory"]), color=color, ls=":", lw=1)
    ax[0].plot([], [], "k--", label="Eq. 20 (RK4)")
    ax[0].plot([], [], "k:", label="Eq. 5 final distance")
    ax[0].set(xlabel="time t", ylabel="squared distance ‖dh‖²", title="midpoint model (Eqs. 4/20, 5)")
    ax[0].legend(fontsize=7)
    ax[1].plot(a["sweep_n"], a["sweep_final"], "o", label="converged flow")
    ax[1].plot(a["sweep_n"], a["sweep_theory"], "k-", lw=1, label="max(0, A_high) (Eqs. 5–6)")
    ax[1].axvline(float(a["n_critical"]), color="k", ls=":", label="N_c (Eq. 7)")
    ax[1].set(xlabel="shared continuations N", ylabel="final ‖dh‖²", title="merger condition, agreeing pair")
    ax[1].legend(fontsize=7)
    ft = a["fixed_times"]
    for name, color in (("agree", "C0"), ("disagree", "C3")):
        flow = a[f"fixed_{name}_flow"]
        d = (flow[:, 1] - flow[:, 0]) ** 2
        ax[2].plot(ft, d / d.max(), color=color, lw=3, alpha=0.4, label=f"{name}ing: flow on Eq. 37")
        ode = a[f"fixed_{name}_ode"]
        do = (ode[:, 1] - ode[:, 0]) ** 2
        ax[2].plot(np.linspace(0, ft[-1], do.size), do / d.max(), "k--", lw=0.8)
    ax[2].plot([], [], "k--", label="Eq. 42 (RK4)")
    ax[2].set(
        xlabel="time (epochs; rates lr·length)",
        ylabel="(h₂ − h₁)² / max",
        title="fixed expansion point, lengths 1 and 10",
    )
    ax[2].legend(fontsize=7)
    paper_title(fig, "parity_merger_theory", f"{PAPER}, Eqs. 4–7, 35, 42; Fig. 10 (left)")
    fig.tight_layout()
    return {"merger_theory": fig}
