"""Residual correction after a Predict phase: a per-layer line search on the predicted delta.

After a Predict phase has added the predicted aggregate delta ``d`` to the weights, the
corrector asks, for every layer group ``g`` (a transformer block, the embeddings, the final
norm), how much of ``d_g`` should have been applied: it evaluates a held-aside loss (forward
passes only, no backward) with the group's share of the delta rescaled to ``s * d_g`` for
candidate scales ``s`` (``s = 1`` is the state left by the Predict phase and is already measured),
keeps the best scale ``s*_g``, and moves on to the next group with the earlier choices in place
(one pass of coordinate descent). The correction applied to every tensor of the group is
``(s*_g - 1) * d_g``; the weights end at ``theta_before_predict + s*_g * d_g``.

Which candidates are evaluated: ``trials`` per group (all of ``scales`` when ``trials`` is None),
the ones that have done best for this group so far. Every group keeps, per candidate, how often
it was evaluated and how often it was chosen, and ranks the candidates by their smoothed success
rate ``(chosen + 1) / (evaluated + 2)`` (ties: the order of ``scales``). This is the residual
model learned online: the predictor's per-layer errors are systematic (a dynamics model that
undershoots a block's step length keeps undershooting it), so after a few cycles the single
trial per group is usually the scale that helps, at ``trials`` forward passes per group instead
of ``len(scales)``. A candidate that fails loses rank, so the others are tried in turn.

Why a line search on the predicted delta: the direction of a predicted delta comes from recent
real updates, its length per layer is the least reliable part of the prediction, and a
one-dimensional search per layer is cheap and can only lower the held-aside loss relative to
``s = 1`` (ties keep ``s = 1``: no correction without evidence). Groups whose delta is zero (e.g.
the ``skip`` control arm) cost no forward pass and get scale 1 with a zero correction, but they
are still listed, so a correction result is never empty (the original system's corrector always
returned ``None``).

Units: losses in nats per token; norms are L2 norms in parameter units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["layer_groups", "Correction", "LayerwiseLineSearch"]


def layer_groups(names: Iterable[str]) -> dict[str, list[str]]:
    """Group parameter names by transformer block: ``blocks.<i>.*`` -> ``blocks.<i>``; ``*_emb.*`` ->
    ``embed``; everything else (the final norm, an untied head) joins the LAST block's group (it
    acts on that block's output, and a group of its own would cost as many forward passes as a
    block for a few hundred parameters), or forms ``final`` if there are no blocks.
    Order: first appearance."""
    groups: dict[str, list[str]] = {}
    rest: list[str] = []
    for n in names:
        parts = n.split(".")
        if parts[0] == "blocks" and len(parts) > 1:
            groups.setdefault(f"blocks.{parts[1]}", []).append(n)
        elif parts[0].endswith("emb"):
            groups.setdefault("embed", []).append(n)
        else:
            rest.append(n)
    blocks = [g for g in groups if g.startswith("blocks.")]
    if rest:
        groups.setdefault(blocks[-1] if blocks else "final", []).extend(rest)
    if not groups:
        raise ValueError("names must hold at least one parameter name")
    return groups


@dataclass
class Correction:
    """One correction event.

    loss_before: held-aside loss right after the Predict phase (scale 1 everywhere), nats.
    loss_after_search: held-aside loss with the chosen scales, nats (<= loss_before unless NaN).
    per_layer: ``group -> {"scale": s*, "norm": ||(s* - 1) d_g||, "delta_norm": ||d_g||,
        "losses": {str(s): loss}}`` for every group (never empty).
    corrections: ``name -> (s*_g - 1) * d_name`` the tensors added to the weights.
    forward_passes: held-aside loss evaluations this search ran.
    """

    loss_before: float
    loss_after_search: float
    per_layer: dict[str, dict]
    corrections: dict[str, torch.Tensor] = field(repr=False)
    forward_passes: int

    def to_event(self) -> dict:
        return {"loss_before": self.loss_before, "loss_after_search": self.loss_after_search,
                "per_layer": self.per_layer, "search_forward_passes": self.forward_passes,
                "correction_norm": float(math.sqrt(sum(v["norm"] ** 2 for v in self.per_layer.values())))}


class LayerwiseLineSearch:
    """Per-layer-group line search over multiples of the applied predicted delta.

    Args:
        groups: ``group -> [parameter names]`` (see :func:`layer_groups`).
        scales: candidate multiples of the predicted delta besides 1 (e.g. ``(0, 0.5, 1.5)``); each
            finite and >= 0.
        trials: candidates evaluated per group and search, the most successful first (see the
            module docstring); None: all of them.
    """

    def __init__(self, groups: Mapping[str, Sequence[str]], scales: Sequence[float] = (0.0, 0.5, 1.5),
                 trials: int | None = None):
        if not groups or any(not v for v in groups.values()):
            raise ValueError("groups must be a non-empty mapping of non-empty name lists")
        scales = [float(s) for s in scales]
        if not scales or any(not math.isfinite(s) or s < 0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of finite numbers >= 0, got {scales}")
        if trials is not None and (isinstance(trials, bool) or int(trials) != trials or trials < 1):
            raise ValueError(f"trials must be a positive integer or None, got {trials!r}")
        self.groups = {g: list(v) for g, v in groups.items()}
        self.scales = sorted(set(scales) - {1.0})  # [1.0] alone: no candidate, the search is a no-op
        self.trials = len(self.scales) if trials is None else min(int(trials), len(self.scales))
        # group -> [[evaluated, chosen] per candidate]: the online record that ranks the candidates
        self.record = {g: [[0, 0] for _ in self.scales] for g in self.groups}

    def ranking(self, group: str) -> list[float]:
        """The candidates of ``group``, best smoothed success rate first (ties: ``scales`` order)."""
        rec = self.record[group]
        order = sorted(range(len(self.scales)), key=lambda i: (-(rec[i][1] + 1) / (rec[i][0] + 2), i))
        return [self.scales[i] for i in order]

    @torch.no_grad()
    def correct(self, params: Mapping[str, torch.Tensor], delta: Mapping[str, torch.Tensor],
                loss_fn: Callable[[], float], loss_before: float | None = None) -> Correction:
        """Search the scales group by group, apply the corrections to ``params`` in place.

        Args:
            params: the model's parameters by name; they hold ``theta_before + delta`` on entry.
            delta: the applied predicted delta, same names and shapes as ``params``.
            loss_fn: held-aside loss (nats) of the model in its current state; forward only.
            loss_before: ``loss_fn()`` at entry if already measured (saves one forward pass).
        """
        names = [n for g in self.groups.values() for n in g]
        if set(names) != set(delta) or set(names) != set(params):
            raise ValueError("delta and params must have exactly the parameter names of the groups")
        passes = 0
        if loss_before is None:
            loss_before = float(loss_fn())
            passes += 1
        current = _finite_or_inf(loss_before)
        per_layer: dict[str, dict] = {}
        corrections: dict[str, torch.Tensor] = {}
        for g, members in self.groups.items():
            d_norm = math.sqrt(sum(float(torch.linalg.vector_norm(delta[n].float())) ** 2 for n in members))
            losses = {"1.0": current}
            best_s, best = 1.0, current
            if d_norm > 0:
                saved = {n: params[n].detach().clone() for n in members}  # the scale-1 state, exactly
                for s in self.ranking(g)[: self.trials]:
                    _set(params, saved, delta, members, s - 1.0)  # theta_g = theta_before + s d_g
                    val = _finite_or_inf(float(loss_fn()))
                    passes += 1
                    losses[str(s)] = val
                    self.record[g][self.scales.index(s)][0] += 1
                    if val < best:  # strict: a tie keeps s = 1 (no correction without evidence)
                        best_s, best = s, val
                _set(params, saved, delta, members, best_s - 1.0)
                if best_s != 1.0:
                    self.record[g][self.scales.index(best_s)][1] += 1
                current = best
            for n in members:
                corrections[n] = (best_s - 1.0) * delta[n].detach().clone()
            per_layer[g] = {"scale": best_s, "norm": abs(best_s - 1.0) * d_norm, "delta_norm": d_norm,
                            "losses": {k: _json_float(v) for k, v in losses.items()}}
        return Correction(loss_before=float(loss_before), loss_after_search=_json_float(current),
                          per_layer=per_layer, corrections=corrections, forward_passes=passes)

    def state_dict(self) -> dict:
        return {"scales": list(self.scales), "record": {g: [list(r) for r in rec] for g, rec in self.record.items()}}

    def load_state_dict(self, state: Mapping) -> None:
        if list(state["scales"]) != self.scales or set(state["record"]) != set(self.groups):
            raise ValueError("corrector state was saved with other scales or layer groups")
        self.record = {g: [[int(a), int(b)] for a, b in rec] for g, rec in state["record"].items()}


def _set(params, saved, delta, members, factor: float) -> None:
    """``params[n] = saved[n] + factor * delta[n]`` for the group's tensors (in place)."""
    for n in members:
        params[n].copy_(saved[n])
        if factor != 0.0:
            params[n].add_(delta[n].to(params[n].dtype), alpha=factor)


def _finite_or_inf(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None
