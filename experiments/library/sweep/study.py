"""A study file (YAML) and its expansion into runs with stable ids.

A study lists what to vary; every combination is one run::

    name: algorithms-by-persona   # optional; the file's name without .yaml by default
    kind: train                   # the run kind (runs.RUN_KINDS): train (default), probe
    fixed:                        # settings shared by every run
      steps: 2048
      eval_every: 0
    grid:                         # every combination of these values
      algo: [ppo, a2c, dqn]
      persona: [mixture, belligerent]
    cases:                        # a list of partial settings, crossed with the grid
      - {}
      - {ablate: [C4]}
      - {kind: train_jax, algo: ppo_jax, seeds: [0]}   # a case may name its own run kind and seeds
    sample:                       # random or Sobol points in a box, crossed with the rest
      method: sobol               # sobol | random
      n: 8
      seed: 0
      space:
        hyperparameters.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
        hyperparameters.n_epochs: {low: 2, high: 10, integer: true}
    seeds: 4                      # seeds 0..3; or a list, e.g. [0, 1, 7]

Settings are the run kind's settings (for ``train``, the fields of ``TrainConfig`` but
``out`` and ``tensorboard``). A dotted key sets a key inside a mapping setting:
``hyperparameters.learning_rate: 1e-3``. ``fixed`` gives values to every run; ``grid``,
``cases``, ``sample`` and ``seeds`` must not set the same key twice. (A case may name its own run
``kind`` (its keys are then that kind's settings) and its own ``seeds`` (instead of the
study's), so one study can hold SB3 runs (one seed each) and ``train_jax`` runs (many
seeds in one run). ``cases`` was called ``variants`` before; that key still works, with a
deprecation warning: a *variant* is a named set of switches of the customer model, see
docs/glossary.md.)

A run's settings are the kind's defaults with the study's values applied; its id is a hash
of its kind and all its settings, so the same run has the same id in every study and on
every machine, and a store never holds it twice.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.experiments.library.sweep.runs import get_kind

STUDY_KEYS = ("name", "kind", "fixed", "grid", "cases", "sample", "seeds")
"""Top-level keys a study file may have."""
DEPRECATED_KEYS = {"variants": "cases"}
"""Old top-level key -> its name now."""
SAMPLE_KEYS = ("method", "n", "seed", "space")
SAMPLE_METHODS = ("sobol", "random")
RANGE_KEYS = ("low", "high", "log", "integer")


@dataclass(frozen=True)
class Run:
    """One run of a study: its id, kind and complete settings."""

    run_id: str
    kind: str
    settings: dict[str, Any]


@dataclass
class Study:
    """A parsed study: its name, run kind, and runs in a stable order."""

    name: str
    kind: str
    runs: list[Run] = field(default_factory=list)
    source: str = ""
    """The study file's text (kept in the store beside the results)."""


