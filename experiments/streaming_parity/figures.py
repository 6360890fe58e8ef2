"""Figures of the streaming-parity experiments, drawn only from the saved arrays and the settings.

Each function takes ``(arrays, cfg)`` as stored in ``arrays.npz`` and ``summary.json`` and returns
``{file stem: Figure}``; ``python -m experiments plot NAME`` redraws them without recomputing.
"""

from __future__ import annotations

import numpy as np

from experiments.style import paper_title, pyplot

__all__ = ["transition", "automaton", "merger"]

PAPER = "van Rossem & Saxe 2025"
#: states of the minimal parity automaton
PARITY_STATES = 2


def transition(a: dict, cfg) -> dict:
    plt = pyplot()
    Ls, frac, n_states = a["train_lengths"], a["fraction_generalising"], a["n_states"]
    ok, L50 = a["perfect"] == 1.0, float(a["transition_L50"])
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].plot(Ls, frac, "o-", label="simulation: fraction generalising")
    ax[0].plot(Ls, a["fraction_fitting"], "s--", alpha=0.6, label="fraction fitting the training set")
    if np.isfinite(L50):
        ax[0].axvline(L50, color="k", ls=":", label=f"transition L50 = {L50:.2f}")
    ax[0].set(
        xlabel="training length L (bits)",
        ylabel=f"fraction perfect on length {cfg.eval_length}",
        ylim=(-0.05, 1.05),
        title="phase transition to infinite generalisation",
    )
    ax[0].legend(fontsize=7)
    for g, L in enumerate(Ls):
        ax[1].scatter(
            np.full(cfg.seeds, L) + np.linspace(-0.15, 0.15, cfg.seeds),
            n_states[:, g],
            c=np.where(ok[:, g], "C2", "C3"),
            s=14,
        )
    ax[1].axhline(PARITY_STATES, color="k", ls=":", label="minimal parity automaton (2)")
    ax[1].set(
        xlabel="training length L (bits)",
        ylabel="states of the minimised automaton",
        yscale="log",
        title="extracted automata (green: generalises)",
    )
    ax[1].legend(fontsize=7)
    paper_title(fig, "parity_transition", f"{PAPER}, Fig. 9, against the training length L")
    fig.tight_layout()
    return {"transition": fig}


def automaton(a: dict, cfg) -> dict:
    plt = pyplot()
    L, steps, gen = cfg.train_length, a["steps"], a["perfect"] == 1.0
    n_prefixes = 2 ** (L + 1) - 1
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    for s in range(cfg.seeds):
        ax[0].plot(steps, a["n_states"][s], lw=1.2, label=f"seed {s}" + (" (generalises)" if gen[s] else ""))
        ax[1].semilogy(steps, a["loss"][s], lw=1)
    ax[0].axhline(2, color="k", ls=":", label="parity automaton (2 states)")
    ax[0].set(
        xlabel="training step",
        ylabel="states (minimised automaton)",
        yscale="log",
        title=f"automaton extracted from {n_prefixes} prefixes, L={L}",
    )
    ax[0].legend(fontsize=6)
    ax[1].set(xlabel="training step", ylabel="training loss (MSE)", title="training loss")
    paper_title(fig, "parity_automaton", f"{PAPER}, Fig. 4")
    fig.tight_layout()
    return {"automaton_states": fig}


def merger(a: dict, cfg) -> dict:
    plt = pyplot()
    counts, times, sim_h, n_c = a["counts"], a["times"], a["sim_h"], float(a["n_critical"])
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, n in enumerate(counts):
        ax[0].plot(times, sim_h[i], lw=2, alpha=0.5, color=f"C{i}")
        ax[0].plot(times, a["theory_h"][i], "k--", lw=0.8)
        ax[0].plot([], [], color=f"C{i}", label=f"N={n}")
    ax[0].plot([], [], "k--", label="closed form")
    ax[0].set(
        xlabel="time (reduced gradient flow)",
        ylabel="squared distance h",
        title=f"reduced merger dynamics, N_c={n_c:.1f}",
    )
    ax[0].legend(fontsize=6)
    ax[1].plot(a["curve_N"], a["curve_final_h"], "k-", label="theory max(0, 1−N/N_c)")
    ax[1].plot(counts, sim_h[:, -1] / cfg.h0, "o", label="simulation")
    ax[1].set(xlabel="shared continuations N", ylabel="h∞ / h0", title="merger condition")
    ax[1].legend(fontsize=7)
    N_by_m, final_by_m, perfect = (
        a["rnn_continuations_by_prefix_length"],
        a["rnn_distance_ratio_by_prefix_length"],
        a["rnn_perfect"],
    )
    for s in range(cfg.seeds):
        ax[2].plot(N_by_m, final_by_m[s], "o-", label=f"RNN seed {s}" + (" (gen.)" if perfect[s] == 1 else ""))
    ax[2].set(
        xscale="log",
        yscale="log",
        xlabel="shared continuations N = 2^(L−m+1)−1 (m = longer prefix)",
        ylabel="median h_end / h_start (agreeing pairs)",
        title=f"trained RNNs, L={cfg.train_length}",
    )
    ax[2].axhline(1, color="k", ls=":", lw=0.8)
    ax[2].legend(fontsize=6)
    fig.tight_layout()
    return {"merger": fig}
