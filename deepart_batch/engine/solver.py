"""Optimisers for one scale, each spending exactly its budget of loss evaluations.

`evaluate(x)` runs one forward and backward pass (filling x.grad) and returns the loss; one
call is one evaluation, the unit `steps` counts in.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.optim.lbfgs import _strong_wolfe  # private, but unchanged since torch 1.4

Evaluate = Callable[[torch.Tensor], torch.Tensor]


class _BudgetSpent(Exception):
    """Raised when the optimiser asks for one evaluation more than its budget."""


def lbfgs(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 1.0,
          history: int = 100, line_search: str | None = "strong_wolfe") -> None:
    """L-BFGS for `steps` evaluations (fewer only at a zero gradient), leaving the best
    iterate in x.

    The algorithm of torch.optim.LBFGS (same direction, same first step, torch's own strong
    Wolfe line search), written for one tensor so that it never waits for the device
    between evaluations: torch's two-loop recursion passes each history coefficient as a
    Python `alpha`, one GPU->host sync per stored pair and loop, 200 per iteration at the
    default history. Here they stay on the device (measured on an H100: benchmarks/
    results/). A line search cut off by the budget leaves x at an untested trial point, so
    the best point seen is kept and returned.
    """
    if steps <= 0:
        return
    best, best_loss, count = x.detach().clone(), math.inf, 0

    def loss_and_grad(flat: torch.Tensor) -> tuple[float, torch.Tensor]:
        nonlocal best_loss, count
        if count >= steps:
            raise _BudgetSpent
        with torch.no_grad():
            x.copy_(flat.view_as(x))
        x.grad = None
        with torch.enable_grad():
            loss = evaluate(x)
        count += 1
        value = float(loss)  # the line search compares it on the host anyway
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
                    if ys > 1e-10:  # curvature condition (one sync per iteration)
                        if len(pairs) == history:
                            pairs.pop(0)
                        pairs.append((s, y, 1.0 / ys))
                        scale = ys / y.dot(y)
                    d = _two_loop(g, pairs, scale)
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
        except _BudgetSpent:
            pass
        x.copy_(best)


def _two_loop(g: torch.Tensor, pairs, scale: torch.Tensor) -> torch.Tensor:
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


def adam(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 0.02) -> None:
    """Adam, one evaluation per step, with the image kept in [0, 1]."""
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        x.grad = None
        evaluate(x)
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
