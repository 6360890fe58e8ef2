"""``python -m benchmarks NAME --help`` lists the options of one benchmark.

Every module of this package with a ``main(argv)`` is a benchmark (one per family, named after it), so a new
family's benchmark is found without editing a list here.
"""

import argparse
import importlib
import pkgutil
import sys

import benchmarks

_HELPERS = {"timing"}


def available() -> dict:
    """``{name: module}`` of every benchmark module (those defining ``main``)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _HELPERS:
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if callable(getattr(module, "main", None)):
            found[info.name] = module
    return found


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    found = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=sorted(found), help="which benchmark to run")
    if argv and argv[0] in found:  # NAME --help is the benchmark's own help, not this one
        return found[argv[0]].main(argv[1:])
    parser.parse_args(argv)  # no or unknown NAME: usage, or the one-line choice error
    return 2


if __name__ == "__main__":
    sys.exit(main())
