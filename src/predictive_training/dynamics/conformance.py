"""``check_predictor``: does a predictor keep the protocol the study relies on? (in the spirit of
scikit-learn's ``check_estimator``)

An author runs it on a class (or a registry name, an entry point, a dotted path) before a study::

    from predictive_training.dynamics.conformance import check_predictor
    report = check_predictor(MyPredictor, options={"window": 20})

It trains two small GPTs (two widths) with AdamW on random tokens, hands every real step to the
predictor as the trainer does (:meth:`~.protocol.Observation.of_step`), and checks:

- ``builds``: ``from_context(context, options)`` (or the class itself) gives an object with
  ``observe``, ``ready``, ``rollout``, ``state_dict`` and ``load_state_dict``;
- ``ready``: it is ready after the warm-up (the trainer only asks a ready predictor);
- ``rollout``: one aggregate prediction: a delta with exactly the model's parameter names and
  shapes, finite; a loss path of ``horizon`` values; a float uncertainty; ``steps`` None or within
  ``[0, horizon]``;
- ``rollout_keeps_state``: rollouts change no later prediction (the skill gate calls ``rollout`` to
  score forecasts): after the same further steps, an instance that rolled out predicts exactly as one
  loaded from its state before those rollouts (bookkeeping such as a count of rollouts may change);
- ``weights_untouched``: the model's weights and the observed updates are the same before and after
  every call;
- ``deterministic``: a second instance fed the same steps gives the same rollout for the same seed;
- ``state_round_trip``: a third instance loaded from the first one's ``state_dict`` (through
  ``torch.save``/``torch.load``, as a checkpoint) gives the same rollout;
- ``state_bound``: after the warm-up its state grows at most ``STATE_BOUND x N`` with the model: at
  both widths ``total - fixed <= 8 N``, the ``fixed`` part it reports is the same at both widths,
  and the total grows by at most 8 numbers per added model parameter;
- ``verified_rollout`` (a verifying predictor only): with a held-aside loss it returns a prediction
  of at most ``horizon`` steps and leaves the weights as they were.

Every check runs; the report lists each with ``ok`` and a message; :class:`ConformanceError` (raised
unless ``raise_on_failure=False``) lists every failure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import registry
from ..model import GPT, GPTConfig
from .base import PredictorContext, state_size
from .footprint import STATE_BOUND
from .protocol import Observation, PredictedPhase

__all__ = ["check_predictor", "ConformanceError", "ConformanceReport"]

_WIDTHS = (16, 32)  # two model widths: the state must not grow faster than 8 numbers per parameter


class ConformanceError(AssertionError):
    """A predictor that breaks the protocol; the message lists every failed check."""


@dataclass
class ConformanceReport:
    """``checks``: name -> (ok, message); ``state``: the state sizes measured (per width)."""

    predictor: str
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.checks.values())

    def failures(self) -> list[str]:
        return [f"{name}: {msg}" for name, (ok, msg) in self.checks.items() if not ok]

    def __str__(self) -> str:
        lines = [f"check_predictor({self.predictor}): {'conforms' if self.ok else 'FAILS'}"]
        lines += [f"  [{'ok' if ok else 'FAIL'}] {name}: {msg}" for name, (ok, msg) in self.checks.items()]
        return "\n".join(lines)


def _factory(predictor):
    """(the thing to build from, its display name)."""
    if isinstance(predictor, str):
        spec = registry.lookup(predictor)
        return registry.resolve(spec), spec.name
    return predictor, getattr(predictor, "__name__", repr(predictor))


def _build(factory, ctx: PredictorContext, options: Mapping, name: str):
    opts = dict(options)
    if isinstance(factory, type):
        make = getattr(factory, "from_context", None)
        p = make(ctx, opts) if callable(make) else factory(**opts)
    else:
        p = factory(ctx, opts)
    if not getattr(p, "name", None):
        try:
            p.name = name
        except AttributeError:
            pass
    return p


def _stream(width: int, steps: int, seed: int):
    """A small GPT and ``steps`` real AdamW steps on random tokens: ``(model, params, observations)``;
    each observation is what the trainer hands a predictor (pre-clip norms, the applied update)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=64, context=8, n_layer=1, n_head=2, d_model=width))
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(params.values(), lr=3e-3, weight_decay=0.1)
    obs = []
    for step in range(steps):
        x = torch.randint(0, 64, (4, 8), generator=g)
        y = torch.randint(0, 64, (4, 8), generator=g)
        before = {n: p.detach().clone() for n, p in params.items()}
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x, y)
        loss.backward()
        gn = float(torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0))
        opt.step()
        update = {n: (p.detach() - before[n]).clone() for n, p in params.items()}
        obs.append(Observation.of_step(step, steps, float(loss.detach()), gn, 3e-3, {n: p.grad for n, p in params.items()},
                                       1.0, update))
    return model, params, obs


