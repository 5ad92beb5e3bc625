"""LSTM member (PyTorch): a sequence of feature rows in, SELL / HOLD / BUY probabilities out.

Sequences. The wrapper builds its own sequences from the feature table: the sequence of a
row is the ``sequence_length`` rows of the same symbol ending at that row, in ``ts`` order
(rows are sorted by (symbol, ts) internally and answers are returned in the caller's row
order). Sequences may span sessions: every feature row is already known at its ``ts``.
A row with fewer than ``sequence_length - 1`` predecessors *in the X it is given* is
**front-padded with zeros**, which after standardisation is the training mean of every
feature, so every row gets a prediction. In cross-validation the first rows of each
symbol in a test window are padded this way even though older history exists.
Without ``symbol``/``ts`` keys (a bare array) all rows form one sequence in the given order.

Training. Features are standardised with means and standard deviations fitted in ``fit``
(NaN becomes 0, the mean). Adam on (sample-weighted) cross-entropy, mini-batches shuffled
by a seeded generator, early stopping on a validation tail (the latest
``validation_fraction`` of distinct timestamps) with ``patience`` epochs; the best epoch's
weights are kept. Seeds are set from ``random_state``; during fit and predict torch runs
with deterministic algorithms (warn-only) and ``num_threads`` CPU threads, and both global
settings are restored afterwards. ``device: auto`` uses CUDA when available, else the CPU.

Prediction. Sequences go through the network in batches of at least ``_MIN_BATCH``
(smaller ones are padded with all-zero sequences whose outputs are dropped): on the CPU,
oneDNN's LSTM picks other GEMM kernels for batches under ~12 sequences, whose float32
rounding differs, while from there on a sequence's output does not depend on the batch
size, its position or the other sequences (tested). So :meth:`LSTMModel.predict_last`,
which evaluates only the last row's sequence (a live signal), equals the last row of
:meth:`LSTMModel.predict_proba` on the same rows bit for bit.

Saved as a torch ``state_dict`` (``model.pt``, read back with ``weights_only=True``) plus
``meta.json`` with the params, the standardisation and the training history.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from signal_pipeline.models.base import (
    ModelError,
    SignalModel,
    check_labels,
    check_sample_weight,
    expand_proba,
    feature_matrix,
    read_meta,
    row_keys,
    write_meta,
)

MODEL_FILE = "model.pt"
_PREDICT_BATCH = 2048
#: Smallest batch given to the network at predict time (see the module docstring).
_MIN_BATCH = 16


class LSTMNet(nn.Module):
    """LSTM over the sequence, dropout on the last hidden state, a linear layer to logits."""

    def __init__(
        self, n_features: int, hidden: int, num_layers: int, dropout: float, n_out: int
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        return self.head(self.dropout(output[:, -1, :]))


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"lstm device={name!r} but CUDA is not available: use 'auto' or 'cpu'.")
    return torch.device(name)


@contextmanager
def _torch_runtime(num_threads: int | None) -> Iterator[None]:
    """Deterministic algorithms and a thread count for the duration, then restore both."""
    threads = int(num_threads or min(4, os.cpu_count() or 1))
    saved_threads = torch.get_num_threads()
    saved_det = torch.are_deterministic_algorithms_enabled()
    saved_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    # Only what differs is set: a live request on an already configured process pays
    # for reading the settings, not for re-sizing torch's thread pool twice.
    if threads != saved_threads:
        torch.set_num_threads(threads)
    if not (saved_det and saved_warn):
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        if threads != saved_threads:
            torch.set_num_threads(saved_threads)
        if not (saved_det and saved_warn):
            torch.use_deterministic_algorithms(saved_det, warn_only=saved_warn)


class _Sequences:
    """Index of length-L windows over standardised rows, grouped by symbol and padded."""

    def __init__(self, values: np.ndarray, keys: pd.DataFrame | None, length: int) -> None:
        n, n_features = values.shape
        if keys is None:
            order = np.arange(n)
            group_starts = np.array([0]) if n else np.array([], dtype=np.int64)
        else:
            sorted_keys = keys.assign(_row=np.arange(n)).sort_values(
                ["symbol", "ts"], kind="stable"
            )
            order = sorted_keys["_row"].to_numpy()
            symbols = sorted_keys["symbol"].to_numpy()
            group_starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]]) if n else []
        # Every symbol gets length-1 zero rows in front, so the window of its first row
        # is all padding but itself.
        group_of_sorted = np.zeros(n, dtype=np.int64)
        if n:
            group_of_sorted[np.asarray(group_starts[1:], dtype=np.int64)] = 1
            group_of_sorted = np.cumsum(group_of_sorted)
        pad = length - 1
        padded = np.zeros((n + pad * len(group_starts), n_features), dtype=np.float32)
        position_sorted = np.arange(n) + pad * (group_of_sorted + 1)
        padded[position_sorted] = values[order]
        self.length = length
        self.n_features = n_features
        self._windows = sliding_window_view(padded, length, axis=0)  # (m, F, L), a view
        self.start = np.empty(n, dtype=np.int64)
        self.start[order] = position_sorted - pad  # window start, in the caller's row order

    def batch(self, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(
            np.ascontiguousarray(self._windows[self.start[rows]].swapaxes(1, 2))
        )


class LSTMModel(SignalModel):
    """LSTM classifier over per-symbol sequences; params: the ``lstm`` section of models.yaml.

    Learned: ``net_``, ``mean_``, ``scale_``, ``present_classes_``, ``n_features_in_``,
    ``feature_names_in_``, ``history_`` (train/validation loss per epoch), ``best_epoch_``.
    """

    kind: ClassVar[str] = "lstm"

    def _net(self, n_features: int, n_out: int) -> LSTMNet:
        p = self.params
        return LSTMNet(
            n_features,
            int(p.get("hidden_units", 64)),
            int(p.get("num_layers", 1)),
            float(p.get("dropout_rate", 0.2)),
            n_out,
        )

    def _standardise(self, values: np.ndarray) -> np.ndarray:
        scaled = (values - self.mean_) / self.scale_
        return np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)

    def _validation_rows(self, keys: pd.DataFrame | None, n: int) -> np.ndarray:
        fraction = float(self.params.get("validation_fraction", 0.1))
        if not 0.0 <= fraction < 1.0:
            raise ModelError(f"lstm validation_fraction={fraction}: must lie in [0, 1).")
        if fraction == 0.0 or n < 10:
            return np.zeros(n, dtype=bool)
        if keys is None:
            return np.arange(n) >= n - max(1, round(n * fraction))
        distinct = np.sort(pd.unique(keys["ts"]))
        cut = distinct[max(0, math.floor(len(distinct) * (1.0 - fraction)))]
        return (keys["ts"] >= cut).to_numpy()

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        values, names = feature_matrix(X)
        labels = check_labels(y, len(values))
        weight = check_sample_weight(sample_weight, len(values))
        if len(values) == 0:
            raise ModelError("X has no rows: LSTMModel needs training data.")
        p = self.params
        seed = int(p.get("random_state", 0))
        device = resolve_device(p.get("device", "auto"))
        keys = row_keys(X)
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        self.present_classes_ = np.unique(labels)
        with np.errstate(invalid="ignore"), _torch_runtime(p.get("num_threads")):
            self.mean_ = np.nan_to_num(np.nanmean(values, axis=0))
            scale = np.nan_to_num(np.nanstd(values, axis=0))
            self.scale_ = np.where(scale > 0, scale, 1.0)
            sequences = _Sequences(
                self._standardise(values), keys, int(p.get("sequence_length", 50))
            )
            target = torch.from_numpy(np.searchsorted(self.present_classes_, labels))
            w = torch.from_numpy(np.ones(len(values)) if weight is None else weight).float()
            is_val = self._validation_rows(keys, len(values))
            train_rows = np.flatnonzero(~is_val)
            val_rows = np.flatnonzero(is_val)
            torch.manual_seed(seed)
            net = self._net(len(names), len(self.present_classes_)).to(device)
            self.history_ = self._train(net, sequences, target, w, train_rows, val_rows, device)
        self.net_ = net.eval()
        self.device_ = device
        return self

    def _train(
        self,
        net: LSTMNet,
        sequences: _Sequences,
        target: torch.Tensor,
        weight: torch.Tensor,
        train_rows: np.ndarray,
        val_rows: np.ndarray,
        device: torch.device,
    ) -> dict[str, list[float]]:
        p = self.params
        rng = np.random.default_rng(int(p.get("random_state", 0)))
        optimiser = torch.optim.Adam(net.parameters(), lr=float(p.get("learning_rate", 1e-3)))
        loss_fn = nn.CrossEntropyLoss(reduction="none")
        batch_size = int(p.get("batch_size", 32))
        patience = int(p.get("patience", 10))
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        best_loss, best_state, since_best = math.inf, copy.deepcopy(net.state_dict()), 0
        self.best_epoch_ = 0

        def weighted_loss(rows: np.ndarray) -> torch.Tensor:
            logits = net(sequences.batch(rows).to(device))
            w = weight[rows].to(device)
            return (loss_fn(logits, target[rows].to(device)) * w).sum() / w.sum().clamp_min(1e-12)

        for epoch in range(int(p.get("epochs", 100))):
            net.train()
            total = 0.0
            shuffled = rng.permutation(train_rows)
            for start in range(0, len(shuffled), batch_size):
                batch = shuffled[start : start + batch_size]
                optimiser.zero_grad()
                loss = weighted_loss(batch)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
            history["train_loss"].append(total / max(1, len(train_rows)))
            if len(val_rows) == 0:
                best_state, self.best_epoch_ = copy.deepcopy(net.state_dict()), epoch
                continue
            net.eval()
            with torch.no_grad():
                chunks = [
                    val_rows[s : s + _PREDICT_BATCH]
                    for s in range(0, len(val_rows), _PREDICT_BATCH)
                ]
                val_loss = sum(float(weighted_loss(c)) * len(c) for c in chunks) / len(val_rows)
            history["val_loss"].append(val_loss)
            if val_loss < best_loss - 1e-6:
                best_loss, best_state, since_best = val_loss, copy.deepcopy(net.state_dict()), 0
                self.best_epoch_ = epoch
            else:
                since_best += 1
                if since_best >= patience:
                    break
        net.load_state_dict(best_state)
        return history

    def _proba(self, batch: torch.Tensor) -> np.ndarray:
        """Class probabilities (present classes) of a (n, L, F) float32 batch of
        sequences, run in batches of at least ``_MIN_BATCH`` (see the module docstring).
        Call inside ``_torch_runtime`` and ``torch.inference_mode``."""
        n = batch.shape[0]
        if n < _MIN_BATCH:
            padding = torch.zeros((_MIN_BATCH - n, *batch.shape[1:]), dtype=batch.dtype)
            batch = torch.cat([batch, padding])
        logits = self.net_(batch.to(self.device_))[:n]
        out = torch.softmax(logits.double(), dim=1).cpu().numpy()
        out /= out.sum(axis=1, keepdims=True)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        self._require_fitted()
        values, names = feature_matrix(X)
        self._check_features(names)
        sequences = _Sequences(
            self._standardise(values), row_keys(X), int(self.params.get("sequence_length", 50))
        )
        out = np.empty((len(values), len(self.present_classes_)), dtype=np.float64)
        with _torch_runtime(self.params.get("num_threads")), torch.inference_mode():
            self.net_.eval()
            for start in range(0, len(values), _PREDICT_BATCH):
                rows = np.arange(start, min(len(values), start + _PREDICT_BATCH))
                out[rows] = self._proba(sequences.batch(rows))
        return expand_proba(out, self.present_classes_)

    def predict_last(self, X: Any) -> np.ndarray:
        """``predict_proba(X)[-1:]``, computing only that row's sequence: the (1, 3)
        probabilities of the last row of ``X`` (a live signal's row). With a bare array
        only the last ``sequence_length`` rows are read."""
        self._require_fitted()
        length = int(self.params.get("sequence_length", 50))
        if isinstance(X, pd.DataFrame):
            values, names = feature_matrix(X)
            self._check_features(names)
            if len(values) == 0:
                raise ModelError("X has no rows: predict_last needs at least one row.")
            sequences = _Sequences(self._standardise(values), row_keys(X), length)
            batch = sequences.batch(np.array([len(values) - 1]))
        else:
            values = np.asarray(X, dtype=np.float64)
            if values.ndim != 2 or len(values) == 0:
                raise ModelError(
                    f"X has shape {values.shape}: expected a 2-D (rows, features) array with "
                    "at least one row."
                )
            self._check_features([""] * values.shape[1])
            tail = values[-length:]
            window = np.zeros((1, length, values.shape[1]), dtype=np.float32)
            window[0, length - len(tail) :] = self._standardise(tail)  # front zero padding
            batch = torch.from_numpy(window)
        with _torch_runtime(self.params.get("num_threads")), torch.inference_mode():
            self.net_.eval()
            out = self._proba(batch)
        return expand_proba(out, self.present_classes_)

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.net_.state_dict().items()}
        torch.save(state, folder / MODEL_FILE)
        write_meta(
            folder,
            {
                **self._base_meta(),
                "mean_": self.mean_.tolist(),
                "scale_": self.scale_.tolist(),
                "history_": self.history_,
                "best_epoch_": int(self.best_epoch_),
            },
        )
        return folder

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> Self:
        folder = Path(path)
        meta = read_meta(folder)
        if meta.get("kind") != cls.kind:
            raise ModelError(f"{folder} holds a {meta.get('kind')!r} model, not {cls.kind!r}.")
        model = cls(meta["params"])
        model.feature_names_in_ = list(meta["feature_names_in_"])
        model.n_features_in_ = len(model.feature_names_in_)
        model.present_classes_ = np.asarray(meta["present_classes_"], dtype=np.int64)
        model.mean_ = np.asarray(meta["mean_"], dtype=np.float64)
        model.scale_ = np.asarray(meta["scale_"], dtype=np.float64)
        model.history_ = meta["history_"]
        model.best_epoch_ = int(meta["best_epoch_"])
        model.device_ = resolve_device(device or meta["params"].get("device", "auto"))
        net = model._net(model.n_features_in_, len(model.present_classes_))
        state = torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        model.net_ = net.to(model.device_).eval()
        return model
