"""The feature specification: which features exist, with which parameters, and its hash.

``signal_pipeline/config/features.yaml`` is the single source. Layout::

    timeframes: [1m, 5m, 15m, 1h, 1d]
    technical:                      # indicator -> parameters (a list expands to several)
      rsi: {period: [14, 30], overbought: 70, oversold: 30}
    overrides:                      # per timeframe: replace an entry, or `false` drops it
      1d: {sma: {period: [5, 10]}, mama: false}
    microstructure: {enabled: true, timeframes: [1m, 5m, 15m, 1h, 1d], params: {}}
    options: {enabled: true, params: {}}

The version hash is sha256 of the canonical (sorted, defaults filled in) spec plus
:data:`CODE_VERSION`; bump that constant whenever a formula changes so that tables
computed by different code never share a hash.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from signal_pipeline.features.indicators import REGISTRY, output_columns, warmup_bars
from signal_pipeline.features.timeframes import SESSION_MINUTES, TIMEFRAMES

CODE_VERSION = "features-2026.11-1"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parent.parent / "config" / "features.yaml"
_TOP_KEYS = {"version", "timeframes", "technical", "overrides", "microstructure", "options"}


class FeatureSpecError(ValueError):
    """A feature specification that names an unknown feature or carries bad parameters."""

    def __init__(self, entry: str, problem: str) -> None:
        self.entry = entry
        super().__init__(
            f"feature spec entry {entry!r}: {problem}. Fix signal_pipeline/config/features.yaml "
            f"(or the spec passed in); known indicators: {', '.join(sorted(REGISTRY))}"
        )


@dataclass(frozen=True)
class FeatureDef:
    """One indicator instance on one timeframe."""

    indicator: str
    params: Mapping[str, Any]
    timeframe: str
    columns: tuple[str, ...]  # full names with the timeframe suffix
    memory: int  # bars of this timeframe the online engine keeps for it
    warmup: Mapping[str, int]  # full column name -> leading NaN bars of this timeframe


@dataclass(frozen=True)
class FamilySpec:
    """Microstructure or options: computed by their own modules with these params."""

    enabled: bool
    timeframes: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def params_for(self, tf: str) -> dict[str, Any]:
        """Parameters on timeframe ``tf``: the shared ones, then that timeframe's overrides."""
        return {**self.params, **self.overrides.get(tf, {})}


