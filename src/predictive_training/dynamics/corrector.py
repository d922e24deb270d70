"""Residual correction after a Predict phase: a per-layer line search on the predicted delta.

After a Predict phase has added the predicted aggregate delta ``d`` to the weights, the
corrector asks, for every layer group ``g`` (a transformer block, the embeddings, the final
norm), how much of ``d_g`` should have been applied: it evaluates a held-aside loss (forward
passes only, no backward) with the group's share of the delta rescaled to ``s * d_g`` for
candidate scales ``s`` (``s = 1`` is the state left by the Predict phase and is already measured),
keeps the best scale ``s*_g``, and moves on to the next group with the earlier choices in place
(one pass of coordinate descent). The correction applied to every tensor of the group is
``(s*_g - 1) * d_g``; the weights end at ``theta_before_predict + s*_g * d_g``.

The decision is taken on several held-aside batches (``loss_fn`` returns one loss per batch), and
a candidate replaces the best scale so far only with evidence: the mean over batches of the
paired per-batch difference ``d_b = L_b(candidate) - L_b(best so far)`` must be below
``-z * sd(d) / sqrt(n)`` (``z`` = ``evidence_z``, ``n`` batches; with one batch, or ``z = 0``,
any strict improvement counts). Differences of 1e-4 nats on one batch are noise, and a choice
made on noise is no correction (the batch-to-batch spread of ``d_b`` is measured by
``benchmarks/search_noise.py``; ``hybrid.corrector.batches`` is set from it).

Which candidates are evaluated: ``trials`` per group (all of ``scales`` when ``trials`` is None),
the ones that have done best for this group so far. Every group keeps, per candidate, how often
it was evaluated and how often it was chosen (won with evidence), and ranks the candidates by
their smoothed success rate ``(chosen + 1) / (evaluated + 2)`` (ties: the order of ``scales``).
This is the residual model learned online: the predictor's per-layer errors are systematic (a
dynamics model that undershoots a block's step length keeps undershooting it), so after a few
cycles the single trial per group is usually the scale that helps, at ``trials`` forward passes
per batch and group instead of ``len(scales)``. Because only wins with evidence count, a
candidate that merely drew a lucky batch does not lock itself in: under noise alone it is chosen
in about 2% of its trials (z = 2), its rate falls below that of the untried candidates (1/2), and
they are tried in turn.

Why a line search on the predicted delta: the direction of a predicted delta comes from recent
real updates, its length per layer is the least reliable part of the prediction, and a
one-dimensional search per layer is cheap and lowers the held-aside loss relative to ``s = 1``
on the search batches (ties and differences within the noise keep ``s = 1``: no correction
without evidence). Groups whose delta is zero (e.g. the ``skip`` control arm) cost no forward
pass and get scale 1 with a zero correction, but they are still listed, so a correction result
is never empty (the original system's corrector always returned ``None``).

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


#: the granularities of :func:`group_parameters` (the shadow search's variants)
GROUPINGS = ("block", "module", "tensor")


def group_parameters(names: Iterable[str], grouping: str = "block") -> dict[str, list[str]]:
    """The parameter groups of a scale search: ``block`` (:func:`layer_groups`: the embeddings, each
    block, the final norm with the last block), ``module`` (each embedding, each block and each other
    top-level module such as the final norm on its own) or ``tensor`` (every parameter tensor)."""
    names = list(names)
    if grouping == "block":
        return layer_groups(names)
    if grouping == "tensor":
        if not names:
            raise ValueError("names must hold at least one parameter name")
        return {n: [n] for n in names}
    if grouping != "module":
        raise ValueError(f"unknown grouping {grouping!r} (one of {', '.join(GROUPINGS)})")
    groups: dict[str, list[str]] = {}
    for n in names:
        parts = n.split(".")
        key = ".".join(parts[:2]) if parts[0] == "blocks" and len(parts) > 1 else parts[0]
        groups.setdefault(key, []).append(n)
    if not groups:
        raise ValueError("names must hold at least one parameter name")
    return groups


@dataclass
class Correction:
    """One correction event.

    loss_before: mean loss on the search batches right after the Predict phase (scale 1), nats;
        None when the delta is zero everywhere (nothing to search, nothing evaluated).
    loss_after_search: mean loss on the search batches with the chosen scales, nats (<= loss_before
        unless NaN).
    per_layer: ``group -> {"scale": s*, "norm": ||(s* - 1) d_g||, "delta_norm": ||d_g||,
        "losses": {str(s): mean loss}, "evidence": {str(s): {"diff", "se", "z"}}}`` for every
        group (never empty); ``diff`` is the mean paired difference to the best scale so far,
        ``se`` its standard error (None with one batch), ``z = diff / se``.
    corrections: ``name -> (s*_g - 1) * d_name`` the tensors added to the weights.
    forward_passes: held-aside loss evaluations this search ran (``loss_fn`` calls).
    batches: batches per evaluation.
    """

    loss_before: float | None
    loss_after_search: float | None
    per_layer: dict[str, dict]
    corrections: dict[str, torch.Tensor] = field(repr=False)
    forward_passes: int
    batches: int = 1

    def to_event(self) -> dict:
        """The search's part of a ``correction`` event (losses on the SEARCH batches)."""
        return {"search_loss_before": self.loss_before, "search_loss_after": self.loss_after_search,
                "per_layer": self.per_layer, "search_evaluations": self.forward_passes,
                "search_batches": self.batches,
                "search_forward_passes": self.forward_passes * self.batches,
                "correction_norm": float(math.sqrt(sum(v["norm"] ** 2 for v in self.per_layer.values())))}


