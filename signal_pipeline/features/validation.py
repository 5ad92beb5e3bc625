"""Quality checks of a feature table: a Great Expectations 1.x suite, and correlated pairs.

The suite, per feature column: no missing value after the column's warm-up (technical
columns: the spec's warm-up; other families: from their first value per symbol on),
finite values, and fixed ranges where the formula has one (RSI, Stochastic, MFI ... in
[0, 100]; Williams %R in [-100, 0]; flags in {0, 1}; volume-based ratios >= 0).
:func:`validate_feature_table` runs it and returns a plain result object, which a
Dagster asset check turns into metadata. Great Expectations is imported inside the
functions: it takes seconds to import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.features.spec import FeatureSpec, load_feature_spec

# Column-name prefix -> (min, max) that the formula guarantees.
RANGES: list[tuple[str, float, float]] = [
    (r"^(rsi|mfi|stoch_[kd]|stochf_[kd]|stochrsi_[kd]|ultosc|aroon_up|aroon_down|adx|adxr|dx|"
     r"plus_di|minus_di)_", 0.0, 100.0),
    (r"^willr_", -100.0, 0.0),
    (r"^(cmo|aroonosc)_", -100.0, 100.0),
    (r"^(rsi_ob|rsi_os|ht_trendmode)_", 0.0, 1.0),
    (r"^(obv|ad|order_imbalance|tick_imbalance|correl|ht_sine|ht_leadsine|cdl_[a-z]+)_", -1.0, 1.0),
    (r"^(volume_ratio|atr|trange|stddev|realized_vol|bb_width|spread_abs|spread_rel)_", 0.0,
     np.inf),
    (r"^volume$", 0.0, np.inf),
]  # fmt: skip
_FINITE = 1e300  # "finite": inside +-1e300 (GE skips NaN, which the null check covers)
ROW_COLUMN = "_row_in_symbol"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, in plain types."""

    expectation: str
    column: str  # the validated column (a feature, or a rule of the profile)
    features: list[str]  # the feature columns that broke it
    success: bool
    unexpected_count: int
    examples: list[Any]
    kwargs: dict[str, Any]


@dataclass
class FeatureValidationResult:
    """Suite outcome: overall success, per-expectation outcomes, failing columns."""

    success: bool
    outcomes: list[ExpectationOutcome]
    rows: int
    correlated: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def failing_columns(self) -> list[str]:
        return sorted({f for o in self.outcomes if not o.success for f in o.features})

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def to_markdown(self, limit: int = 50) -> str:
        lines = ["| expectation | column | features | unexpected | examples |",
                 "|---|---|---|---|---|"]  # fmt: skip
        for o in self.failures[:limit]:
            lines.append(f"| {o.expectation} | {o.column} | {', '.join(o.features[:20])} | "
                         f"{o.unexpected_count} | {o.examples[:3]} |")  # fmt: skip
        if len(self.failures) > limit:
            lines.append(f"| ... | {len(self.failures) - limit} more | | |")
        return "\n".join(lines) if self.failures else "all expectations met"

    def to_metadata(self) -> dict[str, Any]:
        """Flat figures and a markdown table (for Dagster asset-check metadata)."""
        return {
            "rows": self.rows,
            "expectations": len(self.outcomes),
            "failed_expectations": len(self.failures),
            "failing_columns": ", ".join(self.failing_columns) or "none",
            "failures": self.to_markdown(),
            "correlated_pairs_over_0_95": len(self.correlated),
        }


def _range_for(column: str) -> tuple[float, float]:
    base = re.sub(r"_(1m|5m|15m|1h|1d)$", "", column)
    for pattern, low, high in RANGES:
        if re.match(pattern, base + "_"):
            return low, high
    return -_FINITE, _FINITE


def feature_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ("symbol", "ts", ROW_COLUMN)]


