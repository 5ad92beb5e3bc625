"""A local write-ahead spool for signals the database could not take.

When a write fails because the database is unreachable, the batch is appended here (one
JSON line per signal, fsynced) before the error is raised, so nothing is lost. The next
successful write, or an explicit ``SignalStore.flush_outbox()``, sends the spool again;
signals carry idempotency keys, so a batch that did land before the failure is not
stored twice. A file lock makes the spool safe for several processes at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from signal_pipeline.signals.model import Signal


class Outbox:
    """Append-only JSONL spool of unsent signals, one file per database."""

    def __init__(self, folder: Path, database: str) -> None:
        digest = hashlib.sha256(database.encode()).hexdigest()[:12]
        self.path = Path(folder) / f"signals-outbox-{digest}.jsonl"
        self._lock_path = self.path.with_suffix(".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, signals: Sequence[Signal]) -> None:
        """Spool signals durably (fsync) so a crash right after still keeps them."""
        if not signals:
            return
        lines = "".join(json.dumps(s.to_dict()) + "\n" for s in signals)
        with self._locked(), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def pending(self) -> int:
        """Number of spooled signals."""
        if not self.path.exists():
            return 0
        with self._locked(), open(self.path, encoding="utf-8") as fh:
            return sum(1 for line in fh if line.strip())

    def has_pending(self) -> bool:
        """Cheap check used before every write (no lock, no read)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def drain(self, send: Callable[[list[Signal]], object]) -> int:
        """Send every spooled signal with ``send``; the spool is emptied only if it succeeds.

        Returns the number of signals sent. Any exception from ``send`` propagates and
        leaves the spool intact.
        """
        with self._locked():
            if not self.path.exists():
                return 0
            with open(self.path, encoding="utf-8") as fh:
                signals = [Signal.from_dict(json.loads(line)) for line in fh if line.strip()]
            if signals:
                send(signals)
            # Replace (not truncate in place) so a crash mid-way leaves the old spool whole.
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("", encoding="utf-8")
            os.replace(tmp, self.path)
            return len(signals)
