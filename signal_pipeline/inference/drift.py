"""Feature drift of live inputs against the training reference: PSI per feature and KS.

**Reference** (:class:`DriftReference`, built once from the training feature table):
per feature, the inner edges of ``n_bins`` quantile bins (deciles by default; ties
merge bins), the reference share of each bin, and a sorted sample of at most
``sample_size`` reference values (every value when there are fewer; otherwise the
reference quantiles at ``(i + 0.5) / sample_size``) for the KS statistic. Saved as one
Parquet file.

**PSI** (population stability index; Siddiqi, *Credit Risk Scorecards*, 2006):
``PSI = sum_b (a_b - e_b) * ln(a_b / e_b)`` over the bins, ``e_b`` the reference share,
``a_b`` the live share, both floored at ``eps = 1e-4`` so an empty bin stays finite.
Usual reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.

**KS**: the two-sample Kolmogorov-Smirnov statistic ``D = sup_x |F_ref(x) - F_live(x)|``
of the empirical CDFs (equal to ``scipy.stats.ks_2samp(...).statistic`` when the
reference sample holds every reference value), with its approximate p-value.

NaN values are left out on both sides; ``n_live`` says how many values were compared.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

PSI_EPS = 1e-4
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25


class DriftInputError(ValueError):
    """Inputs to a drift computation that cannot be compared (names the fix)."""


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    values = values[np.isfinite(values)]
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / max(1, len(values))


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = PSI_EPS) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), eps)
    a = np.maximum(np.asarray(actual, dtype=np.float64), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic ``sup |F_a - F_b|`` (NaN left out; 0 when either is empty)."""
    a = np.sort(a[np.isfinite(a)])
    b = np.sort(b[np.isfinite(b)])
    if len(a) == 0 or len(b) == 0:
        return 0.0
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Approximate two-sided p-value of a two-sample KS statistic: the one-sample KS
    distribution at the effective size ``round(n m / (n + m))`` (scipy's "asymp")."""
    if n == 0 or m == 0:
        return 1.0
    return float(stats.kstwo.sf(d, round(n * m / (n + m))))


@dataclass(frozen=True)
class DriftReference:
    """The training distribution of each feature (see the module docstring)."""

    features: list[str]
    edges: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    sample: dict[str, np.ndarray]
    n_rows: int

    @classmethod
    def from_features(
        cls,
        features: pd.DataFrame,
        feature_names: Sequence[str] | None = None,
        *,
        n_bins: int = 10,
        sample_size: int = 1000,
    ) -> DriftReference:
        """Build from a training feature table (keys ``symbol``/``ts`` are skipped)."""
        if n_bins < 2 or sample_size < 2:
            raise DriftInputError(f"n_bins={n_bins}, sample_size={sample_size}: both must be >= 2.")
        names = list(feature_names or [c for c in features.columns if c not in ("symbol", "ts")])
        missing = [n for n in names if n not in features.columns]
        if missing:
            raise DriftInputError(
                f"the feature table lacks {missing[:5]}: pass the training table."
            )
        edges, expected, sample = {}, {}, {}
        for name in names:
            values = features[name].to_numpy(dtype=np.float64)
            values = np.sort(values[np.isfinite(values)])
            if len(values) == 0:
                edges[name], expected[name], sample[name] = np.empty(0), np.ones(1), np.empty(0)
                continue
            inner = np.unique(np.quantile(values, np.arange(1, n_bins) / n_bins))
            edges[name] = inner
            expected[name] = bin_shares(values, inner)
            if len(values) <= sample_size:
                sample[name] = values
            else:
                sample[name] = np.quantile(values, (np.arange(sample_size) + 0.5) / sample_size)
        return cls(names, edges, expected, sample, len(features))

    def save(self, path: str | Path) -> Path:
        """Write one Parquet file (atomically: a temporary sibling, then a rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(
            {
                "feature": self.features,
                "edges": [self.edges[n].tolist() for n in self.features],
                "expected": [self.expected[n].tolist() for n in self.features],
                "sample": [self.sample[n].tolist() for n in self.features],
                "n_rows": self.n_rows,
            }
        )
        staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        frame.to_parquet(staging, index=False)
        os.replace(staging, target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> DriftReference:
        frame = pd.read_parquet(path)
        names = [str(n) for n in frame["feature"]]

        def arrays(column: str) -> dict[str, np.ndarray]:
            return {
                n: np.asarray(v, dtype=np.float64)
                for n, v in zip(names, frame[column], strict=True)
            }

        n_rows = int(frame["n_rows"].iloc[0]) if len(frame) else 0
        return cls(names, arrays("edges"), arrays("expected"), arrays("sample"), n_rows)


def drift_report(reference: DriftReference, live: pd.DataFrame) -> pd.DataFrame:
    """PSI and KS per reference feature for the ``live`` rows (a frame with the features
    as columns). Columns: ``feature, psi, ks, ks_pvalue, n_live, status`` (stable /
    moderate / significant by PSI), sorted by PSI, largest first."""
    missing = [n for n in reference.features if n not in live.columns]
    if missing:
        raise DriftInputError(f"live rows lack features {missing[:5]} of the reference.")
    rows = []
    for name in reference.features:
        values = live[name].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        value_psi = psi(reference.expected[name], bin_shares(values, reference.edges[name]))
        d = ks_statistic(reference.sample[name], values)
        n_ref = len(reference.sample[name])
        rows.append((name, value_psi, d, ks_pvalue(d, n_ref, len(values)), len(values)))
    out = pd.DataFrame(rows, columns=["feature", "psi", "ks", "ks_pvalue", "n_live"])
    out["status"] = np.select(
        [out["psi"] > PSI_SIGNIFICANT, out["psi"] > PSI_MODERATE],
        ["significant", "moderate"],
        default="stable",
    )
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def drift_plot(report: pd.DataFrame, top: int = 20) -> bytes:
    """PNG bar chart of the ``top`` features by PSI with the 0.1 / 0.25 guide lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = report.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(shown) + 1)))
    colours = shown["status"].map(
        {"stable": "tab:green", "moderate": "tab:orange", "significant": "tab:red"}
    )
    ax.barh(shown["feature"], shown["psi"], color=list(colours))
    for level in (PSI_MODERATE, PSI_SIGNIFICANT):
        ax.axvline(level, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("PSI (live vs training)")
    ax.set_title(f"Feature drift: top {len(shown)} by PSI")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
