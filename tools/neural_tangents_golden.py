"""Regenerate neural-tangents' outputs on the golden inputs and compare them with the committed files.

Run in the oracle environment (``make test-oracle`` builds it and runs this)::

    .venv-oracle/bin/python -m tools.neural_tangents_golden            # compare; exit 1 on any difference
    .venv-oracle/bin/python -m tools.neural_tangents_golden --write    # replace experiments/ntk_permutation/golden/*.npz

See :mod:`experiments.ntk_permutation.oracle` for what the files hold and how they are used.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.neural_tangents_golden",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--write", action="store_true", help="write the fresh values over the committed files")
    parser.add_argument("--folder", default=None, help="golden folder (default: experiments/ntk_permutation/golden)")
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)  # this script's own process: the oracle runs in float64
    from experiments.ntk_permutation import oracle

    if oracle.import_neural_tangents() is None:
        print("error: neural-tangents is not importable in this environment; run: make test-oracle", file=sys.stderr)
        return 2
    fresh = oracle.compute_golden()
    if args.write:
        for path in oracle.write_golden(fresh, args.folder):
            print(f"wrote {path}")
        return 0
    problems = oracle.compare_golden(fresh, args.folder)
    for line in problems:
        print(f"DIFFERS {line}")
    n = sum(len(a) - 1 for a in fresh.values())
    print(f"golden files: {n} arrays regenerated, {len(problems)} differ from the committed files")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
