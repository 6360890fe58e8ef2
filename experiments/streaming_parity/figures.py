"""Figures of the streaming-parity experiments, drawn only from the saved arrays and the settings.

Each function takes ``(arrays, cfg)`` as stored in ``arrays.npz`` and ``summary.json`` and returns
``{file stem: Figure}``; ``python -m experiments plot NAME`` redraws them without recomputing. Titles name the
paper figure each panel reproduces (van Rossem & Saxe 2025).
"""

from __future__ import annotations

import numpy as np

from experiments.style import paper_title, pyplot

__all__ = ["merger_theory", "training", "merger_map", "pair_dynamics", "phase_diagram"]

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


def _draw_automaton(ax, transitions, outputs, initial):
    """A small Moore machine on a circle: states coloured by output, arrows labelled by the input bit."""
    k = int(np.sum(outputs >= 0)) or int(np.sum(transitions[:, 0] >= 0))
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False) + np.pi / 2
    pos = np.stack([np.cos(ang), np.sin(ang)], 1) * (0.0 if k == 1 else 1.0)
    for q in range(k):
        for bit in (0, 1):
            r = int(transitions[q, bit])
            if r < 0 or r >= k:
                continue
            if r == q:
                ax.annotate(f"{bit}", pos[q] + [0, 0.45 if bit else -0.45], ha="center", va="center", fontsize=9)
                continue
            bend = 0.25 if bit else -0.25
            ax.annotate(
                "",
                xy=pos[r],
                xytext=pos[q],
                arrowprops=dict(arrowstyle="->", lw=1.2, shrinkA=16, shrinkB=16, connectionstyle=f"arc3,rad={bend}"),
            )
            mid = (pos[q] + pos[r]) / 2 + bend * np.array([-(pos[r] - pos[q])[1], (pos[r] - pos[q])[0]])
            ax.annotate(f"{bit}", mid, ha="center", va="center", fontsize=9)
    for q in range(k):
        color = "C0" if outputs[q] == 0 else "C1"
        ax.add_patch(pyplot().Circle(pos[q], 0.22, color=color, alpha=0.8, lw=3 if q == initial else 0, ec="k"))
        ax.annotate(f"out {outputs[q]}", pos[q], ha="center", va="center", fontsize=8, color="w")
    ax.set(xlim=(-1.8, 1.8), ylim=(-1.8, 1.8), aspect="equal", xticks=[], yticks=[])


def training(a: dict, cfg) -> dict:
    plt = pyplot()
    ep = a["epochs"]
    fig, ax = plt.subplots(1, 4, figsize=(18, 4))
    for s in range(a["loss"].shape[0]):
        ax[0].semilogy(ep, a["loss"][s], color="k", lw=1, alpha=0.7, label="training (all seeds)" if s == 0 else None)
    for v, T in enumerate(cfg.val_lengths):
        ax[0].semilogy(ep, a["val_loss"][0, :, v], lw=1, label=f"validation, length {T} (seed 0)")
    ax[0].set(xlabel="epoch", ylabel="MSE", title="loss to zero at every length (Figs. 1, 6)")
    ax[0].legend(fontsize=6)
    n_seq = a["n_states"].shape[-1] if a["n_states"].ndim > 2 else 2 ** (cfg.train_length + 1) - 1
    for s in range(a["n_states"].shape[0]):
        ax[1].plot(ep, a["n_states"][s] / n_seq, lw=1, label=f"seed {s}")
    ax[1].set(xlabel="epoch", ylabel=f"states / {n_seq} sequences", yscale="log", title="automaton states (Fig. 4)")
    ax[1].legend(fontsize=6)
    for s in range(a["mean_distance"].shape[0]):
        ax[2].plot(ep, a["mean_distance"][s], lw=1)
    ax[2].set(xlabel="epoch", ylabel="mean pairwise distance", title="no contraction (Fig. 12)")
    _draw_automaton(ax[3], a["min_transitions"][0], a["min_outputs"][0], int(a["min_initial"][0]))
    ax[3].set_title(f"seed 0, minimised: {int(a['final_min_states'][0])} states (Fig. 8)")
    paper_title(fig, "parity_training", f"{PAPER}, Figs. 1, 4, 6, 8, 12")
    fig.tight_layout()
    return {"training": fig}


