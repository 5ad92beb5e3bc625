"""Hand a feature frame from a worker process to the parent through shared memory.

One symbol's feature frame is ~94 MB of float64 (505 columns x 23,400 rows). Pickling it
through the pool's pipe cost ~0.15 s to write and ~0.08 s to read (measured), as much as
computing it (~0.15 s), and the parent's reads are serial. Instead:

- the worker computes the features straight into a file in ``/dev/shm`` (tmpfs: memory,
  no disk) mapped as the output block (:class:`SharedBlock`, the ``allocate`` hook of
  ``symbol_features``), and sends only the file's name with the few other columns
  (:class:`SharedFrame`); the parent maps the file and wraps the mapping as the frame's
  float block, with no copy;
- fresh tmpfs pages cost about what the copy they replace did (~0.05 s a symbol,
  measured), so the parent recycles the files (:class:`ShmFiles`): once a frame is freed,
  its file goes back to a free list and the next task computes into the pages already
  there (measured: a worker's task then costs what the same symbol costs in-process). A
  file is only reused after every array viewing its mapping is gone (a finalizer on the
  array every view derives from), so a frame the caller holds is never overwritten. All
  files are removed when the computation ends; frames still held keep their pages until
  they are freed.

Where ``/dev/shm`` is missing or full, the block is ordinary memory and the frame is
copied into a file after all (:func:`share_frame`), or travels pickled.
"""

from __future__ import annotations

import mmap
import os
import secrets
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SHM_DIR = Path("/dev/shm")
_PREFIX = "signal_pipeline_features_"


@dataclass(frozen=True)
class SharedFrame:
    """A frame whose float64 columns lie in the shared-memory file ``path``."""

    path: str
    shape: tuple[int, int]  # (float columns, rows)
    float_columns: list[object]
    others: pd.DataFrame  # the remaining columns, same index
    order: list[object]  # the frame's column order
    attrs: dict[str, object]

    def load(self, files: ShmFiles | None = None) -> pd.DataFrame:
        """The frame, its float block backed by the mapping. Without ``files`` the file's
        name is removed at once; with it, the file returns to ``files`` once freed."""
        fd = os.open(self.path, os.O_RDWR)
        try:
            size = self.shape[0] * self.shape[1] * 8
            mapping = mmap.mmap(fd, size) if size else None
        finally:
            os.close(fd)
            if files is None or mapping is None:
                os.unlink(self.path)
        if mapping is None:
            block = np.empty(self.shape, dtype=np.float64)
        else:
            # The array holds the mapping: the pages live until the frame is freed.
            flat = np.frombuffer(mapping, dtype=np.float64)
            if files is not None:
                files.hold(self.path, flat)
            block = flat.reshape(self.shape)
        floats = pd.DataFrame(
            block.T, index=self.others.index, columns=self.float_columns, copy=False
        )
        frame = pd.concat([self.others, floats], axis=1, copy=False)
        if list(frame.columns) != self.order:
            frame = frame[self.order]
        frame.attrs = dict(self.attrs)
        return frame

    def discard(self) -> None:
        """Remove the file of a frame that will not be loaded (the caller stopped early)."""
        Path(self.path).unlink(missing_ok=True)


class ShmFiles:
    """The parent's shared-memory files, reused once the frame mapping one is freed."""

    def __init__(self) -> None:
        self._free: list[str] = []
        self._paths: set[str] = set()
        self._closed = False

    def take(self) -> str | None:
        """A free file for the next task to write into, or None (the task makes one)."""
        return self._free.pop() if self._free else None

    def hold(self, path: str, base: np.ndarray) -> None:
        """``path`` is mapped by ``base`` (every view of the frame's block derives from
        it): free it for reuse when ``base`` is garbage."""
        self._paths.add(path)
        weakref.finalize(base, self._release, path)

    def _release(self, path: str) -> None:
        if self._closed:
            Path(path).unlink(missing_ok=True)
        else:
            self._free.append(path)

    def close(self) -> None:
        """Remove every file; mapped ones keep their pages until their frames are freed."""
        self._closed = True
        for path in self._paths:
            Path(path).unlink(missing_ok=True)
        self._free.clear()
        self._paths.clear()


