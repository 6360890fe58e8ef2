"""Notebook display: run (or reuse) an experiment, then show its checks as a table and its figures inline.

Every family notebook starts with::

    from experiments.notebook import show
    summary = show(NAME)  # one of `python -m experiments list`

``show`` uses the quick size unless told ``quick=False`` (notebooks read it from an environment variable with
:func:`quick_size`), and the results folder ``RESULTS_DIR`` (default ``../results``, the repository's
``results/`` seen from ``notebooks/``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["show", "checks_table", "results_dir", "quick_size"]


def results_dir() -> Path:
    """``$RESULTS_DIR`` or ``../results``."""
    return Path(os.environ.get("RESULTS_DIR", "../results"))


def quick_size(variable: str = "FULL") -> bool:
    """Quick size unless the environment variable ``variable`` is ``1``."""
    return os.environ.get(variable, "0") != "1"


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def checks_table(summary: dict) -> str:
    """Markdown: a header line (name, size, runtime, description) and one row per check."""
    rows = [
        f"**{summary['experiment']}** ({summary['size']}, {summary['runtime_s']:.1f} s): {summary['description']}",
        "",
        "| check | value | tolerance | result |",
        "|---|---|---|---|",
    ]
    for c in summary["checks"]:
        mark = "pass" if c["passed"] else "**FAIL**"
        rows.append(f"| {c['name']} | {_fmt(c['value'])} | {_fmt(c['tolerance'])} | {mark} |")
    return "\n".join(rows)


def show(name: str, *, quick: bool | None = None, out_dir=None, **run_kw) -> dict:
    """Run (or reuse a finished) experiment, display its checks and figures, and return its summary."""
    from IPython.display import Image, Markdown, display

    from experiments import run_experiment

    out = Path(out_dir) if out_dir is not None else results_dir()
    summary = run_experiment(name, quick=quick_size() if quick is None else quick, out_dir=out, **run_kw)
    display(Markdown(checks_table(summary)))
    for fig in summary["figures"]:
        display(Image(filename=str(out / name / fig)))
    return summary