def _length_map(ax, fig, m, title, vmax=None):
    L = m.shape[0]
    im = ax.imshow(m, origin="lower", extent=(0.5, L + 0.5, 0.5, L + 0.5), vmin=0, vmax=vmax, cmap="viridis")
    ax.set(xlabel="length m₂", ylabel="length m₁", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046)


def merger_map(a: dict, cfg) -> dict:
    plt = pyplot()
    fig, ax = plt.subplots(1, 4, figsize=(19, 4))
    held = a["eq9_map"][1:].mean(axis=0)
    vmax = float(max(np.nanmax(a["measured_map"].mean(axis=0)), np.nanmax(held)))
    _length_map(
        ax[0], fig, a["measured_map"].mean(axis=0), f"measured: agreeing pairs merged (Fig. 7), {cfg.seeds} nets", vmax
    )
    _length_map(ax[1], fig, held, "Eq. 9 at initialisation (θ from net 0), held out", vmax)
    _length_map(ax[2], fig, a["kernel_map"], "Eq. 6, kernel rates at initialisation (net 0)", 1.0)
    k = np.arange(a["dh2_by_suffix"].size)
    ax[3].semilogy(k, a["dh2_by_suffix"], "o", label="measured (median over pairs)")
    G = float(np.mean(a["G_map"]))
    ax[3].semilogy(k, float(a["c_h"]) * G**k, "k--", lw=1, label=f"c·G^k, G = {G:.2g} from the recurrent map")
    ax[3].set(
        xlabel="common suffix k (steps since the sequences last differed)",
        ylabel="‖dh(0)‖² at initialisation",
        title="Eq. 8: initial distances shrink as G^k",
    )
    ax[3].legend(fontsize=7)
    paper_title(fig, "parity_merger_map", f"{PAPER}, Fig. 7, Eqs. 6–9")
    fig.tight_layout()
    return {"merger_map": fig}


def pair_dynamics(a: dict, cfg) -> dict:
    plt = pyplot()
    fig, ax = plt.subplots(1, 5, figsize=(23, 4))
    _length_map(ax[0], fig, a["fig14"], "measured: mergers that first diverged (Fig. 14)", 1.0)
    _length_map(ax[1], fig, a["model_fig14"], "Eq. 42, rates lr·length (Eq. 51)", 1.0)
    ep = a["epochs"]
    for s in range(a["above_agree"].shape[0]):
        ax[2].plot(ep, a["above_agree"][s], color="C0", lw=1, label="agreeing" if s == 0 else None)
        ax[2].plot(ep, a["above_disagree"][s], color="C3", lw=1, label="disagreeing" if s == 0 else None)
    ax[2].set(
        xlabel="epoch", ylabel="fraction of pairs above the threshold", title="pairs apart over training (Fig. 15)"
    )
    ax[2].legend(fontsize=7)
    ex = a["example"][0]
    for k, (name, color) in enumerate((("agreeing, merges", "C0"), ("disagreeing", "C3"))):
        ax[3].plot(ep, ex[k] ** 2 / np.max(ex[k] ** 2), color=color, label=name)
    ax[3].set(xlabel="epoch", ylabel="squared distance / its maximum", title="two pairs of network 0 (Fig. 10 right)")
    ax[3].legend(fontsize=7)
    dm = np.arange(a["trend"].size)
    model_dm = [np.nanmean([a["model_fig14"][r, r + k] for r in range(dm.size - k)]) for k in dm]
    ax[4].plot(dm, a["trend"], "o-", color="k", label="measured, all merging pairs")
    ax[4].plot(dm, model_dm, "s--", color="C2", label="Eq. 42, random starts, rates lr·length")
    ax[4].plot(dm, a["start_trend_model"], "^:", color="C1", label="Eq. 42 from the measured initial states")
    ax[4].set(
        xlabel="|m₁ − m₂|",
        ylabel="mergers that first diverged",
        ylim=(-0.05, 1.05),
        title="Fig. 14 by length difference",
    )
    ax[4].legend(fontsize=6)
    paper_title(fig, "parity_pair_dynamics", f"{PAPER}, Figs. 10, 14, 15; Eqs. 42, 51")
    fig.tight_layout()
    return {"pair_dynamics": fig, "linearisation": _linearisation(a, cfg)}


