"""Arithmetic the kernels share with TA-Lib's C code.

TA-Lib (C 0.8.x) writes its recursive smoothers with ``fma()``: ``a * b + c`` rounded
once (the FMA instruction where the CPU has it, libm's correctly rounded ``fma()``
elsewhere, so the result is the same on every machine). A separate multiply and add
differs from it in the last bits; LLVM's fma intrinsic is the same operation.
"""

from __future__ import annotations

from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (float64)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit(cache=True, inline="always")
def true_range(high: float, low: float, prev_close: float) -> float:
    """Wilder's true range, TA-Lib's way: the largest of high - low, |high - previous
    close| and |low - previous close| (exact: a max of exact differences)."""
    tr = high - low
    up = abs(high - prev_close)
    if up > tr:
        tr = up
    down = abs(low - prev_close)
    if down > tr:
        tr = down
    return tr