def warmup_by_column(table: pd.DataFrame, spec: FeatureSpec) -> dict[str, int]:
    """Rows (per symbol) after which a column must have no missing value."""
    declared = spec.warmup_rows()
    # A stored feature table carries each row's position in its symbol's full history
    # (ROW_COLUMN), so a slice of it (one partition) is judged against the true warm-up.
    if ROW_COLUMN in table.columns:
        rows = table[ROW_COLUMN].to_numpy()
    else:
        rows = table.groupby("symbol", sort=False).cumcount().to_numpy()
    out: dict[str, int] = {}
    for col in feature_columns(table):
        if col in declared:
            out[col] = declared[col]
            continue
        valid = table[col].notna().to_numpy()
        firsts = [
            int(rows[idx][valid[idx]].min()) if valid[idx].any() else int(rows[idx].max()) + 1
            for idx in table.groupby("symbol", sort=False).indices.values()
        ]
        out[col] = max(firsts)
    return out


def build_feature_suite(
    table: pd.DataFrame, spec: FeatureSpec | None = None, context: Any | None = None
) -> Any:
    """A Great Expectations ``ExpectationSuite`` for ``table`` (needs the row helper column
    that :func:`validate_feature_table` adds). ``context``: a GE data context (an
    ephemeral one by default; GE suites need one to exist)."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    spec = spec or load_feature_spec()
    if context is None:
        gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name=f"feature_table_{spec.version_hash[:12]}")
    for col, warm in warmup_by_column(table, spec).items():
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=col, row_condition=Column(ROW_COLUMN) >= warm
            )
        )
        low, high = _range_for(col)
        tol = 1e-9 * max(1.0, min(abs(low), _FINITE), min(abs(high), _FINITE))
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=col, min_value=max(low - tol, -_FINITE), max_value=min(high + tol, _FINITE)
            )
        )
    return suite


def feature_profile(table: pd.DataFrame, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """One row per feature column: its warm-up, and counts of rule breaks computed in
    numpy over the whole table (per symbol): missing after warm-up, non-finite, out of
    the formula's range (with a 1e-9 tolerance for floating-point noise)."""
    spec = spec or load_feature_spec()
    # A stored feature table carries each row's position in its symbol's full history
    # (ROW_COLUMN), so a slice of it (one partition) is judged against the true warm-up.
    if ROW_COLUMN in table.columns:
        rows = table[ROW_COLUMN].to_numpy()
    else:
        rows = table.groupby("symbol", sort=False).cumcount().to_numpy()
    records = []
    for col, warm in warmup_by_column(table, spec).items():
        values = table[col].to_numpy(np.float64)
        low, high = _range_for(col)
        tol = 1e-9 * max(
            1.0, abs(low) if np.isfinite(low) else 1.0, abs(high) if np.isfinite(high) else 1.0
        )
        present = ~np.isnan(values)
        finite = np.isfinite(values)
        records.append({
            "feature": col,
            "warmup_rows": warm,
            "missing_after_warmup": int((~present & (rows >= warm)).sum()),
            "non_finite": int(np.isinf(values).sum()),
            "out_of_range": int(((values < low - tol) | (values > high + tol))[finite].sum()),
            "range_min": low,
            "range_max": high,
            "min": float(np.nanmin(values)) if present.any() else np.nan,
            "max": float(np.nanmax(values)) if present.any() else np.nan,
        })  # fmt: skip
    return pd.DataFrame.from_records(records)


def _outcomes(
    report: Any, column_of: Callable[[dict[str, Any], dict[str, Any]], tuple[str, list[str]]]
) -> list[ExpectationOutcome]:
    outcomes = []
    for res in report.results:
        config = res.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        detail = res.result or {}
        unexpected = detail.get("unexpected_count") or 0
        if res.exception_info and res.exception_info.get("raised_exception"):
            unexpected = -1  # the expectation itself failed to run
        column, features = column_of(kwargs, detail)
        outcomes.append(ExpectationOutcome(
            config.type, column, features if not res.success else [], bool(res.success),
            int(unexpected),
            list(detail.get("partial_unexpected_list") or [])[:5],
            {k: v for k, v in kwargs.items() if k in ("min_value", "max_value")},
        ))  # fmt: skip
    return outcomes