def run_id(kind: str, settings: dict[str, Any]) -> str:
    """The stable id of a run: 16 hex digits of the SHA-256 of its kind and settings."""
    text = json.dumps({"kind": kind, "settings": settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_study(path: str | Path) -> Study:
    """Read and expand a study file.

    Raises:
        ValueError: naming the file and the bad key or value (and what is allowed).
    """
    import yaml  # optional extra (train)

    path = Path(path)
    if not path.exists():
        raise ValueError(f"study file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"study file {str(path)!r} is not valid YAML: {err}") from err
    try:
        study = expand_study(data, default_name=path.stem)
    except ValueError as err:
        raise ValueError(f"study file {str(path)!r}: {err}") from err
    study.source = text
    return study


def expand_study(data: Any, default_name: str = "study") -> Study:
    """Expand a study mapping (as read from YAML) into its runs.

    Raises:
        ValueError: for an unknown key, a bad value, a key set twice, a duplicate run, or
            settings the run kind refuses, naming the key and what is allowed.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a study must be a mapping with keys {', '.join(STUDY_KEYS)}; got {type(data).__name__}")
    data = _renamed(data)
    _check_keys(data, STUDY_KEYS, "study")
    name = str(data.get("name", default_name))
    kind_name = data.get("kind", "train")
    kind = get_kind(kind_name)

    fixed = _mapping(data.get("fixed", {}), "fixed")
    grid = _mapping(data.get("grid", {}), "grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid.{key} must be a non-empty list of values; got {values!r}")
    cases = data.get("cases", [{}])
    if not isinstance(cases, list) or not cases or not all(isinstance(v, dict) for v in cases):
        raise ValueError(f"cases must be a non-empty list of mappings of settings; got {cases!r}")
    cases = [v or {} for v in cases]
    case_kinds = [get_kind(case.get("kind", kind.name)) for case in cases]  # a case may name its own run kind
    seeds = _seeds(data.get("seeds"))
    case_seeds = [_seeds(case["seeds"]) if "seeds" in case else seeds for case in cases]  # ... and its own seeds
    cases = [{k: v for k, v in case.items() if k not in ("kind", "seeds")} for case in cases]
    samples = _samples(data["sample"]) if "sample" in data else [{}]

    # Every key must be a setting of the kind (of each case); the varying sections must not overlap.
    sections: dict[str, set[str]] = {
        "grid": set(grid),
        "cases": {k for v in cases for k in v},
        "sample": set(samples[0]),
        "seeds": {"seed"} if any(c is not None for c in case_seeds) else set(),
    }
    for case, case_kind in zip(cases, case_kinds, strict=True):
        defaults = case_kind.defaults()
        for section, keys in [("fixed", set(fixed)), ("grid", set(grid)), ("cases", set(case)),
                              ("sample", set(samples[0])), ("seeds", sections["seeds"])]:
            for key in sorted(keys):
                _check_setting_key(key, defaults, section if case_kind is kind else f"{section} ({case_kind.name})")
    for (a, keys_a), (b, keys_b) in itertools.combinations(sections.items(), 2):
        both = keys_a & keys_b
        if both:
            raise ValueError(f"{', '.join(sorted(both))} set in both {a} and {b}; set each key in one place")
    kind_defaults = {k.name: k.defaults() for k in case_kinds}

    grid_points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())] or [{}]
    runs: list[Run] = []
    seen: dict[str, int] = {}
    kinded_cases = [(case, case_kind, [{"seed": s} for s in case_seed] if case_seed is not None else [{}])
                    for case, case_kind, case_seed in zip(cases, case_kinds, case_seeds, strict=True)]
    combos = [(point, case, case_kind, sample, seed) for point in grid_points for case, case_kind, seed_points
              in kinded_cases for sample in samples for seed in seed_points]
    for point, case, case_kind, sample, seed in combos:
        defaults = kind_defaults[case_kind.name]
        settings = copy.deepcopy(defaults)
        for part in (fixed, point, case, sample, seed):
            for key, value in part.items():
                _set(settings, key, copy.deepcopy(value))
        _check_types(settings, defaults)
        try:
            case_kind.validate(settings)
        except (TypeError, ValueError) as err:
            raise ValueError(f"run {_describe(point, case, sample, seed)}: {err}") from err
        rid = run_id(case_kind.name, settings)
        if rid in seen:
            raise ValueError(f"run {_describe(point, case, sample, seed)} is the same run as run #{seen[rid] + 1}; "
                             "remove the duplicate value or case")
        seen[rid] = len(runs)
        runs.append(Run(rid, case_kind.name, settings))
    return Study(name=name, kind=kind.name, runs=runs)


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each deprecated key under its new name (a ``DeprecationWarning`` for each)."""
    out = dict(data)
    for old, new in DEPRECATED_KEYS.items():
        if old in out:
            if new in out:
                raise ValueError(f"both {old!r} and {new!r} in the study; {old!r} is the old name of {new!r}, keep one")
            warnings.warn(f"the study key {old!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out


def _check_keys(data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r} in {where}; allowed: {', '.join(allowed)}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping of setting -> value; got {type(value).__name__}")
    return value


def _check_setting_key(key: str, defaults: dict[str, Any], section: str) -> None:
    head, _, rest = key.partition(".")
    if head not in defaults:
        raise ValueError(f"unknown setting {key!r} in {section}; allowed: {', '.join(sorted(defaults))}")
    if rest and not isinstance(defaults[head], dict):
        raise ValueError(f"setting {key!r} in {section}: {head!r} is not a mapping, so it takes no dotted key")


def _set(settings: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if rest:
        settings[head] = {**settings[head]}
        _set(settings[head], rest, value)
    else:
        settings[head] = value


def _check_types(settings: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, default in defaults.items():
        value = settings[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, (str, list, dict)):
            ok = isinstance(value, type(default))
        else:
            ok = True
        if not ok:
            raise ValueError(f"setting {key}={value!r} is a {type(value).__name__}; allowed: {type(default).__name__}")


def _seeds(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"seeds={value}; allowed: an integer >= 1 (seeds 0..n-1) or a list of integers")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        if len(set(value)) != len(value):
            raise ValueError(f"seeds={value} repeats a seed")
        return list(value)
    raise ValueError(f"seeds={value!r}; allowed: an integer >= 1 (seeds 0..n-1) or a non-empty list of integers")


def _samples(spec: Any) -> list[dict[str, Any]]:
    """Points of a ``sample`` section: ``n`` random or Sobol points in the box ``space``."""
    if not isinstance(spec, dict):
        raise ValueError(f"sample must be a mapping with keys {', '.join(SAMPLE_KEYS)}")
    _check_keys(spec, SAMPLE_KEYS, "sample")
    method = spec.get("method", "sobol")
    if method not in SAMPLE_METHODS:
        raise ValueError(f"sample.method={method!r}; allowed: {', '.join(SAMPLE_METHODS)}")
    n = spec.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"sample.n={n!r}; allowed is an integer >= 1")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"sample.seed={seed!r}; allowed is an integer")
    space = spec.get("space")
    if not isinstance(space, dict) or not space:
        raise ValueError("sample.space must be a non-empty mapping of setting -> {low, high, log, integer}")
    ranges = []
    for key, r in space.items():
        if not isinstance(r, dict):
            raise ValueError(f"sample.space.{key} must be a mapping with keys {', '.join(RANGE_KEYS)}")
        _check_keys(r, RANGE_KEYS, f"sample.space.{key}")
        low, high = r.get("low"), r.get("high")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high)) or not low < high:
            raise ValueError(f"sample.space.{key}: low={low!r}, high={high!r}; allowed: numbers with low < high")
        log = bool(r.get("log", False))
        if log and low <= 0:
            raise ValueError(f"sample.space.{key}: log scale needs low > 0; got low={low}")
        ranges.append((key, float(low), float(high), log, bool(r.get("integer", False))))

    if method == "sobol":
        from scipy.stats import qmc  # optional extra (report)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns when n is not a power of two
            unit = qmc.Sobol(d=len(ranges), scramble=True, seed=seed).random(n)
    else:
        unit = np.random.default_rng(seed).random((n, len(ranges)))
    points = []
    for row in unit:
        point: dict[str, Any] = {}
        for (key, low, high, log, integer), u in zip(ranges, row, strict=True):
            x = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if log else low + u * (high - low)
            point[key] = int(round(x)) if integer else float(f"{x:.6g}")  # 6 digits: readable, stable ids
        points.append(point)
    return points


def _describe(*parts: dict[str, Any]) -> str:
    merged = {k: v for part in parts for k, v in part.items()}
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in merged.items()) + "}" if merged else "{}"
