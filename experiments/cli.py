"""Command line of the experiment contract (``python -m experiments --help``)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from experiments.contract import (
    ConfigError,
    RunContext,
    describe_config,
    ensure_writable,
    get,
    plot_experiment,
    run_experiment,
    write_report,
)
from theory.common import ParameterError

EPILOG = """\
examples:
  python -m experiments list
  python -m experiments describe NAME                    # its settings: quick and full values, ranges
  python -m experiments run all --quick                 # every experiment at CI size, writes results/report.md
  python -m experiments run NAME --set lr=5e-4 --set model.hidden=64   # override settings; nested keys dotted
  python -m experiments run all --host-devices 2 --max-batch 64   # 2 CPU devices, sweeps in chunks of 64
  python -m experiments plot NAME                        # redraw results/NAME/*.png from its arrays.npz

exit status: 0 all checks passed, 1 some check failed, 2 bad arguments.
"""


PROG = "python -m experiments"


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line instead of usage + traceback."""

    def error(self, message):  # noqa: D401
        print(f"error: {message} (see: {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Run toy-model simulations side by side with their closed-form theory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p.set_defaults(_subparsers=sub.choices)
    sub.add_parser("list", help="list every registered experiment with a one-line description")
    d = sub.add_parser("describe", help="show an experiment's settings (quick and full values)")
    d.add_argument("name", help="experiment name (see list)")
    r = sub.add_parser(
        "run",
        help="run one experiment, or all, and write results and report",
        description="Run simulation and theory, write OUT/NAME/{summary.json, *.png, arrays.npz} "
        "and OUT/report.md. Finished runs with the same settings are skipped.",
    )
    r.add_argument("name", help="experiment name, or 'all'")
    r.add_argument(
        "--quick", action="store_true", help="use the quick (CI-sized) settings instead of the full, paper-scale ones"
    )
    r.add_argument("--out", default="results", metavar="DIR", help="output folder (default: results/)")
    r.add_argument("--seed", type=_nonneg_int, default=0, metavar="N", help="PRNG seed, an integer >= 0 (default 0)")
    r.add_argument("--force", action="store_true", help="rerun even if a finished run with the same settings exists")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one setting (Python literal), repeatable; see 'describe NAME' for the keys",
    )
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_scale_out(r)
    _add_plot(sub)
    return p


def _add_plot(sub) -> None:
    pl = sub.add_parser(
        "plot",
        help="redraw a finished experiment's figures from its saved arrays (no recomputation)",
        description="Redraw the figures of OUT/NAME from OUT/NAME/arrays.npz and the settings in "
        "OUT/NAME/summary.json; nothing is recomputed.",
    )
    pl.add_argument("name", help="experiment name, or 'all' (every finished experiment under --out)")
    pl.add_argument("--out", default="results", metavar="DIR", help="the run's output folder (default: results/)")
    pl.add_argument(
        "--to", default=None, metavar="DIR", help="write the figures here (with 'all': DIR/NAME/; default: OUT/NAME/)"
    )


def _add_scale_out(r) -> None:
    scale = r.add_argument_group("scale-out (see README, 'Scaling out')")
    scale.add_argument(
        "--devices",
        default="auto",
        type=_devices,
        metavar="N|auto",
        help="devices each ensemble is sharded over: 'auto' = every local device (default), or N",
    )
    scale.add_argument(
        "--host-devices",
        type=_pos_int,
        default=None,
        metavar="N",
        help="split a CPU host into N XLA devices (one per core gives each core its own block of "
        "models); default: one CPU device",
    )
    scale.add_argument(
        "--max-batch",
        type=_pos_int,
        default=None,
        metavar="N",
        help="models per sweep chunk: bounds peak memory; chunks stream to OUT/NAME/sweeps/ and an "
        "interrupted run resumes at the next chunk (default: sized from --memory-budget)",
    )
    scale.add_argument(
        "--memory-budget",
        type=float,
        default=None,
        metavar="GB",
        help="memory one sweep chunk may use when --max-batch is not given (default: half the "
        "memory available at start)",
    )
    scale.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host run: call jax.distributed.initialize() (detects SLURM and Open MPI from "
        "their environment variables; or give --coordinator/--num-processes/--process-id); "
        "each host computes its share of every sweep, host 0 merges and writes",
    )
    scale.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="address of process 0 (multi-host)")
    scale.add_argument("--num-processes", type=_pos_int, default=None, metavar="P", help="processes in all")
    scale.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, 0 <= I < P")