def _open_target(reuse: str | None, nbytes: int) -> tuple[int, Path]:
    """A file of ``nbytes`` to write a frame into: ``reuse`` (resized) if given and still
    there, else a new one."""
    if reuse is not None:
        try:
            fd = os.open(reuse, os.O_RDWR)
        except FileNotFoundError:
            pass
        else:
            if os.fstat(fd).st_size > nbytes:
                os.ftruncate(fd, nbytes)
            return fd, Path(reuse)
    path = SHM_DIR / f"{_PREFIX}{os.getpid()}_{secrets.token_hex(8)}"
    return os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600), path


def share_frame(frame: pd.DataFrame, reuse: str | None = None) -> SharedFrame | pd.DataFrame:
    """In a worker: ``frame``'s float64 columns written to a shared-memory file (``reuse``,
    a free file of :class:`ShmFiles`, when given), or the frame itself when there is no
    room (it is then pickled)."""
    is_float = (frame.dtypes == np.float64).to_numpy()
    positions = np.flatnonzero(is_float)
    if not SHM_DIR.is_dir() or positions.size == 0:
        return frame
    # (columns, rows) C-order: the layout pandas keeps a float block in.
    shape = (int(positions.size), len(frame))
    fd, path = _open_target(reuse, shape[0] * shape[1] * 8)
    try:
        # write(), not a mapping: no page faults in this process, and a full tmpfs
        # raises ENOSPC (a write through a mapping would kill the worker with SIGBUS).
        # Column by column: each is a contiguous row of the (columns, rows) layout.
        with os.fdopen(fd, "wb", closefd=False) as out:
            for j in positions:
                column = np.ascontiguousarray(frame.iloc[:, j].to_numpy(), dtype=np.float64)
                out.write(memoryview(column).cast("B"))
    except OSError:
        path.unlink(missing_ok=True)
        return frame
    finally:
        os.close(fd)
    return SharedFrame(
        str(path),
        shape,
        list(frame.columns[is_float]),
        frame.loc[:, ~is_float],
        list(frame.columns),
        dict(frame.attrs),
    )


class SharedBlock:
    """In a worker: an ``allocate`` for :func:`~.pipeline.symbol_features` that puts the
    output block in a shared-memory file (``reuse``, a free file of :class:`ShmFiles`,
    when given) from the start, so that handing the frame over copies nothing."""

    def __init__(self, reuse: str | None = None) -> None:
        self.reuse = reuse
        self.path: Path | None = None
        self.shape: tuple[int, int] | None = None

    def __call__(self, shape: tuple[int, int]) -> np.ndarray:
        nbytes = shape[0] * shape[1] * 8
        if not SHM_DIR.is_dir() or nbytes == 0:
            return np.empty(shape, dtype=np.float64)
        fd, path = _open_target(self.reuse, nbytes)
        try:
            if os.fstat(fd).st_size < nbytes:
                # Reserve the pages: a write through the mapping past the tmpfs's capacity
                # would kill the worker with SIGBUS; this raises ENOSPC instead.
                os.posix_fallocate(fd, 0, nbytes)
            # POPULATE maps every page at once: one fault per page costs more.
            mapping = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        except OSError:
            if str(path) != self.reuse:
                path.unlink(missing_ok=True)
            return np.empty(shape, dtype=np.float64)
        finally:
            os.close(fd)
        self.path, self.shape = path, shape
        # The array holds the mapping; it is unmapped when the worker's frame is freed.
        return np.frombuffer(mapping, dtype=np.float64).reshape(shape)

    def share(self, frame: pd.DataFrame) -> SharedFrame | pd.DataFrame:
        """``frame``, whose float columns are this block in order, for the parent (or, if
        the block is not in a file, :func:`share_frame`'s copy)."""
        is_float = (frame.dtypes == np.float64).to_numpy()
        if self.path is None or self.shape != (int(is_float.sum()), len(frame)):
            self.discard()
            return share_frame(frame, self.reuse)
        return SharedFrame(
            str(self.path),
            self.shape,
            list(frame.columns[is_float]),
            frame.loc[:, ~is_float],
            list(frame.columns),
            dict(frame.attrs),
        )

    def discard(self) -> None:
        """Remove a file this block created (a reused one stays with the parent)."""
        if self.path is not None and str(self.path) != self.reuse:
            self.path.unlink(missing_ok=True)
        self.path = None