class LayerwiseLineSearch:
    """Per-layer-group line search over multiples of the applied predicted delta.

    Args:
        groups: ``group -> [parameter names]`` (see :func:`layer_groups`).
        scales: candidate multiples of the predicted delta besides 1 (e.g. ``(0, 0.5, 1.5)``); each
            finite and >= 0.
        trials: candidates evaluated per group and search, the most successful first (see the
            module docstring); None: all of them.
        evidence_z: a candidate must beat the best scale so far by this many standard errors of
            the paired per-batch differences (0: any strict improvement).
    """

    def __init__(self, groups: Mapping[str, Sequence[str]], scales: Sequence[float] = (0.0, 0.5, 1.5),
                 trials: int | None = None, evidence_z: float = 0.0):
        if not groups or any(not v for v in groups.values()):
            raise ValueError("groups must be a non-empty mapping of non-empty name lists")
        scales = [float(s) for s in scales]
        if not scales or any(not math.isfinite(s) or s < 0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of finite numbers >= 0, got {scales}")
        if trials is not None and (isinstance(trials, bool) or int(trials) != trials or trials < 1):
            raise ValueError(f"trials must be a positive integer or None, got {trials!r}")
        if not (math.isfinite(float(evidence_z)) and float(evidence_z) >= 0):
            raise ValueError(f"evidence_z must be a finite number >= 0, got {evidence_z!r}")
        self.evidence_z = float(evidence_z)
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
                loss_fn: Callable[[], float | Sequence[float]],
                loss_before: float | Sequence[float] | None = None) -> Correction:
        """Search the scales group by group, apply the corrections to ``params`` in place.

        Args:
            params: the model's parameters by name; they hold ``theta_before + delta`` on entry.
            delta: the applied predicted delta, same names and shapes as ``params``.
            loss_fn: held-aside losses (nats) of the model in its current state, forward only: one
                per search batch (a sequence, always the same batches in the same order), or one
                float (a single batch).
            loss_before: ``loss_fn()`` at entry if already measured (saves one evaluation).
        """
        names = [n for g in self.groups.values() for n in g]
        if set(names) != set(delta) or set(names) != set(params):
            raise ValueError("delta and params must have exactly the parameter names of the groups")
        passes = 0
        norms = {g: math.sqrt(sum(float(torch.linalg.vector_norm(delta[n].float())) ** 2 for n in members))
                 for g, members in self.groups.items()}
        if loss_before is None and any(d > 0 for d in norms.values()):
            loss_before = loss_fn()  # a delta of zero everywhere (the skip arm) needs no evaluation
            passes += 1
        current = _per_batch(loss_before) if loss_before is not None else [math.nan]
        per_layer: dict[str, dict] = {}
        corrections: dict[str, torch.Tensor] = {}
        for g, members in self.groups.items():
            d_norm = norms[g]
            losses = {"1.0": _mean(current)}
            evidence: dict[str, dict] = {}
            best_s, best = 1.0, current
            if d_norm > 0:
                saved = {n: params[n].detach().clone() for n in members}  # the scale-1 state, exactly
                for s in self.ranking(g)[: self.trials]:
                    _set(params, saved, delta, members, s - 1.0)  # theta_g = theta_before + s d_g
                    val = _per_batch(loss_fn())
                    if len(val) != len(best):
                        raise ValueError(f"loss_fn returned {len(val)} losses, expected {len(best)} (one per batch)")
                    passes += 1
                    losses[str(s)] = _mean(val)
                    self.record[g][self.scales.index(s)][0] += 1
                    diff, se = _paired(val, best)
                    evidence[str(s)] = {"diff": _json_float(diff), "se": se,
                                        "z": _json_float(diff / se) if se else None}
                    if self._wins(diff, se):
                        best_s, best = s, val
                _set(params, saved, delta, members, best_s - 1.0)
                if best_s != 1.0:
                    self.record[g][self.scales.index(best_s)][1] += 1
                current = best
            for n in members:
                corrections[n] = (best_s - 1.0) * delta[n].detach().clone()
            per_layer[g] = {"scale": best_s, "norm": abs(best_s - 1.0) * d_norm, "delta_norm": d_norm,
                            "losses": {k: _json_float(v) for k, v in losses.items()}, "evidence": evidence}
        before = _mean(_per_batch(loss_before)) if loss_before is not None else math.nan
        return Correction(loss_before=_json_float(before), loss_after_search=_json_float(_mean(current)),
                          per_layer=per_layer, corrections=corrections, forward_passes=passes,
                          batches=len(current))

    def _wins(self, diff: float, se: float | None) -> bool:
        """A candidate beats the best so far: strictly lower mean (ties keep the best, so no
        correction without evidence), and with several batches by ``evidence_z`` standard errors."""
        if not diff < 0:  # NaN/inf losses never win
            return False
        return se is None or diff < -self.evidence_z * se

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