@dataclass(frozen=True)
class FeatureSpec:
    """A validated feature specification. Build it with :func:`load_feature_spec`."""

    timeframes: tuple[str, ...]
    technical: Mapping[str, tuple[FeatureDef, ...]]
    microstructure: FamilySpec
    options: FamilySpec
    canonical: Mapping[str, Any]
    version_hash: str

    @cached_property
    def technical_columns(self) -> list[str]:
        return [c for tf in self.timeframes for d in self.technical[tf] for c in d.columns]

    def memory(self, tf: str) -> int:
        """Bars of ``tf`` the online engine keeps: the longest memory of its features."""
        return max((d.memory for d in self.technical[tf]), default=1)

    def indicator_names(self, tf: str | None = None) -> set[str]:
        tfs = [tf] if tf else self.timeframes
        return {d.indicator for t in tfs for d in self.technical[t]}

    def warmup_rows(self) -> dict[str, int]:
        """Per technical column: 1-minute rows before its first value, for data that
        starts at a session open (a later start can only shift it by one bucket)."""
        out: dict[str, int] = {}
        for tf in self.timeframes:
            k = TIMEFRAMES[tf]
            per_day = -(-SESSION_MINUTES // k)
            for d in self.technical[tf]:
                for col, bars in d.warmup.items():
                    days, rest = divmod(bars, per_day)
                    out[col] = days * SESSION_MINUTES + min((rest + 1) * k, SESSION_MINUTES) - 1
        return out


def _expand(entry: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cartesian product of list-valued parameters, in the order written."""
    keys = list(params)
    choices = [v if isinstance(v, list) else [v] for v in params.values()]
    if any(len(c) == 0 for c in choices):
        raise FeatureSpecError(entry, "a parameter list is empty")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices)]


def _check_params(entry: str, name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    defaults = REGISTRY[name].defaults
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise FeatureSpecError(
            entry, f"unknown parameter(s) {unknown}; {name} takes {sorted(defaults) or 'none'}"
        )
    params = {**defaults, **given}
    for key, value in params.items():
        want = type(defaults[key])
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FeatureSpecError(entry, f"parameter {key}={value!r} must be a number")
        if want is int and not isinstance(value, int):
            raise FeatureSpecError(entry, f"parameter {key}={value!r} must be an integer")
        params[key] = want(value)
    problem = REGISTRY[name].validate(**params)
    if problem:
        raise FeatureSpecError(entry, problem)
    return params


def _family(raw: Any, key: str, timeframes: tuple[str, ...]) -> FamilySpec:
    raw = {"enabled": False} if raw is None else raw
    if not isinstance(raw, Mapping) or set(raw) - {"enabled", "timeframes", "params", "overrides"}:
        raise FeatureSpecError(
            key, "must be a mapping with keys enabled, timeframes, params, overrides"
        )
    tfs = tuple(raw.get("timeframes", timeframes))
    bad = [t for t in tfs if t not in timeframes]
    if bad:
        raise FeatureSpecError(key, f"timeframes {bad} are not in the spec's timeframes")
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise FeatureSpecError(key, "params must be a mapping")
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, Mapping) or any(
        tf not in tfs or not isinstance(v, Mapping) for tf, v in overrides.items()
    ):
        raise FeatureSpecError(f"{key}.overrides", f"must map timeframes of {list(tfs)} to params")
    return FamilySpec(
        bool(raw.get("enabled", True)),
        tfs,
        dict(params),
        {k: dict(v) for k, v in overrides.items()},
    )


def _check_family_keys(key: str, family: FamilySpec, defaults_name: str) -> None:
    """Unknown parameter names fail at load time, not at the first computation."""
    if not family.enabled:
        return
    try:
        module = importlib.import_module(f"signal_pipeline.features.{key}")
    except ModuleNotFoundError:  # the family's module is not installed: checked when used
        return
    known = set(getattr(module, defaults_name, {}))
    for tf in ("", *family.overrides):
        given = family.params if not tf else family.overrides[tf]
        unknown = sorted(set(given) - known)
        if known and unknown:
            where = f"{key}.overrides.{tf}" if tf else f"{key}.params"
            raise FeatureSpecError(where, f"unknown parameter(s) {unknown}; known: {sorted(known)}")


def build_feature_spec(raw: Mapping[str, Any]) -> FeatureSpec:
    """Validate a spec mapping (the parsed YAML) into a :class:`FeatureSpec`."""
    if not isinstance(raw, Mapping):
        raise FeatureSpecError("<root>", "the spec must be a mapping")
    extra = sorted(set(raw) - _TOP_KEYS)
    if extra:
        raise FeatureSpecError(
            str(extra[0]), f"unknown top-level key; allowed: {sorted(_TOP_KEYS)}"
        )
    timeframes = tuple(raw.get("timeframes", list(TIMEFRAMES)))
    for tf in timeframes:
        if tf not in TIMEFRAMES:
            raise FeatureSpecError(f"timeframes.{tf}", f"unknown timeframe; use {list(TIMEFRAMES)}")
    base = raw.get("technical") or {}
    overrides = raw.get("overrides") or {}
    for tf in overrides:
        if tf not in timeframes:
            raise FeatureSpecError(f"overrides.{tf}", "timeframe not in the spec's timeframes")
    technical: dict[str, tuple[FeatureDef, ...]] = {}
    canonical_tech: dict[str, list[dict[str, Any]]] = {}
    for tf in timeframes:
        entries = {**base, **(overrides.get(tf) or {})}
        defs: list[FeatureDef] = []
        seen: set[str] = set()
        for name, params in entries.items():
            entry = (
                f"{'overrides.' + tf if name in (overrides.get(tf) or {}) else 'technical'}.{name}"
            )
            if params is False:
                continue
            if name not in REGISTRY:
                raise FeatureSpecError(entry, "unknown indicator")
            if params is None or params is True:
                params = {}
            if not isinstance(params, Mapping):
                raise FeatureSpecError(entry, "parameters must be a mapping (or false to drop)")
            for combo in _expand(entry, params):
                full = _check_params(entry, name, combo)
                stems = output_columns(name, full)
                cols = tuple(f"{s}_{tf}" for s in stems)
                dup = seen.intersection(cols)
                if dup:
                    raise FeatureSpecError(entry, f"column(s) {sorted(dup)} defined twice")
                seen.update(cols)
                warm = {f"{s}_{tf}": w for s, w in warmup_bars(name, full).items()}
                defs.append(FeatureDef(name, full, tf, cols, REGISTRY[name].memory(**full), warm))
        technical[tf] = tuple(defs)
        canonical_tech[tf] = [{"indicator": d.indicator, **d.params} for d in defs]
    micro = _family(raw.get("microstructure"), "microstructure", timeframes)
    options = _family(raw.get("options"), "options", timeframes)
    _check_family_keys("microstructure", micro, "DEFAULT_MICROSTRUCTURE_PARAMS")
    _check_family_keys("options", options, "DEFAULT_OPTIONS_PARAMS")
    canonical = {
        "timeframes": list(timeframes),
        "technical": canonical_tech,
        "microstructure": {"enabled": micro.enabled, "timeframes": list(micro.timeframes),
                           "params": dict(micro.params), "overrides": dict(micro.overrides)},
        "options": {"enabled": options.enabled, "params": dict(options.params)},
    }  # fmt: skip
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{blob}|{CODE_VERSION}".encode()).hexdigest()
    return FeatureSpec(timeframes, technical, micro, options, canonical, digest)


def load_feature_spec(source: str | Path | Mapping[str, Any] | None = None) -> FeatureSpec:
    """Load and validate a spec from a YAML path, a mapping, or the packaged default."""
    if isinstance(source, Mapping):
        return build_feature_spec(source)
    path = Path(source) if source is not None else DEFAULT_SPEC_PATH
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise FeatureSpecError(str(path), "file not found") from exc
    except yaml.YAMLError as exc:
        raise FeatureSpecError(str(path), f"not valid YAML ({exc})") from exc
    return build_feature_spec(raw or {})