def _run_suite(frame: pd.DataFrame, suite_of: Any) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # No tqdm bars: they flood pipeline logs (Dagster captures stderr).
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = suite_of(context)
    source = context.data_sources.add_pandas("feature_tables")
    asset = source.add_dataframe_asset("features")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": ["feature"]}
    return batch.validate(suite, result_format=result_format if "feature" in frame else "SUMMARY")


def validate_feature_table(
    table: pd.DataFrame,
    spec: FeatureSpec | None = None,
    correlation_threshold: float = 0.95,
    mode: str = "profile",
) -> FeatureValidationResult:
    """Validate ``table`` (symbol, ts, features...) with Great Expectations.

    ``mode="profile"`` (default, scales to millions of rows): the rule-break counts of
    :func:`feature_profile` are validated by a 3-expectation GE suite; each failing
    feature is named. ``mode="columns"``: the per-column suite of
    :func:`build_feature_suite` runs on the table itself (2 expectations per column;
    GE needs minutes for hundreds of columns: small tables only).
    """
    import great_expectations as gx

    spec = spec or load_feature_spec()
    if mode == "columns":
        frame = table.copy()
        frame[ROW_COLUMN] = frame.groupby("symbol", sort=False).cumcount()
        report = _run_suite(frame, lambda ctx: build_feature_suite(frame, spec, ctx))
        outcomes = _outcomes(report, lambda kw, _: (str(kw["column"]), [str(kw["column"])]))
    elif mode == "profile":
        profile = feature_profile(table, spec)

        def suite_of(_: Any) -> Any:
            suite = gx.ExpectationSuite(name=f"feature_profile_{spec.version_hash[:12]}")
            for rule in ("missing_after_warmup", "non_finite", "out_of_range"):
                suite.add_expectation(
                    gx.expectations.ExpectColumnValuesToBeBetween(column=rule, max_value=0)
                )
            return suite

        report = _run_suite(profile, suite_of)

        def failing(kw: dict[str, Any], detail: dict[str, Any]) -> tuple[str, list[str]]:
            return str(kw["column"]), [
                r["feature"] for r in detail.get("unexpected_index_list") or []
            ]

        outcomes = _outcomes(report, failing)
    else:
        raise ValueError(f"mode={mode!r}: use 'profile' or 'columns'")
    return FeatureValidationResult(
        success=all(o.success for o in outcomes),
        outcomes=outcomes,
        rows=len(table),
        correlated=correlated_pairs(table, correlation_threshold),
    )


def correlated_pairs(
    table: pd.DataFrame, threshold: float = 0.95, min_periods: int = 100, max_rows: int = 200_000
) -> pd.DataFrame:
    """Feature pairs with |Pearson correlation| > ``threshold``: columns ``feature_a,
    feature_b, correlation``, strongest first. Computed on the rows where every feature
    is present, or pairwise (at least ``min_periods`` shared rows) when those are too few;
    tables longer than ``max_rows`` are sampled (fixed seed)."""
    if len(table) > max_rows:  # a fixed-seed row sample keeps this O(columns^2 * max_rows)
        table = table.sample(max_rows, random_state=0).sort_index()
    cols = [c for c in feature_columns(table) if table[c].nunique(dropna=True) > 1]
    values = table[cols].to_numpy(np.float64)
    complete = np.isfinite(values).all(axis=1)
    if complete.sum() >= min_periods:
        corr = np.corrcoef(values[complete], rowvar=False)
    else:  # pairwise-complete rows (slower): when warm-ups leave too few complete rows
        corr = table[cols].corr(min_periods=min_periods).to_numpy()
    iu, ju = np.triu_indices(len(cols), k=1)
    r = corr[iu, ju]
    keep = np.flatnonzero(np.abs(np.nan_to_num(r)) > threshold)
    out = pd.DataFrame({"feature_a": [cols[i] for i in iu[keep]],
                        "feature_b": [cols[j] for j in ju[keep]],
                        "correlation": r[keep]})  # fmt: skip
    return out.reindex(out["correlation"].abs().sort_values(ascending=False).index).reset_index(
        drop=True
    )