def _per_batch(x) -> list[float]:
    """Losses as a list, one per batch; non-finite losses count as +inf (never chosen)."""
    vals = [float(x)] if isinstance(x, (int, float)) else [float(v) for v in x]
    if not vals:
        raise ValueError("loss_fn returned no loss")
    return [v if math.isfinite(v) else math.inf for v in vals]


def _mean(vals: Sequence[float]) -> float:
    """Mean of per-batch losses: NaN stays NaN (not measured), any inf gives inf."""
    if any(math.isnan(v) for v in vals):
        return math.nan
    return math.fsum(vals) / len(vals) if all(math.isfinite(v) for v in vals) else math.inf


def _paired(val: Sequence[float], best: Sequence[float]) -> tuple[float, float | None]:
    """Mean paired difference ``val - best`` over batches and its standard error (None: one batch
    or a non-finite difference)."""
    if not (all(math.isfinite(v) for v in val) and all(math.isfinite(b) for b in best)):
        return (math.inf if not all(math.isfinite(v) for v in val) else -math.inf), None
    d = [v - b for v, b in zip(val, best)]
    n = len(d)
    mean = math.fsum(d) / n
    if n < 2:
        return mean, None
    var = math.fsum((x - mean) ** 2 for x in d) / (n - 1)
    return mean, math.sqrt(var / n)


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None
