"""The experiment contract: summary schema, atomic writes, resume, report, one-line CLI errors."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import experiments
from experiments import cli, contract
from experiments.contract import Check, Result, setting

ROOT = Path(__file__).resolve().parents[1]
CALLS = []


@dataclass(frozen=True)
class _Cfg:
    n: int = setting(3, "a size", full=5, ge=1)
    rate: float = setting(0.1, "a rate below 1", gt=0, lt=1)


def _run_ok(cfg, seed, ctx):
    import matplotlib.pyplot as plt

    CALLS.append(("ok", cfg.n, seed))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, cfg.n], label="sim")
    ax.set_xlabel("x")
    return Result(
        [
            Check.at_most("err", 0.5, 1.0, "an error below its bound"),
            Check.at_least("ratio", 2.0, 1.5, "a ratio above its threshold"),
        ],
        {"x": np.arange(cfg.n)},
        {"curve": fig},
        {"note": np.float64(1.5)},
    )


def _run_fail(cfg, seed, ctx):
    CALLS.append(("fail", cfg.n, seed))
    return Result([Check.at_most("err", float("nan"), 1.0, "a NaN never passes")])


def _run_interrupt(cfg, seed, ctx):
    CALLS.append(("interrupt", cfg.n, seed))
    if os.environ.get("DUMMY_INTERRUPT") == "1":
        raise KeyboardInterrupt
    return Result([Check.at_most("err", 0.0, 1.0, "fine")])


@pytest.fixture
def dummy_registry(monkeypatch):
    """Replace the registry's contents with three dummy experiments for the duration of a test."""
    experiments.load_all()
    for name in list(contract.REGISTRY):
        monkeypatch.delitem(contract.REGISTRY, name)
    for name, fn in [("a_ok", _run_ok), ("b_interrupt", _run_interrupt), ("c_fail", _run_fail)]:
        monkeypatch.setitem(contract.REGISTRY, name, contract.Experiment(name, f"dummy {name}", _Cfg, fn))
    CALLS.clear()
    yield


def test_summary_schema_and_files(tmp_path, dummy_registry):
    summary = contract.run_experiment("a_ok", out_dir=tmp_path, quick=True, seed=3)
    stored = json.loads((tmp_path / "a_ok" / "summary.json").read_text())
    for key in (
        "experiment",
        "description",
        "size",
        "seed",
        "config",
        "config_hash",
        "versions",
        "device",
        "runtime_s",
        "checks",
        "passed",
        "figures",
    ):
        assert key in stored, key
    assert stored["experiment"] == "a_ok" and stored["seed"] == 3 and stored["size"] == "quick"
    assert stored["config"] == {"n": 3, "rate": 0.1}
    import jax

    assert stored["versions"]["jax"] == jax.__version__
    assert stored["device"]["platform"] in ("cpu", "gpu", "tpu")
    for check in stored["checks"]:
        assert set(check) == {"name", "value", "tolerance", "passed", "description"}
    assert stored["passed"] and summary["skipped"] is False
    assert (tmp_path / "a_ok" / "curve.png").stat().st_size > 1000
    assert np.load(tmp_path / "a_ok" / "arrays.npz")["x"].tolist() == [0, 1, 2]
    assert not list((tmp_path / "a_ok").glob("*.tmp"))


def test_nan_check_fails_and_cli_exit_code(tmp_path, dummy_registry, capsys):
    assert cli.main(["run", "c_fail", "--quick", "--out", str(tmp_path)]) == 1
    stored = json.loads((tmp_path / "c_fail" / "summary.json").read_text())
    assert stored["passed"] is False and stored["checks"][0]["value"] == "nan"
    assert "FAILED c_fail: err" in capsys.readouterr().out


def test_skip_when_up_to_date_and_force(tmp_path, dummy_registry):
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)
    again = contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)
    assert again["skipped"] is True and len(CALLS) == 1
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=True, force=True)
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=False)  # different config: reruns
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=True, seed=1)  # different seed: reruns
    assert len(CALLS) == 4


def test_code_change_invalidates_finished_run(tmp_path, dummy_registry, monkeypatch):
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)
    monkeypatch.setattr(contract, "_CODE_HASH", "edited-source")
    assert contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)["skipped"] is False
    assert len(CALLS) == 2


