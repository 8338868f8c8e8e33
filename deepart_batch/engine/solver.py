"""Optimisers for one scale, each spending exactly its budget of loss evaluations.

`evaluate(x)` runs one forward and backward pass (filling x.grad) and returns the loss; one
call is one evaluation, the unit `steps` counts in.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Evaluate = Callable[[torch.Tensor], torch.Tensor]


class _BudgetSpent(Exception):
    """Raised by the closure when L-BFGS asks for one evaluation more than its budget."""


def lbfgs(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 1.0,
          history: int = 100, line_search: str | None = "strong_wolfe") -> None:
    """Run torch's L-BFGS for exactly `steps` evaluations, leaving the best iterate in x.

    torch counts evaluations only between iterations, so a line search could overrun
    `max_eval`; the closure refuses the extra evaluation instead. The best point seen is
    kept because a stop inside a line search leaves x at an untested trial point.
    """
    if steps <= 0:
        return
    best, best_loss, count = x.detach().clone(), math.inf, 0

    def closure():
        nonlocal best_loss, count
        if count >= steps:
            raise _BudgetSpent
        x.grad = None
        loss = evaluate(x)
        count += 1
        value = float(loss)  # L-BFGS reads it as a float anyway
        if value < best_loss:
            best_loss = value
            best.copy_(x.detach())
        return loss

    opt = torch.optim.LBFGS([x], lr=lr, max_iter=steps, max_eval=steps, tolerance_grad=-1,
                            tolerance_change=-1, history_size=history,
                            line_search_fn=line_search)
    try:
        while count < steps:  # step() returns early when a direction is not descending
            opt.step(closure)
    except _BudgetSpent:
        pass
    with torch.no_grad():
        x.copy_(best)


def adam(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 0.02) -> None:
    """Adam, one evaluation per step, with the image kept in [0, 1]."""
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        x.grad = None
        evaluate(x)
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
