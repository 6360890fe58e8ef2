"""The experiment contract shared by every family.

An experiment is a function ``run(config, seed, ctx) -> Result`` registered with :func:`register`
together with a frozen dataclass of its settings (a quick size for CI and a full, paper-scale size).
:func:`run_experiment` runs it and writes, under ``OUT/NAME/``:

* ``summary.json``: name, description, full config, its hash, seed, size, package versions, device,
  runtime and ``checks`` (each ``{name, value, tolerance, passed, description}``), written last;
* one PNG per figure (simulation and theory overlaid) and ``arrays.npz`` with the raw arrays.

Every file is written atomically (temporary file in the same folder, then ``os.replace``). A run whose
``summary.json`` already holds the same hash (experiment, config, seed and source code) is skipped unless
``force``; an interrupted
``run all`` therefore resumes at the first unfinished experiment. :func:`write_report` collects all
summaries into ``OUT/report.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from experiments import settings as _settings
from experiments.settings import ConfigError, apply_overrides, setting
from experiments.style import pyplot

__all__ = [
    "Check",
    "ConfigError",
    "Result",
    "RunContext",
    "Experiment",
    "REGISTRY",
    "register",
    "get",
    "run_experiment",
    "write_report",
    "plot_experiment",
    "setting",
    "apply_overrides",
    "atomic_write_bytes",
    "atomic_write_json",
    "config_hash",
    "describe_config",
    "ensure_writable",
    "stack_versions",
]

SCHEMA_VERSION = 1


# ----------------------------------------------------------------------------------------------
# checks and results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One comparison of a simulated quantity with its closed-form prediction."""

    name: str
    value: float
    tolerance: float
    passed: bool
    description: str

    @classmethod
    def at_most(cls, name: str, value, tolerance, description: str) -> Check:
        """Passes when ``value <= tolerance`` (e.g. an error below its derived bound). NaN fails."""
        value, tolerance = float(value), float(tolerance)
        return cls(name, value, tolerance, bool(value <= tolerance), description)

    @classmethod
    def at_least(cls, name: str, value, tolerance, description: str) -> Check:
        """Passes when ``value >= tolerance`` (e.g. a ratio that must exceed a threshold). NaN fails."""
        value, tolerance = float(value), float(tolerance)
        return cls(name, value, tolerance, bool(value >= tolerance), description)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "tolerance": _json_float(self.tolerance),
            "passed": self.passed,
            "description": self.description,
        }


def _json_float(x: float):
    return x if math.isfinite(x) else str(x)


@dataclass
class Result:
    """What an experiment returns: checks, raw arrays, figures (matplotlib) and free-form metrics."""

    checks: list[Check]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    """Passed to experiments: progress display, a logger, and how sweeps are chunked (:mod:`experiments.sweep`).

    ``max_batch``: items per sweep chunk (``--max-batch``; ``None``: automatic or whole). ``memory_budget``:
    bytes a chunk may use when sized automatically (``None``: half the available memory). ``work_dir``: where
    chunks stream to (set by :func:`run_experiment` to ``OUT/NAME/sweeps/<config hash>``). ``wait_timeout``:
    seconds a host waits for the other hosts' chunks.
    """

    progress: bool | None = None
    verbose: bool = True
    max_batch: int | None = None
    memory_budget: float | None = None
    work_dir: Path | None = None
    wait_timeout: float = 24 * 3600.0

    def log(self, message: str) -> None:
        if self.verbose:
            print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``run(config, seed, ctx) -> Result`` and ``figures(arrays, config) -> {name: fig}``.

    ``quick``/``full`` build the two sizes; by default they come from the settings' declarations
    (:func:`experiments.settings.quick` / :func:`experiments.settings.full`).
    """

    name: str
    description: str
    config_type: type
    run: Callable[[Any, int, RunContext], Result]
    figures: Callable[[dict, Any], dict] | None = None
    quick: Callable[[], Any] | None = None
    full: Callable[[], Any] | None = None
    slow: bool = False

    def sized(self, quick: bool):
        """The quick or the full settings instance, before overrides."""
        make = self.quick if quick else self.full
        if make is not None:
            return make()
        return (_settings.quick if quick else _settings.full)(self.config_type)

    def config(self, quick: bool, overrides: dict[str, str] | None = None):
        cfg = apply_overrides(self.sized(quick), overrides or {})
        _settings.validate(cfg)
        return cfg


REGISTRY: dict[str, Experiment] = {}


def register(
    name: str,
    description: str,
    config_type: type,
    *,
    figures: Callable[[dict, Any], dict] | None = None,
    quick: Callable[[], Any] | None = None,
    full: Callable[[], Any] | None = None,
    slow: bool = False,
):
    """Decorator registering ``run(config, seed, ctx) -> Result`` under ``name``.

    ``figures(arrays, config)`` draws the experiment's figures from the saved arrays alone, so that
    ``python -m experiments plot NAME`` can redraw them without recomputing. ``slow``: the quick size takes
    minutes, so its test runs with the slow tests (``make test-slow-experiments``), not in ``make test``.
    """

    def deco(fn):
        if name in REGISTRY:
            raise RuntimeError(f"experiment {name!r} registered twice")
        REGISTRY[name] = Experiment(name, description, config_type, fn, figures, quick, full, slow)
        return fn

    return deco


def get(name: str) -> Experiment:
    from experiments import load_all

    load_all()
    if name not in REGISTRY:
        raise ConfigError(f"unknown experiment {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


# ----------------------------------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------------------------------
def config_dict(cfg) -> dict:
    return _settings.to_dict(cfg)


_CODE_HASH: str | None = None


def code_fingerprint() -> str:
    """Hash of the toolkit's source (theory/, toymodels/, experiments/): a code change invalidates old results."""
    global _CODE_HASH
    if _CODE_HASH is None:
        root = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256()
        for pkg in ("theory", "toymodels", "experiments"):
            for path in sorted((root / pkg).rglob("*.py")):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
        _CODE_HASH = digest.hexdigest()[:16]
    return _CODE_HASH