def test_interrupted_run_all_resumes(tmp_path, dummy_registry, monkeypatch, capsys):
    monkeypatch.setenv("DUMMY_INTERRUPT", "1")
    assert cli.main(["run", "all", "--quick", "--out", str(tmp_path)]) == 130
    assert (tmp_path / "a_ok" / "summary.json").exists()  # finished before the interruption: kept
    assert not (tmp_path / "b_interrupt" / "summary.json").exists()
    assert [c[0] for c in CALLS] == ["ok", "interrupt"]
    monkeypatch.setenv("DUMMY_INTERRUPT", "0")
    CALLS.clear()
    assert cli.main(["run", "all", "--quick", "--out", str(tmp_path)]) == 1  # c_fail fails by design
    assert [c[0] for c in CALLS] == ["interrupt", "fail"]  # a_ok was not rerun
    report = (tmp_path / "report.md").read_text()
    assert "| a_ok | quick | err |" in report and "**FAIL**" in report and "![a_ok curve.png](a_ok/curve.png)" in report


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    contract.atomic_write_json(target, {"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(contract.os, "replace", boom)
    with pytest.raises(OSError):
        contract.atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "nope"], ["unknown experiment 'nope'"]),
        (["run", "a_ok", "--quick", "--set", "n=0"], ["n must be >= 1"]),
        (["run", "a_ok", "--set", "rate=3"], ["rate must satisfy 0 < rate < 1"]),
        (["run", "a_ok", "--set", "size=3"], ["unknown setting 'size'"]),
        (["run", "a_ok", "--set", "n=2.5"], ["n must be an integer"]),
        (["run", "a_ok", "--set", "n"], ["--set expects KEY=VALUE"]),
        (["describe", "nope"], ["unknown experiment"]),
        (["run", "a_ok", "--devices", "99"], ["devices must be between 1 and the"]),
    ],
)
def test_bad_arguments_one_line(argv, words, dummy_registry, capsys, tmp_path):
    assert cli.main(argv + (["--out", str(tmp_path)] if argv[0] == "run" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    for w in words:
        assert w in err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "argv, word",
    [
        (["run", "a_ok", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "a_ok", "--seed", "-2"], "seed must be an integer >= 0"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_argparse_errors_one_line(argv, word, dummy_registry, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err
    # the hint names the (sub)command's own help: 'python -m experiments [run ]--help', never the program twice
    want = "(see: python -m experiments run --help)" if argv[0] == "run" else "(see: python -m experiments --help)"
    assert err.endswith(want) and "experiments experiments" not in err


def _run_counting(cfg, seed, ctx):
    CALLS.append(("counting", cfg.n, seed))
    return Result([Check.at_most("err", 0.0, 1.0, "fine")])


@pytest.mark.parametrize(
    "make_out",
    [
        lambda tmp: tmp / "a_file" / "sub",  # a parent is a regular file: cannot be created
        lambda tmp: Path("/proc/learning-dynamics-no-such-dir"),  # cannot be created, even by root
    ],
    ids=["under-a-file", "proc"],
)
def test_unwritable_out_fails_before_compute(tmp_path, dummy_registry, capsys, monkeypatch, make_out):
    (tmp_path / "a_file").write_text("not a folder")
    out = make_out(tmp_path)
    monkeypatch.setitem(
        contract.REGISTRY, "d_count", contract.Experiment("d_count", "counts", _Cfg, _run_counting, full=_Cfg)
    )
    assert cli.main(["run", "d_count", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: output folder") and "--out" in err
    assert CALLS == []  # nothing was computed
    with pytest.raises(contract.ConfigError, match="cannot be written"):
        contract.run_experiment("d_count", out_dir=out, quick=True)
    assert CALLS == []


def test_describe_into_a_closed_pipe_exits_quietly():
    # `python -m experiments describe NAME | head -1`: the reader closes the pipe after one line.
    name = sorted(experiments.load_all())[0]
    code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'experiments', 'describe', {name!r}],"
        " stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "p.stdout.readline(); p.stdout.close()\n"
        "err = p.stderr.read().decode(); p.wait()\n"
        "print(repr(err)); print(p.returncode)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    err_repr, returncode = proc.stdout.strip().splitlines()
    assert "Traceback" not in err_repr and "BrokenPipe" not in err_repr, err_repr
    assert int(returncode) in (0, 141)


def test_package_versions_invalidate_finished_run(tmp_path, dummy_registry, monkeypatch):
    # After an upgrade of the numerical stack the stored result is recomputed, not silently reused.
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)
    assert contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)["skipped"] is True
    real = contract.stack_versions()
    monkeypatch.setattr(contract, "stack_versions", lambda: {**real, "jax": "99.0"})
    assert contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)["skipped"] is False
    assert len(CALLS) == 2
    stored = json.loads((tmp_path / "a_ok" / "summary.json").read_text())
    assert stored["versions"]["jax"] == "99.0"
    assert set(contract.NUMERICAL_PACKAGES) <= set(real) and "python" in real


def _run_diverging(cfg, seed, ctx):
    from toymodels.common import check_losses

    check_losses(np.array([[1.0, 2.0, np.inf]]), "dummy GD")  # what a trainer reports when its loss blows up
    return Result([Check.at_most("final_loss", 2.0, 1.0, "would fail anyway")])


def test_divergent_training_is_named_in_summary_and_log(tmp_path, dummy_registry, monkeypatch, capsys):
    monkeypatch.setitem(
        contract.REGISTRY, "e_diverge", contract.Experiment("e_diverge", "diverges", _Cfg, _run_diverging, full=_Cfg)
    )
    assert cli.main(["run", "e_diverge", "--quick", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    stored = json.loads((tmp_path / "e_diverge" / "summary.json").read_text())
    assert stored["warning"].startswith("training diverged (dummy GD): 1 of 1 runs")
    assert "\n" not in stored["warning"] and "lower the learning rate" in stored["warning"]
    assert "WARNING training diverged" in captured.err
    assert "WARNING e_diverge: training diverged" in captured.out
    assert "**Warning:** training diverged" in (tmp_path / "report.md").read_text()
    # a healthy run carries no warning
    contract.run_experiment("a_ok", out_dir=tmp_path, quick=True)
    assert json.loads((tmp_path / "a_ok" / "summary.json").read_text())["warning"] is None


def test_run_experiment_leaves_the_callers_x64_setting(tmp_path):
    # In a fresh process with JAX defaults (x64 off), run_experiment computes in float64 inside and restores.
    code = (
        "import jax, jax.numpy as jnp\n"
        "from experiments import contract\n"
        "from experiments.contract import Check, Result, Experiment, REGISTRY\n"
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\n"
        "class C:\n    n: int = 1\n"
        "def run(cfg, seed, ctx):\n"
        "    return Result([Check.at_most('x64', 0.0 if jnp.zeros(1).dtype == jnp.float64 else 1.0, 0.0, 'f64')])\n"
        "import experiments; experiments.load_all()\n"
        "REGISTRY['tiny'] = Experiment('tiny', 'tiny', C, run)\n"
        f"s = contract.run_experiment('tiny', out_dir={str(tmp_path)!r}, quick=True)\n"
        "print(s['passed'], s['device']['x64'], jax.config.jax_enable_x64, jnp.zeros(1).dtype)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "False", "float32"]


def test_list_and_describe_real_registry(capsys):
    registry = experiments.load_all()
    assert cli.main(["list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()]
    assert listed == sorted(registry)
    for name in registry:
        assert cli.main(["describe", name]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{name}: ") and "quick=" in out and "full=" in out


SWEEP_CHUNKS = []


def _run_sweep(cfg, seed, ctx):
    from experiments.sweep import sweep

    def fn(start, stop):
        if os.environ.get("DUMMY_INTERRUPT") == str(start):
            raise KeyboardInterrupt
        SWEEP_CHUNKS.append(start)
        return {"x": np.arange(start, stop, dtype=float)}

    x = sweep(ctx, "s", fn, 6)["x"]
    return Result([Check.at_most("err", float(np.abs(x - np.arange(6)).max()), 0.0, "merged in order")])


def test_interrupted_experiment_sweep_resumes_and_force_recomputes(tmp_path, dummy_registry, monkeypatch):
    """run_experiment streams sweep chunks to OUT/NAME/sweeps/<hash>/: an interrupted run keeps its finished
    chunks, the rerun computes only the rest, and --force starts the sweep afresh."""
    monkeypatch.setitem(
        contract.REGISTRY,
        "d_sweep",
        contract.Experiment("d_sweep", "dummy sweep", _Cfg, _run_sweep),
    )
    ctx = contract.RunContext(progress=False, verbose=False, max_batch=2)
    SWEEP_CHUNKS.clear()
    monkeypatch.setenv("DUMMY_INTERRUPT", "4")
    with pytest.raises(KeyboardInterrupt):
        contract.run_experiment("d_sweep", out_dir=tmp_path, quick=True, ctx=ctx)
    assert SWEEP_CHUNKS == [0, 2]
    monkeypatch.delenv("DUMMY_INTERRUPT")
    SWEEP_CHUNKS.clear()
    summary = contract.run_experiment("d_sweep", out_dir=tmp_path, quick=True, ctx=ctx)
    assert summary["passed"] and SWEEP_CHUNKS == [4]
    SWEEP_CHUNKS.clear()
    contract.run_experiment("d_sweep", out_dir=tmp_path, quick=True, ctx=ctx, force=True)
    assert SWEEP_CHUNKS == [0, 2, 4]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "a_ok", "--max-batch", "0"], ["argument --max-batch", "expected an integer >= 1; got 0"]),
        (["run", "a_ok", "--devices", "many"], ["argument --devices", "expected an integer >= 1; got 'many'"]),
        (["run", "a_ok", "--host-devices", "-2"], ["argument --host-devices", "expected an integer >= 1"]),
    ],
)
def test_bad_scale_out_options_one_line(argv, words, dummy_registry, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + ["--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    for w in words:
        assert w in err