def _linearisation(a: dict, cfg):
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ep = a["lin_epochs"]
    for s in range(a["lin_ratio_merged"].shape[0]):
        ax[0].plot(ep, a["lin_ratio_merged"][s], color="C0", lw=1, label="pairs that end merged" if s == 0 else None)
        ax[0].plot(ep, a["lin_ratio_apart"][s], color="C3", lw=1, label="pairs that end apart" if s == 0 else None)
    ax[0].axhline(0.1, color="k", ls=":", lw=1, label="0.1 (App. D.2)")
    ax[0].set(
        xlabel="epoch",
        ylabel="‖remainder‖ / ‖first-order term‖ (mean over pairs)",
        yscale="log",
        title="linearisation of the output maps (Fig. 13)",
    )
    ax[0].legend(fontsize=7)
    bins = np.linspace(-8, 3, 45)
    ax[1].hist(a["lin_log_eq20"], bins=bins, color="C2", alpha=0.6, label="Eq. 20, kernel rates")
    ax[1].hist(a["lin_log_own"], bins=bins, color="C1", alpha=0.6, label="the pair's own loss, exact")
    ax[1].axvline(0.0, color="k", lw=1)
    ax[1].set(
        xlabel="log10 |predicted| / |measured| change of ‖dh‖²",
        ylabel="intervals (agreeing pairs)",
        title=f"Eq. 20 where the ratio ≤ {cfg.valid_ratio:g}",
    )
    ax[1].legend(fontsize=7)
    paper_title(fig, "parity_pair_dynamics", f"{PAPER}, App. D.2, Fig. 13; Eq. 20")
    fig.tight_layout()
    return fig


def phase_diagram(a: dict, cfg) -> dict:
    plt = pyplot()
    g, p = a["gains"], a["fractions"]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    kw = dict(origin="upper", aspect="auto", extent=(-0.5, p.size - 0.5, g.size - 0.5, -0.5))
    for k, (key, title, cmap) in enumerate(
        (
            ("n_states", "states at convergence (Fig. 9 left)", "viridis"),
            ("val_acc", "validation accuracy (Fig. 9 right)", "viridis"),
        )
    ):
        im = ax[k].imshow(a[key], cmap=cmap, **kw)
        fig.colorbar(im, ax=ax[k], fraction=0.046)
        ax[k].set_title(title)
    im = ax[2].imshow(a["predicted"].astype(float), cmap="viridis", vmin=0, vmax=1, **kw)
    ax[2].set_title("theory: A_high < 0 at init., tree closed (1 = parity)")
    for axis in ax:
        axis.set_xticks(range(p.size), [f"{x:.2g}" for x in p], rotation=45)
        axis.set_yticks(range(g.size), [f"{x:.2g}" for x in g])
        axis.set(xlabel="training data fraction", ylabel="initial weight scale (gain)")
    for (r, c), done in np.ndenumerate(a["done"]):
        if not done:
            ax[1].text(c, r, "×", ha="center", va="center", color="w")
    paper_title(fig, "parity_phase_diagram", f"{PAPER}, Fig. 9 (× = not converged)")
    fig.tight_layout()
    return {"phase_diagram": fig}
