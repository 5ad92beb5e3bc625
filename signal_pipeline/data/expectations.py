"""Great Expectations 1.x suites over DataFrames, with results as plain data.

Dagster asset checks (and anything else) call :func:`run_expectations` and get an
:class:`ExpectationReport` they can turn into metadata; nothing here knows Dagster.
Great Expectations is imported lazily: it takes seconds to import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict."""

    expectation: str
    arguments: dict[str, Any]
    success: bool
    unexpected_count: int
    unexpected_percent: float
    sample: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ExpectationReport:
    """A whole suite's verdict on one DataFrame."""

    suite: str
    rows: int
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    def to_markdown(self) -> str:
        lines = [
            "| expectation | arguments | ok | unexpected | % |",
            "|---|---|---|---|---|",
        ]
        for o in self.outcomes:
            args = ", ".join(f"{k}={v}" for k, v in o.arguments.items())
            mark = "yes" if o.success else "**NO**"
            lines.append(
                f"| {o.expectation} | {args} | {mark} | {o.unexpected_count} "
                f"| {o.unexpected_percent:.3g} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        if self.success:
            return f"{self.suite}: all {len(self.outcomes)} expectations met on {self.rows} rows"
        names = ", ".join(f"{o.expectation}({_short(o.arguments)})" for o in self.failed)
        return (
            f"{self.suite}: {len(self.failed)} of {len(self.outcomes)} expectations failed: {names}"
        )


def _short(arguments: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in arguments.values())


# A suite is described as (expectation class name, keyword arguments) pairs so callers
# need not import Great Expectations to declare one.
SuiteSpec = Sequence[tuple[str, dict[str, Any]]]


def run_expectations(df: pd.DataFrame, suite_name: str, suite: SuiteSpec) -> ExpectationReport:
    """Validate ``df`` against ``suite`` in an ephemeral Great Expectations context."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    _quiet_progress_bars(context)
    source = context.data_sources.add_pandas(f"{suite_name}_source")
    batch_definition = source.add_dataframe_asset(
        f"{suite_name}_frame"
    ).add_batch_definition_whole_dataframe("all")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    gx_suite = gx.ExpectationSuite(name=suite_name)
    for class_name, kwargs in suite:
        expectation_cls: Callable[..., Any] = getattr(gx.expectations, class_name)
        gx_suite.add_expectation(expectation_cls(**kwargs))
    result = batch.validate(gx_suite)
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        arguments = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                arguments=arguments,
                success=bool(item.success),
                unexpected_count=int(details.get("unexpected_count") or 0),
                unexpected_percent=float(details.get("unexpected_percent") or 0.0),
                sample=[_plain(v) for v in (details.get("partial_unexpected_list") or [])[:5]],
            )
        )
    return ExpectationReport(suite=suite_name, rows=len(df), outcomes=tuple(outcomes))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _quiet_progress_bars(context: Any) -> None:
    """Progress bars per metric flood logs of scheduled runs; turn them off."""
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # the setting moved between GX releases
        pass


PRICE_COLUMNS = ("open", "high", "low", "close")


def bar_suite() -> list[tuple[str, dict[str, Any]]]:
    """The raw-bar contract of DESIGN.md as expectations."""
    suite: list[tuple[str, dict[str, Any]]] = [
        (
            "ExpectTableColumnsToMatchSet",
            {"column_set": ["symbol", "ts", *PRICE_COLUMNS, "volume"], "exact_match": False},
        ),
        ("ExpectCompoundColumnsToBeUnique", {"column_list": ["symbol", "ts"]}),
    ]
    for column in (*PRICE_COLUMNS, "volume", "symbol", "ts"):
        suite.append(("ExpectColumnValuesToNotBeNull", {"column": column}))
    for column in PRICE_COLUMNS:
        suite.append(
            (
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": 0, "strict_min": True},
            )
        )
    suite += [
        ("ExpectColumnValuesToBeBetween", {"column": "volume", "min_value": 0}),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "high", "column_B": "low", "or_equal": True},
        ),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "high", "column_B": "close", "or_equal": True},
        ),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "close", "column_B": "low", "or_equal": True},
        ),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "high", "column_B": "open", "or_equal": True},
        ),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "open", "column_B": "low", "or_equal": True},
        ),
    ]
    return suite


def option_chain_suite() -> list[tuple[str, dict[str, Any]]]:
    """The option-chain contract as expectations."""
    suite: list[tuple[str, dict[str, Any]]] = [
        (
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": ["symbol", "ts", "expiry", "strike", "option_type"]},
        ),
        ("ExpectColumnValuesToBeInSet", {"column": "option_type", "value_set": ["C", "P"]}),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "expiry", "column_B": "ts", "or_equal": False},
        ),
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "ask", "column_B": "bid", "or_equal": True},
        ),
    ]
    for column in ("strike", "underlying_price"):
        suite.append(
            (
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": 0, "strict_min": True},
            )
        )
    for column in ("bid", "ask", "volume", "open_interest"):
        suite.append(("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0}))
    for column in ("symbol", "ts", "expiry", "strike", "bid", "ask"):
        suite.append(("ExpectColumnValuesToNotBeNull", {"column": column}))
    return suite
