"""``python -m benchmarks NAME --help`` lists the options of one benchmark."""

import argparse
import sys

from benchmarks import deep_linear, ntk_permutation, streaming_parity, superposition

BENCHMARKS = {
    "deep_linear": deep_linear,
    "ntk_permutation": ntk_permutation,
    "streaming_parity": streaming_parity,
    "superposition": superposition,
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark to run")
    args, rest = parser.parse_known_args(argv)
    return BENCHMARKS[args.name].main(rest)


if __name__ == "__main__":
    sys.exit(main())
