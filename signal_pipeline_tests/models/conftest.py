"""Small, fast configurations of the members for the model tests."""

from __future__ import annotations

from typing import Any

import pytest

# Tiny members: the contract is what is tested here, not the spec's full sizes.
FAST_CONFIG: dict[str, Any] = {
    "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 1},
    "random_forest": {"n_estimators": 20, "max_depth": 6, "n_jobs": 1},
    "lstm": {
        "epochs": 3,
        "hidden_units": 8,
        "sequence_length": 10,
        "batch_size": 64,
        "patience": 2,
        "num_threads": 1,
        "device": "cpu",
    },
}


@pytest.fixture
def fast_config() -> dict[str, Any]:
    return {k: dict(v) for k, v in FAST_CONFIG.items()}
