"""How one stage's evaluation runs: whole, checkpointed per VGG block, or tiled.

Which of them fits is arithmetic without torch (budget.plan_evaluation, re-exported here);
this module builds the objective the chosen plan calls for. Checkpointing adds one block
forward per evaluation, tiling a second pass and the margins' overlap.
"""

from __future__ import annotations

from .budget import (MIN_HISTORY, TILE_SIDES, EvalMode, EvalPlan,  # noqa: F401 (importers)
                     estimate_checkpointed, estimate_tiled, largest_fitting_size, minimum_need,
                     plan_evaluation)


def build_objective(plan: EvalPlan | None, encoder, content, target_grams: dict, p,
                    precision: str):
    """The stage objective the plan calls for; content targets computed the same way."""
    import torch

    from .checkpoint import CheckpointedEncoder
    from .losses import at_least_fp32
    from .objective import Objective
    from .tiling import TiledObjective, tiled_features
    mode = EvalMode.WHOLE if plan is None else plan.mode
    if mode is EvalMode.TILED:
        targets = tiled_features(encoder, content, p.content_layers, plan.tile) \
            if p.content_layers else {}
        return TiledObjective(encoder, targets, target_grams, p, plan.tile, precision)
    with torch.no_grad():
        targets = {k: at_least_fp32(v) for k, v in encoder(content, p.content_layers).items()} \
            if p.content_layers else {}
    if mode is EvalMode.CHECKPOINTED:
        encoder = CheckpointedEncoder(encoder)
    return Objective(encoder, targets, target_grams, p, precision)
