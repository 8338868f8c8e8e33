"""Comparing floats from two code paths, so that a comparison holds on any CPU.

Two L-BFGS runs in fp32 on a non-convex objective follow the same path only while their
rounding agrees, and the summation order (threads, SIMD width, BF16/AVX-512 kernels) differs
from CPU to CPU: on one AVX-512 box two correct solvers were 1.6e-2 apart after 12
evaluations at one thread. In float64 the same two solvers agree to about 1e-13 over the
whole run (measured 5e-14 worst at 1, 2 and 4 threads), so a tolerance of 1e-9 leaves four
orders of margin for any CPU's rounding and still catches a solver that goes wrong: a wrong
sign or a stale history is off by more than 1e-3 within a few evaluations.
"""

from __future__ import annotations

# float64 paths of two correct solvers: about 1e-13 apart; a broken one: above 1e-3.
FLOAT64_PATH_TOLERANCE = 1e-9


def relative_gaps(reference: list[float], other: list[float]) -> list[float]:
    """|a - b| / |a| per evaluation, over the evaluations both made."""
    return [abs(a - b) / abs(a) if a else abs(b) for a, b in zip(reference, other)]


def same_path(reference: list[float], other: list[float],
              tolerance: float = FLOAT64_PATH_TOLERANCE) -> bool:
    """Same number of evaluations and every loss within `tolerance` of the reference's."""
    return len(reference) == len(other) and max(relative_gaps(reference, other),
                                                 default=0.0) <= tolerance


def float64_engine(engine_class, weights, **kwargs):
    """A StyleTransfer whose VGG trunks run in float64 (the product renders in fp32 or
    bf16; float64 is only how tests make two solvers' arithmetic agree)."""
    engine = engine_class(weights.conv, weights.preprocessing, "cpu", **kwargs)
    build = engine.encoder

    def encoder(*args, **kw):
        return build(*args, **kw).double()
    engine.encoder = encoder
    return engine
