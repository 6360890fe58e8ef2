"""Test configuration: float64 everywhere (closed-form comparisons), headless matplotlib, and the two helpers
that every family's experiment test uses (run the quick experiments once; execute the family's notebook)."""

import json
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled functions after each test module: the whole suite in one process otherwise maps more
    compiled code than the kernel allows (vm.max_map_count = 65,530 here), and XLA's compiler crashes when a mapping
    fails."""
    yield
    jax.clear_caches()


def assert_contract(out, summary, min_checks):
    """Every check passed, and the stored outputs follow the experiment contract."""
    failed = [(c["name"], c["value"], c["tolerance"]) for c in summary["checks"] if not c["passed"]]
    assert not failed, failed
    assert len(summary["checks"]) >= min_checks
    name = summary["experiment"]
    stored = json.loads((Path(out) / name / "summary.json").read_text())
    assert stored["config_hash"] == summary["config_hash"]
    assert stored["figures"] and all((Path(out) / name / f).exists() for f in stored["figures"])
    assert (Path(out) / name / "arrays.npz").exists()


def execute_notebook(filename, results_dir, min_images):
    """Execute ``notebooks/filename`` reusing ``results_dir`` (quick runs are skipped, not recomputed)."""
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "notebooks" / filename
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    env_before = dict(os.environ)
    os.environ["RESULTS_DIR"] = str(results_dir)
    try:
        NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    images = sum(
        1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    assert images >= min_images
