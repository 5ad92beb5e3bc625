"""The errors raised when a table breaks its contract, and the quarantine warning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_SHOWN_ROWS = 10


class DataContractError(ValueError):
    """A table broke its contract. ``rule`` is the (first) broken rule, ``rows`` the
    0-based positions of the offending rows in the input (empty for table-wide
    problems), ``counts`` the number of rows per broken rule."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None,
        rule: str,
        rows: Sequence[int] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.rule = rule
        self.rows = [int(r) for r in rows]
        self.counts = dict(counts) if counts is not None else {rule: len(self.rows)}


class BarDataError(DataContractError):
    """Bars broke the bar contract."""


class QuoteDataError(DataContractError):
    """Quotes broke the quote contract."""


class OptionChainError(DataContractError):
    """An option chain broke the option-chain contract."""


class DataQuarantineWarning(UserWarning):
    """Rows were set aside in quarantine (``errors='quarantine'``)."""


ERROR_CLASSES: dict[str, type[DataContractError]] = {
    "bars": BarDataError,
    "quotes": QuoteDataError,
    "option_chains": OptionChainError,
}


def show_rows(rows: Sequence[int]) -> str:
    """``[3, 8, ... 12 more]``: the first few row numbers and how many more."""
    shown = ", ".join(str(r) for r in rows[:_SHOWN_ROWS])
    more = f", ... {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    return f"[{shown}{more}]"
