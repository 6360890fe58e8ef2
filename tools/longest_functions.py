"""Lines per layer and the longest functions: ``python -m tools.longest_functions [--over N] [PATH ...]``.

Counts non-blank lines per top-level package and the length (first to last line, decorators excluded) of every
function, nested ones included; prints the layer totals and every function longer than ``--over`` (default 60).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

LAYERS = ("theory", "toymodels", "experiments", "benchmarks", "tests", "tools")


def functions(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="*", default=list(LAYERS), help="folders or files (default: every layer)")
    p.add_argument("--over", type=int, default=60, help="list functions longer than this many lines (default 60)")
    args = p.parse_args(argv)
    rows = []
    for root in map(Path, args.paths):
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        lines = sum(sum(1 for ln in f.read_text().splitlines() if ln.strip()) for f in files)
        print(f"{str(root):<14} {len(files):3d} files {lines:6d} non-blank lines")
        rows += [(n, f, name, line) for f in files for name, line, n in functions(f)]
    rows.sort(reverse=True)
    print(f"\nfunctions longer than {args.over} lines:")
    for n, f, name, line in rows:
        if n > args.over:
            print(f"  {n:4d}  {f}:{line}  {name}")
    if rows:
        n, f, name, line = rows[0]
        print(f"longest: {name} ({f}:{line}), {n} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