def _equal(a, b) -> bool:
    """Nested equality of states and predictions (tensors and arrays exactly, NaN equal to NaN)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape and a.dtype == b.dtype and bool(
            torch.equal(a, b) or (a.is_floating_point() and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # objects without a usable equality: compare their states
        return _equal(getattr(a, "__dict__", repr(a)), getattr(b, "__dict__", repr(b)))


def _same_prediction(a: PredictedPhase, b: PredictedPhase) -> bool:
    return (_equal(a.delta, b.delta) and _equal(np.asarray(a.loss_path), np.asarray(b.loss_path))
            and _equal(float(a.uncertainty), float(b.uncertainty)) and a.steps == b.steps)


def _snapshot(params, observations) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params.values()] + [t.clone() for o in observations for t in o.update.values()]


def _unchanged(before: list[torch.Tensor], params, observations) -> bool:
    now = [p.detach() for p in params.values()] + [t for o in observations for t in o.update.values()]
    return len(now) == len(before) and all(torch.equal(a, b) for a, b in zip(before, now))


def check_predictor(predictor, options: Mapping | None = None, *, warmup: int = 30, horizon: int = 10,
                    cfg: Mapping | None = None, seed: int = 0, raise_on_failure: bool = True) -> ConformanceReport:
    """Check ``predictor`` (a class, a ``factory(context, options)`` callable, or a registry name, entry
    point or dotted path) built with ``options`` (module docstring). ``warmup``: observed steps before
    the checks (enough for it to be ready); ``horizon``: the rollout length; ``cfg``: the study config
    the context carries (default: the schema defaults). Returns the :class:`ConformanceReport`; raises
    :class:`ConformanceError` listing every failure unless ``raise_on_failure`` is False."""
    from ..config import validate  # the schema's defaults, for a predictor that reads the config

    factory, name = _factory(predictor)
    options = dict(options or {})
    cfg = dict(cfg) if cfg is not None else validate({})
    rep = ConformanceReport(name)
    check = rep.checks

    def run(label: str, fn) -> object:
        try:
            out = fn()
        except Exception as exc:  # every check runs; a crash is that check's failure
            check[label] = (False, f"{type(exc).__name__}: {exc}")
            return None
        return out

    sizes = {}
    first = None
    for width in _WIDTHS:
        model, params, obs = _stream(width, warmup + 5, seed)
        n = sum(p.numel() for p in params.values())
        ctx = PredictorContext(model, params, cfg, seed, {})
        lrs = [3e-3] * horizon
        p = run("builds", lambda: _build(factory, ctx, options, name))
        if p is None:
            break
        missing = [m for m in ("observe", "ready", "rollout", "state_dict", "load_state_dict")
                   if not callable(getattr(p, m, None))]
        if missing:
            check["builds"] = (False, f"lacks {missing} (subclass predictive_training.dynamics.base.BasePredictor)")
            break
        check.setdefault("builds", (True, f"{type(p).__name__} built with options {sorted(options)}"))
        before = _snapshot(params, obs[:warmup])
        if run("observe", lambda: [p.observe(o) for o in obs[:warmup]]) is None:
            break
        check.setdefault("observe", (True, f"observed {warmup} real steps"))
        ready = run("ready", lambda: bool(p.ready()))
        if ready is not None:
            check["ready"] = (bool(ready), f"ready after {warmup} observed steps" if ready
                              else f"not ready after {warmup} observed steps (raise warmup, or it never predicts)")
        sizes[width] = (n, *state_size(p))
        if width == _WIDTHS[0]:
            first = (p, model, params, obs, ctx, before, lrs)
    if "builds" in check and not check["builds"][0] or first is None or not check.get("ready", (False,))[0]:
        return _finish(rep, raise_on_failure)
    p, model, params, obs, ctx, before, lrs = first

    state0 = run("state_round_trip", lambda: _roundtrip(p.state_dict()))
    pred = run("rollout", lambda: p.rollout(horizon, lrs, 7))
    if pred is not None:
        check["rollout"] = _check_prediction(pred, params, horizon)
        check["weights_untouched"] = ((True, "the weights and the observed updates are unchanged")
                                      if _unchanged(before, params, obs[:warmup]) else
                                      (False, "the model's weights or an observed update changed during observe/rollout"))

        def twin():
            q = _build(factory, ctx, options, name)
            for o in obs[:warmup]:
                q.observe(o)
            return q.rollout(horizon, lrs, 7)

        other = run("deterministic", twin)
        if other is not None:
            same = _same_prediction(pred, other) and _same_prediction(pred, p.rollout(horizon, lrs, 7))
            check["deterministic"] = (same, "the same steps and seed give the same rollout" if same
                                      else "a second instance (or a second call) fed the same steps gave another rollout")

        def loaded():
            q = _build(factory, ctx, options, name)
            q.load_state_dict(_roundtrip(state0))
            return q

        if state0 is not None:
            same = run("state_round_trip", lambda: _same_prediction(pred, loaded().rollout(horizon, lrs, 7)))
            if same is not None:
                check["state_round_trip"] = (same, "an instance loaded from state_dict() predicts as the original"
                                             if same else "an instance loaded from state_dict() predicts differently")

            def keeps():
                r = loaded()  # the state before any rollout: it never rolls out before the comparison
                for o in obs[warmup:]:
                    p.observe(o)
                    r.observe(o)
                return _same_prediction(p.rollout(horizon, lrs, 11), r.rollout(horizon, lrs, 11))

            same = run("rollout_keeps_state", keeps)
            if same is not None:
                check["rollout_keeps_state"] = (
                    same, "after rollouts and more steps it predicts as an instance that never rolled out" if same
                    else "its rollouts changed a later prediction (a rollout must not change the state it predicts from)")
    check["state_bound"] = _check_bound(sizes)
    rep.state = {str(w): {"n_params": n, "total": t, "fixed": f} for w, (n, t, f) in sizes.items()}
    if callable(getattr(p, "verified_rollout", None)):
        check["verified_rollout"] = _check_verified(p, model, params, horizon, lrs)
    return _finish(rep, raise_on_failure)


def _finish(rep: ConformanceReport, raise_on_failure: bool) -> ConformanceReport:
    if raise_on_failure and not rep.ok:
        raise ConformanceError(f"{rep.predictor} breaks the predictor protocol:\n  " + "\n  ".join(rep.failures()))
    return rep


def _roundtrip(state):
    """``state`` through ``torch.save``/``torch.load``, as a checkpoint stores it."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, map_location="cpu", weights_only=False)