#: packages whose versions are part of a run's identity (an upgrade of any of them reruns the experiment)
NUMERICAL_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "flax", "optax", "chex", "neural-tangents")


def stack_versions() -> dict[str, str | None]:
    """Installed versions of :data:`NUMERICAL_PACKAGES` and of Python (``None``: not installed)."""
    versions = {}
    for pkg in NUMERICAL_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions["python"] = platform.python_version()
    return versions


def config_hash(name: str, cfg, seed: int) -> str:
    """Identity of a run (what ``--force`` overrides): experiment, full config, seed, code fingerprint and the
    versions of the numerical stack (:func:`stack_versions`), so a result computed with other releases of jax,
    numpy, … is recomputed rather than reused."""
    blob = json.dumps(
        {
            "experiment": name,
            "config": config_dict(cfg),
            "seed": seed,
            "schema": SCHEMA_VERSION,
            "code": code_fingerprint(),
            "versions": stack_versions(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def describe_config(exp: Experiment) -> str:
    """Human-readable table of an experiment's settings (for ``--help``-style output)."""
    if exp.quick is None and exp.full is None:
        return _settings.describe(exp.name, exp.description, exp.config_type)
    quick, full = exp.sized(True), exp.sized(False)
    lines = [f"{exp.name}: {exp.description}", "", "settings (override with --set KEY=VALUE):"]
    full_values = {k: v for k, _, v in _settings.flat_items(full)}
    for key, f, value in _settings.flat_items(quick):
        lines.append(f"  {key}  quick={value!r}  full={full_values[key]!r}")
        if f.metadata.get("help"):
            lines.append(f"      {f.metadata['help']}")
    return "\n".join(lines)


def ensure_writable(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and prove it writable (a probe file); :class:`ConfigError` in one line if not."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        message = f"output folder {str(path)!r} cannot be written ({reason}); choose another with --out"
        raise ConfigError(message) from None
    return path


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition``."""
    if not condition:
        raise ConfigError(message)


# ----------------------------------------------------------------------------------------------
# atomic files
# ----------------------------------------------------------------------------------------------
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _atomic_npz(path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def _atomic_png(path, fig) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------
def environment() -> dict:
    import jax

    versions = stack_versions()
    try:
        versions["matplotlib"] = metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        versions["matplotlib"] = None
    dev = jax.devices()[0]
    device = {
        "platform": dev.platform,
        "device_kind": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "x64": bool(jax.config.jax_enable_x64),
    }
    return {"versions": versions, "device": device}


def summary_path(out_dir, name: str) -> Path:
    return Path(out_dir) / name / "summary.json"


def load_summary(out_dir, name: str) -> dict | None:
    path = summary_path(out_dir, name)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_experiment(
    name: str,
    *,
    out_dir: str | os.PathLike = "results",
    quick: bool = False,
    seed: int = 0,
    force: bool = False,
    overrides: dict[str, str] | None = None,
    ctx: RunContext | None = None,
) -> dict:
    """Run one registered experiment and write its outputs; return the summary dict.

    Skips (returning the stored summary with ``"skipped": True``) when ``OUT/NAME/summary.json``
    holds the same hash (experiment, config, seed, source code, numerical package versions), unless ``force``.
    JAX's 64-bit mode is on during the run and restored afterwards. Raises :class:`ConfigError` before any
    computation when a setting is invalid or ``out_dir`` cannot be written.
    """
    from theory.common import enable_float64

    # Closed-form comparisons are made in float64, scoped to this call: the caller's x64 setting is left as it was.
    with enable_float64():
        return _run_experiment(name, out_dir=out_dir, quick=quick, seed=seed, force=force, overrides=overrides, ctx=ctx)


def _run_experiment(name: str, *, out_dir, quick: bool, seed: int, force: bool, overrides, ctx) -> dict:
    import jax

    ctx = ctx or RunContext()
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}")
    exp = get(name)
    cfg = exp.config(quick, overrides)
    if jax.process_index() == 0:
        ensure_writable(out_dir)
    digest = config_hash(name, cfg, seed)
    out = Path(out_dir) / name
    previous = load_summary(out_dir, name)
    if previous and previous.get("config_hash") == digest and not force:
        ctx.log(f"[{name}] up to date (config {digest}); skipping (use --force to rerun)")
        return {**previous, "skipped": True}

    ctx.log(f"[{name}] running ({'quick' if quick else 'full'} size, seed {seed})")
    ctx = dataclasses.replace(ctx, work_dir=out / "sweeps" / digest)
    _prune_sweeps(out / "sweeps", keep=None if force else digest)
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    from toymodels.common import divergence_monitor

    with divergence_monitor() as diverged:
        result = exp.run(cfg, seed, ctx)
    runtime = time.perf_counter() - t0
    warning = None
    if diverged:
        warning = diverged[0] + (f" (and {len(diverged) - 1} more training runs)" if len(diverged) > 1 else "")
        ctx.log(f"[{name}] WARNING {warning}")
    writer = jax.process_index() == 0  # multi-host: every host computes its share, host 0 writes
    figures = _write_outputs(exp, cfg, result, out, writer)
    run = {"size": "quick" if quick else "full", "seed": seed, "digest": digest, "started": started}
    summary = _summary(exp, cfg, result, run, runtime, warning, figures)
    if writer:
        atomic_write_json(out / "summary.json", summary)  # last: its presence marks a finished run
    status = "all checks passed" if summary["passed"] else "SOME CHECKS FAILED"
    ctx.log(f"[{name}] {status} ({len(result.checks)} checks, {runtime:.1f} s)")
    return {**summary, "skipped": False}


def _write_outputs(exp: Experiment, cfg, result: Result, out: Path, writer: bool) -> list[str]:
    """Figures (drawn from the arrays as they will be saved) and ``arrays.npz``; returns the figure file names."""
    if writer:
        out.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in result.arrays.items()}
    if exp.figures is not None:
        if result.figures:
            raise RuntimeError(f"{exp.name}: figures are drawn by its figures(arrays, config), not returned by run")
        figs = exp.figures(arrays, cfg)  # from exactly what arrays.npz will hold, as `plot NAME` redraws them
    else:
        figs = result.figures
    figures = _write_figures(out, figs, writer)
    if arrays and writer:
        _atomic_npz(out / "arrays.npz", arrays)
    return figures


def _summary(exp: Experiment, cfg, result: Result, run: dict, runtime: float, warning, figures: list) -> dict:
    env = environment()
    return {
        "experiment": exp.name,
        "description": exp.description,
        "size": run["size"],
        "seed": run["seed"],
        "config": config_dict(cfg),
        "config_hash": run["digest"],
        "code_hash": code_fingerprint(),
        "versions": env["versions"],
        "device": env["device"],
        "started": run["started"].isoformat(timespec="seconds"),
        "runtime_s": round(runtime, 3),
        "passed": all(c.passed for c in result.checks),
        "warning": warning,
        "checks": [c.to_json() for c in result.checks],
        "metrics": _jsonable(result.metrics),
        "figures": figures,
        "arrays": "arrays.npz" if result.arrays else None,
        "schema": SCHEMA_VERSION,
    }


def _write_figures(out: Path, figs: dict, writer: bool) -> list[str]:
    plt = pyplot()
    names = []
    for fig_name, fig in figs.items():
        fname = f"{fig_name}.png"
        if writer:
            _atomic_png(out / fname, fig)
        plt.close(fig)
        names.append(fname)
    return names


def plot_experiment(name: str, out_dir: str | os.PathLike = "results", to_dir: str | os.PathLike | None = None):
    """Redraw a finished experiment's figures from ``OUT/NAME/arrays.npz`` and its ``summary.json`` config.

    Nothing is recomputed. Figures go to ``to_dir`` (default: next to the arrays); returns their paths.
    """
    exp = get(name)
    if exp.figures is None:
        raise ConfigError(f"{name} has no figures to redraw")
    summary = load_summary(out_dir, name)
    source = Path(out_dir) / name
    if summary is None or not (source / "arrays.npz").exists():
        raise ConfigError(
            f"{name} has no finished run under {str(out_dir)!r}; run it first (python -m experiments run)"
        )
    cfg = _settings.from_dict(exp.config_type, summary["config"])
    with np.load(source / "arrays.npz") as data:
        arrays = {k: data[k] for k in data.files}
    target = ensure_writable(to_dir) if to_dir is not None else source
    return [target / f for f in _write_figures(target, exp.figures(arrays, cfg), True)]


def _prune_sweeps(folder: Path, keep: str | None) -> None:
    """Delete sweep chunks of other configs (and of this one when ``keep`` is None, i.e. ``--force``).

    Single-process runs only: on a multi-host run another host may be writing or reading them."""
    import jax

    if jax.process_count() > 1 or not folder.is_dir():
        return
    import shutil

    for sub in folder.iterdir():
        if sub.is_dir() and sub.name != keep:
            shutil.rmtree(sub, ignore_errors=True)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray | np.generic):
        return _jsonable(obj.tolist())
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):  # jax arrays
        return _jsonable(np.asarray(obj).tolist())
    if isinstance(obj, float):
        return _json_float(obj)
    return obj


def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    if x == 0 or (1e-3 <= abs(x) < 1e5):
        return f"{x:.4g}"
    return f"{x:.3e}"


def write_report(out_dir: str | os.PathLike, names: list[str] | None = None) -> Path:
    """Write ``OUT/report.md``: every check of every finished experiment, and its figures inline."""
    from experiments import load_all

    load_all()
    names = names or sorted(REGISTRY)
    summaries = [s for s in (load_summary(out_dir, n) for n in names) if s]
    n_checks = sum(len(s["checks"]) for s in summaries)
    n_failed = sum(not c["passed"] for s in summaries for c in s["checks"])
    lines = [
        "# Theory vs simulation report",
        "",
        f"{len(summaries)} experiment(s), {n_checks} check(s), {n_failed} failed. "
        f"Generated {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}.",
        "",
        "| experiment | size | check | value | tolerance | result |",
        "|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for c in s["checks"]:
            mark = "pass" if c["passed"] else "**FAIL**"
            lines.append(
                f"| {s['experiment']} | {s['size']} | {c['name']} | {_fmt(c['value'])} | "
                f"{_fmt(c['tolerance'])} | {mark} |"
            )
    for s in summaries:
        dev = s["device"]
        lines += [
            "",
            f"## {s['experiment']}",
            "",
            f"{s['description']}  ",
            f"size {s['size']}, seed {s['seed']}, runtime {s['runtime_s']:.1f} s on {dev['platform']} "
            f"({dev['device_kind']}), jax {s['versions'].get('jax')}, config `{s['config_hash']}`",
            "",
        ]
        if s.get("warning"):
            lines.append(f"**Warning:** {s['warning']}")
            lines.append("")
        for c in s["checks"]:
            lines.append(f"- **{c['name']}** ({'pass' if c['passed'] else 'FAIL'}): {c['description']}")
        lines.append("")
        for fig in s["figures"]:
            lines.append(f"![{s['experiment']} {fig}]({s['experiment']}/{fig})")
            lines.append("")
    path = Path(out_dir) / "report.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path