def _int_at_least(minimum: int, what: str = "expected an integer"):
    """argparse type: an integer >= ``minimum``, else the one-line message '<what> >= minimum; got …'."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} >= {minimum}; got {value}")
        return value

    return parse


_pos_int = _int_at_least(1)
_nonneg_int = _int_at_least(0, "seed must be an integer")


def _devices(text: str):
    return "auto" if text == "auto" else _pos_int(text)


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE; got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader closed the pipe (e.g. `describe NAME | head -1`): stop quietly, as Unix tools do. Point
        # stdout at /dev/null so that the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the status a shell reports for a tool ended by a closed pipe


def _main(argv: list[str] | None) -> int:
    args, extra = _parser().parse_known_args(argv)
    if extra:  # reported by the subcommand's parser, so that the hint names its --help
        parser = args._subparsers.get(args.command) if args.command else None
        (parser or _parser()).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command in (None,):
            _parser().print_help()
            return 0
        if args.command == "list":
            from experiments import load_all

            registry = load_all()
            width = max(len(n) for n in registry)
            for name in sorted(registry):
                print(f"{name.ljust(width)}  {registry[name].description}")
            return 0
        if args.command == "describe":
            print(describe_config(get(args.name)))
            return 0
        if args.command == "plot":
            return _plot(args)
        return _run(args)
    except (ConfigError, ParameterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished experiments are saved; rerun the same command to resume", file=sys.stderr)
        return 130


def _plot(args) -> int:
    from experiments import load_all
    from experiments.contract import load_summary

    if args.name == "all":
        names = [n for n, e in sorted(load_all().items()) if e.figures and load_summary(args.out, n)]
        if not names:
            raise ConfigError(f"no finished experiment with figures under {args.out!r}")
    else:
        names = [get(args.name).name]
    for name in names:
        to = None if args.to is None else (args.to if len(names) == 1 else os.path.join(args.to, name))
        for path in plot_experiment(name, args.out, to):
            print(path)
    return 0


def _scale_out(args) -> None:
    """Devices and multi-host set-up; runs before JAX creates its backend."""
    from toymodels.sharding import configure, local_devices

    configure(host_devices=args.host_devices)
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if args.distributed or any(v is not None for v in explicit):
        import jax

        jax.distributed.initialize(
            coordinator_address=args.coordinator, num_processes=args.num_processes, process_id=args.process_id
        )
    local_devices(args.devices)  # a --devices above the local device count fails here, before any experiment
    configure(devices=args.devices)


def _run(args) -> int:
    _scale_out(args)  # first: before anything creates the JAX backend
    from experiments import load_all

    overrides = _overrides(args.overrides)
    names = sorted(load_all()) if args.name == "all" else [get(args.name).name]
    if args.name == "all" and overrides:
        raise ConfigError("--set applies to one experiment; name it instead of 'all'")
    # validate every config before running anything, so a bad setting fails fast
    for name in names:
        get(name).config(args.quick, overrides)
    budget = None if args.memory_budget is None else args.memory_budget * 2**30
    if budget is not None and budget <= 0:
        raise ConfigError(f"--memory-budget must be > 0 GB; got {args.memory_budget}")
    import jax

    if jax.process_index() == 0:
        ensure_writable(args.out)  # before any compute: an unwritable --out fails here, in one line
    ctx = RunContext(progress=False if args.no_progress else None, max_batch=args.max_batch, memory_budget=budget)
    t0 = time.perf_counter()
    summaries = []
    for n in names:
        summaries.append(
            run_experiment(
                n, out_dir=args.out, quick=args.quick, seed=args.seed, force=args.force, overrides=overrides, ctx=ctx
            )
        )
        # each experiment compiles its own functions; dropping them keeps one process running every experiment
        # below the kernel's limit on memory mappings (vm.max_map_count), which XLA's compiled code counts against
        jax.clear_caches()
    if jax.process_index() != 0:  # multi-host: host 0 merges the shards and writes the report
        return 0
    report = write_report(args.out)
    failed = [(s["experiment"], c["name"]) for s in summaries for c in s["checks"] if not c["passed"]]
    n_checks = sum(len(s["checks"]) for s in summaries)
    print(
        f"{len(summaries)} experiment(s), {n_checks} checks, {len(failed)} failed, "
        f"{time.perf_counter() - t0:.1f} s; report: {report}"
    )
    for exp, check in failed:
        print(f"FAILED {exp}: {check}")
    for s in summaries:
        if s.get("warning"):
            print(f"WARNING {s['experiment']}: {s['warning']}")
    return 1 if failed else 0
