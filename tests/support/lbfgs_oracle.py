"""The reference L-BFGS that the engine's solver is checked against (tests, benchmarks).

torch.optim.LBFGS's algorithm written for one tensor: torch's two-loop recursion (with the
history coefficients kept on the device) and torch's own strong Wolfe line search, the
private `_strong_wolfe`. It was the engine's first loop; production now runs only
`deepart_batch.engine.solver.lbfgs` (compact form, host-float line search), which must take
the same iterates to rounding. Benchmarks import it with tests/ on sys.path.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import torch
from torch.optim.lbfgs import _strong_wolfe  # private, but unchanged since torch 1.4

Evaluate = Callable[[torch.Tensor], torch.Tensor]


class BudgetSpent(Exception):
    """Raised when the optimiser asks for one evaluation more than its budget."""


def lbfgs_two_loop(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 1.0,
                   history: int = 100, line_search: str | None = "strong_wolfe") -> None:
    """L-BFGS for `steps` evaluations (fewer only at a zero gradient), leaving the best
    iterate in x: torch.optim.LBFGS's direction, first step and strong Wolfe line search.
    A line search cut off by the budget leaves x at an untested trial point, so the best
    point seen is kept and returned."""
    if steps <= 0:
        return
    best, best_loss, count = x.detach().clone(), math.inf, 0

    def loss_and_grad(flat: torch.Tensor) -> tuple[float, torch.Tensor]:
        nonlocal best_loss, count
        if count >= steps:
            raise BudgetSpent
        with torch.no_grad():
            x.copy_(flat.view_as(x))
        x.grad = None
        with torch.enable_grad():
            loss = evaluate(x)
        count += 1
        value = float(loss)
        if value < best_loss:
            best_loss = value
            best.copy_(x.detach())
        return value, x.grad.reshape(-1)

    def along(flat, t, d):  # the line search's objective at flat + t * d
        return loss_and_grad(flat + t * d)

    with torch.no_grad():
        flat = x.detach().reshape(-1).clone()
        try:
            loss, g = loss_and_grad(flat)
            pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1/ys)
            d, t, g_prev, scale, first = None, None, None, 1.0, True
            while True:
                if first:
                    d = g.neg()
                else:
                    y, s = g - g_prev, d * t
                    ys = y.dot(s)
                    if ys > 1e-10:  # curvature condition
                        if len(pairs) == history:
                            pairs.pop(0)
                        pairs.append((s, y, 1.0 / ys))
                        scale = ys / y.dot(y)
                    d = two_loop_direction(g, pairs, scale)
                t = min(1.0, 1.0 / g.abs().sum()) * lr if first else lr
                gtd = g.dot(d)
                if gtd >= 0:  # not a descent direction
                    if first:
                        break  # zero gradient: nothing left to do
                    pairs, scale, first = [], 1.0, True  # drop the memory, restart
                    continue
                first = False
                g_prev = g
                if line_search == "strong_wolfe":
                    loss, g, t, _ = _strong_wolfe(along, flat, t, d, loss, g, gtd,
                                                  max_ls=steps - count)
                    flat.add_(d * t)
                elif line_search is None:
                    flat.add_(d * t)
                    loss, g = loss_and_grad(flat)
                else:
                    raise ValueError(f"line_search must be 'strong_wolfe' or None, "
                                     f"got {line_search!r}")
        except BudgetSpent:
            pass
        x.copy_(best)


def two_loop_direction(g: torch.Tensor, pairs, scale) -> torch.Tensor:
    """-H g by the L-BFGS two-loop recursion, coefficients kept as device tensors."""
    q = g.neg()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = s.dot(q) * rho
        q.addcmul_(y, a, value=-1)
        alphas.append(a)
    r = q.mul_(scale)
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        b = y.dot(r) * rho
        r.addcmul_(s, a - b)
    return r


@contextlib.contextmanager
def oracle_in_engine() -> Iterator[None]:
    """While inside, the render loop (engine.optimize) runs the reference solver: the
    before/after comparisons of tests and benchmarks."""
    from deepart_batch.engine import solver
    production = solver.lbfgs
    solver.lbfgs = lbfgs_two_loop
    try:
        yield
    finally:
        solver.lbfgs = production