def _check_prediction(pred, params, horizon: int) -> tuple[bool, str]:
    if not isinstance(pred, PredictedPhase):
        return False, f"rollout returned {type(pred).__name__}, not a PredictedPhase"
    names, want = set(pred.delta), set(params)
    if names != want:
        return False, (f"the delta must be keyed by the model's parameter names: missing {sorted(want - names)[:5]}, "
                       f"unknown {sorted(names - want)[:5]}")
    for n, t in pred.delta.items():
        if not torch.is_tensor(t) or tuple(t.shape) != tuple(params[n].shape):
            return False, f"delta[{n!r}] has shape {tuple(getattr(t, 'shape', ()))}, the parameter {tuple(params[n].shape)}"
        if not torch.isfinite(t).all():
            return False, f"delta[{n!r}] is not finite"
    path = np.asarray(pred.loss_path)
    if path.shape != (horizon,):
        return False, f"loss_path has shape {path.shape}, expected ({horizon},) (one predicted loss per step)"
    try:
        float(pred.uncertainty)
    except (TypeError, ValueError):
        return False, f"uncertainty {pred.uncertainty!r} is not a number"
    if pred.steps is not None and not (0 <= int(pred.steps) <= horizon):
        return False, f"steps {pred.steps} is outside [0, {horizon}]"
    return True, f"a {horizon}-step delta with the model's {len(want)} names and shapes, finite"


def _check_bound(sizes: dict) -> tuple[bool, str]:
    if len(sizes) < 2:
        return False, "not measured (the predictor failed earlier)"
    (w1, (n1, t1, f1)), (w2, (n2, t2, f2)) = sorted(sizes.items())
    problems = []
    for n, t, f in ((n1, t1, f1), (n2, t2, f2)):
        if t - f > STATE_BOUND * n:
            problems.append(f"{t - f:,.0f} numbers grow with the model at N = {n:,} ({(t - f) / n:.2f} N)")
    if f1 != f2:
        problems.append(f"its 'fixed' part is {f1:,.0f} at N = {n1:,} and {f2:,.0f} at N = {n2:,}: it grows with the model")
    slope = (t2 - t1) / (n2 - n1)
    if slope > STATE_BOUND:
        problems.append(f"its state grows by {slope:.2f} numbers per model parameter")
    if problems:
        return False, f"above the bound of {STATE_BOUND} N: " + "; ".join(problems)
    return True, (f"{(t1 - f1) / n1:.2f} N and {(t2 - f2) / n2:.2f} N growing with the model (fixed {f1:,.0f}); "
                  f"{slope:.2f} numbers per parameter")


def _check_verified(p, model, params, horizon: int, lrs) -> tuple[bool, str]:
    x = torch.randint(0, 64, (4, 8), generator=torch.Generator().manual_seed(3))
    origin = {n: q.detach().clone() for n, q in params.items()}

    @torch.no_grad()
    def loss_at(delta):
        for n, q in params.items():
            q.copy_(origin[n])
            if n in delta:
                q.add_(delta[n])
        return float(model.loss(x, x))

    try:
        pred = p.verified_rollout(horizon, lrs, 7, loss_at)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        with torch.no_grad():
            for n, q in params.items():
                q.copy_(origin[n])
    ok, msg = _check_prediction(pred, params, horizon)
    return ok, ("verified rollout: " + msg) if ok else msg
