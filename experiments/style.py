"""One matplotlib style for every figure of the toolkit, and the paper reference in each figure's title."""

from __future__ import annotations

__all__ = ["STYLE", "pyplot", "paper_title"]

#: rcParams applied to every figure the experiments draw
STYLE = {
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.6,
    "savefig.bbox": "tight",
}


def pyplot():
    """matplotlib's pyplot on the headless Agg backend with :data:`STYLE` applied (imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def paper_title(fig, experiment: str, reference: str) -> None:
    """Figure suptitle naming the experiment and the paper figure it reproduces, e.g. ``"Saxe et al. 2014, Fig. 3"``."""
    fig.suptitle(f"{experiment} ({reference})", fontsize=10)
