"""Settings declared once: quick value, full (paper) value, help and allowed range in one field.

An experiment's settings are a frozen dataclass whose fields are declared with :func:`setting`::

    @dataclass(frozen=True)
    class ModesConfig:
        lr: float = setting(1e-3, "GD step η", full=1e-4, gt=0)
        depths: tuple = setting((2, 3), "depths D", full=(2, 3, 4, 6), ge=1)
        model: RNNSettings = nested(RNNSettings)        # its own fields, reached as --set model.hidden=64

The dataclass default is the quick (CI) value; :func:`full` builds the paper-scale instance from the ``full=``
values. :func:`validate` checks every field against its declared range (for a tuple: every element) and then
calls the class's own ``validate()`` (cross-field rules), raising :class:`ConfigError` with one line that names the
setting and its allowed range. :func:`apply_overrides` takes dotted keys for nested settings.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import numbers
import operator
from dataclasses import MISSING, field
from typing import Any

__all__ = [
    "ConfigError",
    "setting",
    "nested",
    "quick",
    "full",
    "validate",
    "apply_overrides",
    "describe",
    "to_dict",
    "from_dict",
    "flat_items",
]


class ConfigError(ValueError):
    """A bad setting; the message is one line naming the parameter and what is allowed."""


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def setting(
    quick: Any,
    help: str,  # noqa: A002 - mirrors argparse's keyword
    *,
    full: Any = MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple | None = None,
) -> Any:
    """A dataclass field: ``quick`` is the default (CI size), ``full`` the paper-scale value (default: the same).

    ``ge``/``gt``/``le``/``lt`` bound a number (every element of a tuple); ``choices`` lists the allowed values.
    """
    if isinstance(quick, list | dict | set) or isinstance(full, list | dict | set):
        raise TypeError("use tuples for sequence settings")
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    meta = {"help": help, "full": quick if full is MISSING else full, "bounds": bounds, "choices": choices}
    return field(default=quick, metadata=meta)


def nested(cls: type, help: str = "") -> Any:  # noqa: A002
    """A field holding another settings dataclass (quick: ``cls()``, full: ``full(cls)``); keys ``name.field``."""
    return field(default_factory=cls, metadata={"help": help, "nested": cls})


def _fields(cls_or_cfg):
    return dataclasses.fields(cls_or_cfg)


def quick(cls: type):
    """The quick (CI-size) instance: every field at its default."""
    return cls()


def full(cls: type):
    """The paper-scale instance: every field at its declared ``full=`` value (nested settings recursively)."""
    values = {}
    for f in _fields(cls):
        if "nested" in f.metadata:
            values[f.name] = full(f.metadata["nested"])
        elif "full" in f.metadata:
            values[f.name] = f.metadata["full"]
    return cls(**values)


_OPS = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


def _bound_text(bounds: dict, name: str) -> str:
    """``"satisfy 0 < lr <= 1"`` or ``"be >= 1"``."""
    lo = next((k for k in ("ge", "gt") if k in bounds), None)
    hi = next((k for k in ("le", "lt") if k in bounds), None)
    if lo and hi:
        return f"satisfy {bounds[lo]!r} {_BOUNDS[lo].replace('>', '<')} {name} {_BOUNDS[hi]} {bounds[hi]!r}"
    return " and ".join(f"be {_BOUNDS[k]} {v!r}" for k, v in bounds.items())


def _in_bounds(x, bounds: dict) -> bool:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or math.isnan(x):
        return False
    return all(_OPS[k](x, v) for k, v in bounds.items())


def validate(cfg, prefix: str = "") -> None:
    """Check every declared range and choice, then the class's own ``validate()``; :class:`ConfigError` if not."""
    for f in _fields(cfg):
        key, value = prefix + f.name, getattr(cfg, f.name)
        if "nested" in f.metadata:
            validate(value, key + ".")
            continue
        if isinstance(value, tuple) and not value and f.default:
            raise ConfigError(f"{key} must not be empty")
        items = value if isinstance(value, tuple) else (value,)
        bounds, choices = f.metadata.get("bounds") or {}, f.metadata.get("choices")
        for x in items:
            if bounds and not _in_bounds(x, bounds):
                each = "every element of " if isinstance(value, tuple) else ""
                raise ConfigError(f"{each}{key} must {_bound_text(bounds, f.name)}; got {value!r}")
            if choices is not None and x not in choices:
                raise ConfigError(f"{key} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    own = getattr(cfg, "validate", None)
    if own is not None:
        own()


def _coerce(value: Any, default: Any, key: str):
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be True or False; got {value!r}")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
            raise ConfigError(f"{key} must be an integer; got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number; got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        items = value if isinstance(value, list | tuple) else (value,)
        if not items:
            raise ConfigError(f"{key} must not be empty")
        proto = default[0] if default else items[0]
        return tuple(_coerce(v, proto, key) for v in items)
    if isinstance(default, str):
        return str(value)
    return value


def flat_items(cfg, prefix: str = ""):
    """``(dotted key, field, value)`` for every leaf setting, nested settings included."""
    for f in _fields(cfg):
        value = getattr(cfg, f.name)
        if "nested" in f.metadata:
            yield from flat_items(value, prefix + f.name + ".")
        else:
            yield prefix + f.name, f, value


def apply_overrides(cfg, overrides: dict[str, Any]):
    """Return ``cfg`` with ``{"key" or "outer.key": python literal}`` applied, type-checked against the defaults."""
    if not overrides:
        return cfg
    names = [k for k, _, _ in flat_items(cfg)]
    for key, raw in overrides.items():
        if key not in names:
            raise ConfigError(f"unknown setting {key!r}; allowed: {', '.join(names)}")
        try:
            value = ast.literal_eval(raw) if isinstance(raw, str) else raw
        except (ValueError, SyntaxError):
            value = raw
        cfg = _replace(cfg, key.split("."), value, key)
    return cfg


def _replace(cfg, path: list[str], value, key: str):
    head = path[0]
    if len(path) > 1:
        return dataclasses.replace(cfg, **{head: _replace(getattr(cfg, head), path[1:], value, key)})
    return dataclasses.replace(cfg, **{head: _coerce(value, getattr(cfg, head), key)})


def to_dict(cfg) -> dict:
    """JSON-ready nested dict of the settings (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


def from_dict(cls: type, data: dict):
    """Inverse of :func:`to_dict` (as stored in ``summary.json``); unknown keys are a :class:`ConfigError`."""
    known = {f.name: f for f in _fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} for {cls.__name__}; allowed: {', '.join(known)}")
    values = {}
    for name, value in data.items():
        f = known[name]
        if "nested" in f.metadata:
            values[name] = from_dict(f.metadata["nested"], value)
        else:
            default = f.default if f.default is not MISSING else None
            values[name] = _coerce(value, default, name) if default is not None else value
    return cls(**values)


def describe(name: str, description: str, cls: type) -> str:
    """Table of an experiment's settings: key, quick and full value, allowed range, help."""
    q, fu = quick(cls), full(cls)
    full_values = {k: v for k, _, v in flat_items(fu)}
    lines = [f"{name}: {description}", "", "settings (override with --set KEY=VALUE; nested keys as outer.key):"]
    for key, f, value in flat_items(q):
        bounds, choices = f.metadata.get("bounds") or {}, f.metadata.get("choices")
        allowed = _bound_text(bounds, "x").removeprefix("satisfy ").replace("be ", "") if bounds else ""
        if choices is not None:
            allowed = "one of " + ", ".join(map(repr, choices))
        lines.append(f"  {key}  quick={value!r}  full={full_values[key]!r}" + (f"  [{allowed}]" if allowed else ""))
        if f.metadata.get("help"):
            lines.append(f"      {f.metadata['help']}")
    return "\n".join(lines)
