"""Settings declared once (experiments/settings.py): quick and full instances, declared ranges with one-line
errors, nested ``--set`` keys, the round trip through summary.json, and the describe table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from experiments import settings as st
from experiments.settings import ConfigError, nested, setting


@dataclass(frozen=True)
class Inner:
    hidden: int = setting(8, "hidden units", full=100, ge=1)
    act: str = setting("relu", "activation", choices=("relu", "tanh"))


@dataclass(frozen=True)
class Outer:
    lr: float = setting(0.1, "learning rate", full=0.01, gt=0, le=1)
    lengths: tuple = setting((2, 3), "training lengths", full=(2, 3, 4, 5), ge=1)
    seeds: int = setting(2, "seeds")
    model: Inner = nested(Inner, "the network")

    def validate(self):
        if self.model.hidden < len(self.lengths):
            raise ConfigError(f"model.hidden must be >= len(lengths) = {len(self.lengths)}; got {self.model.hidden}")


def test_quick_is_the_default_and_full_the_declared_values():
    assert st.quick(Outer) == Outer()
    full = st.full(Outer)
    assert (full.lr, full.lengths, full.seeds, full.model.hidden, full.model.act) == (
        0.01,
        (2, 3, 4, 5),
        2,
        100,
        "relu",
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lr": "0"}, "lr must satisfy 0 < lr <= 1; got 0.0"),
        ({"lr": "2"}, "lr must satisfy 0 < lr <= 1; got 2.0"),
        ({"lengths": "(2, 0)"}, "every element of lengths must be >= 1; got (2, 0)"),
        ({"model.hidden": "0"}, "model.hidden must be >= 1; got 0"),
        ({"model.act": "'gelu'"}, "model.act must be one of 'relu', 'tanh'; got 'gelu'"),
        ({"model.hidden": "1"}, "model.hidden must be >= len(lengths) = 2; got 1"),
        ({"seeds": "1.5"}, "seeds must be an integer; got 1.5"),
        ({"model.width": "3"}, "unknown setting 'model.width'"),
    ],
)
def test_bad_settings_fail_in_one_line_naming_the_setting(overrides, message):
    with pytest.raises(ConfigError) as err:
        st.validate(st.apply_overrides(Outer(), overrides))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_nested_override_and_round_trip():
    cfg = st.apply_overrides(Outer(), {"model.hidden": "64", "lengths": "[2, 5]", "lr": 0.5})
    assert cfg.model.hidden == 64 and cfg.lengths == (2, 5) and cfg.lr == 0.5
    st.validate(cfg)
    assert st.from_dict(Outer, st.to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="unknown setting 'depth'"):
        st.from_dict(Outer, {**st.to_dict(cfg), "depth": 3})


def test_describe_lists_every_leaf_with_both_sizes_and_its_range():
    text = st.describe("demo", "a demo", Outer)
    assert "  lr  quick=0.1  full=0.01  [0 < x <= 1]" in text
    assert "  model.hidden  quick=8  full=100  [>= 1]" in text
    assert "model.act  quick='relu'  full='relu'  [one of 'relu', 'tanh']" in text


def test_every_registered_experiment_declares_valid_quick_and_full_settings():
    import experiments

    for name, exp in experiments.load_all().items():
        for quick in (True, False):
            cfg = exp.config(quick)
            assert st.from_dict(exp.config_type, st.to_dict(cfg)) == cfg, name
