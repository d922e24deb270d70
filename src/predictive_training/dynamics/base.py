"""The base class of predictors, the context they are built in, and how the study builds them.

A predictor (one object per run: an arm's, or one of shadow mode's) is made by
:func:`build_predictor` from its registry entry (:mod:`predictive_training.registry`) and its
options (:func:`predictive_training.config.predictor_options`). Everything the trainer, shadow
mode, the calibration and ``plan`` may call is declared on :class:`BasePredictor`, with a default
where one makes sense; ``docs/predictors.md`` is the guide for authors and
:func:`~.conformance.check_predictor` the check they run.

What a run calls, and when (``training/hybrid.py``, ``training/shadow.py``):

- ``observe(obs)`` after every real (backprop) step, with an :class:`~.protocol.Observation`
  (its ``update`` is the step's applied weight change; read it, never modify it);
- ``ready()`` before a Predict phase (a predictor that is not ready is not asked: the phase runs
  as Full steps);
- ``rollout(horizon, lrs, seed)`` at the start of a Predict phase: ONE aggregate prediction of the
  next ``horizon`` steps, given the learning rates the schedule will use (``lrs``, one per step)
  and a seed for any sampling; it must not change the predictor's state (the skill gate also calls
  it to score forecasts);
- optionally ``verified_rollout(horizon, lrs, seed, loss_at)`` (a predictor that checks its own
  prediction on a held-aside loss, e.g. verified extrapolation; ``loss_at`` is counted work);
- ``state_dict()`` / ``load_state_dict(state)`` at checkpoints: a resumed run must continue exactly
  as an uninterrupted one;
- ``state_numbers()`` after every observation: the numbers it keeps between steps (float32
  equivalents), a number or ``{"total": ..., "fixed": ...}`` where ``fixed`` is the part that does
  not grow with the model (a small network, its optimiser, a replay of per-step scalars); a run stops
  with :class:`StateBoundError` the first time the part that grows with the model, ``total -
  fixed``, exceeds ``STATE_BOUND x N`` (8 copies of the model, ``dynamics/footprint.py``). The
  conformance check measures the predictor at two model sizes, so a ``fixed`` part that grows with N
  is caught there;
- ``summary()`` (into ``summary.json``) and ``drain_events()`` (into ``events.jsonl``) when present.

Class-level hooks (no instance needed): ``from_context`` (how it is built), ``check_options``
(before any job: the workflow calls :func:`check_config_predictors`), ``steady_observations`` and
``observe_period`` (what the calibration must feed it before timing), ``nominal_train_steps``
(optimisation steps of a learning predictor, for the work model of ``plan``), ``nominal_checks``
(a verifying predictor's checks per phase, likewise), ``stand_in_files``
(leave-one-seed-out predictors: untrained stand-ins the calibration times).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jsonschema
import torch

from .. import registry
from ..config import ConfigError, predictor_options, predictor_uses
from .footprint import STATE_BOUND
from .footprint import state_numbers as _footprint
from .protocol import Observation, PredictedPhase

__all__ = ["PredictorContext", "BasePredictor", "StateBoundError", "build_predictor", "state_size",
           "check_state_bound", "check_config_predictors"]


class StateBoundError(RuntimeError):
    """A predictor holds more than ``STATE_BOUND x N`` numbers."""


@dataclass
class PredictorContext:
    """What a predictor may use when it is built.

    model: the trained model (read only: a predictor never changes the weights; the trainer applies
        its deltas). params: the model's trainable parameters by name, in ``named_parameters``
        order (the names and shapes every delta must have). cfg: the validated study config (read
        only). seed: the run's seed. files: trained models of a leave-one-seed-out predictor
        (``name -> path``), made for this seed.
    """

    model: torch.nn.Module
    params: Mapping[str, torch.Tensor]
    cfg: Mapping
    seed: int
    files: Mapping[str, str] = field(default_factory=dict)


class BasePredictor:
    """What the study may call on a predictor, with defaults (module docstring).

    A subclass must implement :meth:`observe` and :meth:`rollout`. ``name`` is set by
    :func:`build_predictor` to the predictor's registry name (units, events, summaries).
    ``options_schema``: a JSON schema of the options (``predictors.<name>.options``,
    ``arms.<a>.options``), checked before any job; without one, the constructor's signature is the
    check. ``transient``: attributes the default :meth:`state_dict` leaves out (references to things
    the predictor does not own, e.g. the model's parameters).
    """

    name: str = ""
    options_schema: dict | None = None
    transient: tuple[str, ...] = ()

    # --- building (class level) ---------------------------------------------------------------------

    @classmethod
    def from_context(cls, context: PredictorContext, options: Mapping) -> "BasePredictor":
        """Build the predictor: ``cls(**options)`` unless a subclass needs the model, the config or
        the seed (override then, and :meth:`check_options` if the options are not the constructor's)."""
        return cls(**dict(options))

    @classmethod
    def check_options(cls, options: Mapping) -> None:
        """Raise ValueError naming the option for options this predictor cannot be built with:
        ``options_schema`` if declared, else (when ``from_context`` is the default) the constructor's
        required and accepted keyword arguments."""
        options = dict(options)
        if cls.options_schema is not None:
            errors = sorted(jsonschema.Draft202012Validator(cls.options_schema).iter_errors(options),
                            key=lambda e: list(e.absolute_path))
            if errors:
                where = ".".join(str(p) for p in errors[0].absolute_path) or "<options>"
                raise ValueError(f"option {where!r}: {errors[0].message}")
        if getattr(cls.from_context, "__func__", None) is not BasePredictor.from_context.__func__:
            return  # a custom from_context: its own rules (and options_schema)
        sig = inspect.signature(cls.__init__)
        params = [p for p in list(sig.parameters.values())[1:]
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        names = {p.name for p in params}
        missing = [p.name for p in params if p.default is p.empty and p.name not in options]
        if missing:
            raise ValueError(f"missing option(s) {missing} (the constructor of {cls.__name__} requires them; "
                             f"options given: {sorted(options) or 'none'})")
        if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            unknown = sorted(set(options) - names)
            if unknown:
                raise ValueError(f"unknown option(s) {unknown} ({cls.__name__} accepts {sorted(names) or 'none'})")

    @classmethod
    def steady_observations(cls, options: Mapping) -> int:
        """Observed real steps after which a rollout costs what it costs in a run (the calibration
        times rollouts after that many): a full window of history, say. Default 1."""
        return 1

    @classmethod
    def observe_period(cls, options: Mapping) -> int:
        """Observe calls over which a non-learning predictor's observe work repeats (e.g. a window
        closed on one call in ``k``): the calibration times whole periods. Default 1."""
        return 1

    @classmethod
    def nominal_train_steps(cls, options: Mapping, observed: int) -> int:
        """Optimisation steps a LEARNING predictor runs after ``observed`` observed real steps (the
        work model of ``plan``); 0 for predictors that do not learn online (the default). A learning
        predictor exposes its running count as ``train_steps`` (or ``model.n_train_steps``)."""
        return 0

    @classmethod
    def nominal_checks(cls, options: Mapping, horizon: int) -> int:
        """A verifying predictor (one with ``verified_rollout``): held-aside checks of a Predict phase
        of ``horizon`` steps when none fails, the most it runs (the work model of ``plan``). Default:
        the origin's and one per step."""
        return 1 + int(horizon)

    @classmethod
    def stand_in_files(cls, cfg: Mapping, shapes: Mapping[str, tuple[int, ...]], seed: int, folder) -> dict:
        """Leave-one-seed-out predictors: files standing in for the trained model of ``seed`` (same
        architecture and size, untrained), which the calibration times. Not supported otherwise."""
        raise NotImplementedError(f"{cls.__name__} is not a leave-one-seed-out predictor: it has no stand-in")

    # --- what a run calls -------------------------------------------------------------------------

    def observe(self, obs: Observation) -> None:
        raise NotImplementedError(f"{type(self).__name__}.observe")

    def ready(self) -> bool:
        return True

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        raise NotImplementedError(f"{type(self).__name__}.rollout")

    def state_dict(self) -> dict:
        """Default: a deep copy of every attribute but ``transient`` ones and ``name`` (tensors cloned)."""
        return {k: _copy(v) for k, v in vars(self).items() if k not in self.transient and k != "name"}

    def load_state_dict(self, state: Mapping) -> None:
        for k, v in state.items():
            setattr(self, k, _copy(v))

    def state_numbers(self) -> float | dict:
        """Float32-equivalent numbers of the persistent state: a number, or ``{"total", "fixed"}`` with
        the part that does not grow with the model apart (default: every number in :meth:`state_dict`,
        all counted as growing with the model)."""
        return float(_footprint(self)["fp32_equivalent"])

    def summary(self) -> dict:
        return {"name": self.name}

    def drain_events(self) -> list[dict]:
        return []


def _copy(v):
    if torch.is_tensor(v):
        return v.detach().clone()
    return copy.deepcopy(v)


# ----------------------------------------------------------------------------------------------
# building and checking
# ----------------------------------------------------------------------------------------------

_REQUIRED = ("observe", "ready", "rollout", "state_dict", "load_state_dict")


def build_predictor(name: str | registry.PredictorSpec, context: PredictorContext, options: Mapping | None = None):
    """The predictor ``name`` (a registry name, arm kind, entry point or dotted path) built with
    ``options`` (default: the config's, :func:`~predictive_training.config.predictor_options`) in
    ``context``; its ``name`` set to the registry's unit name."""
    spec = name if isinstance(name, registry.PredictorSpec) else registry.lookup(name)
    factory = registry.resolve(spec)
    opts = dict(predictor_options(dict(context.cfg), spec.name) if options is None else options)
    if isinstance(factory, type):
        make = getattr(factory, "from_context", None)
        p = make(context, opts) if callable(make) else factory(**opts)
    elif callable(factory):
        p = factory(context, opts)
    else:
        raise TypeError(f"predictor {spec.name!r}: {spec.factory} is neither a class nor a callable")
    missing = [m for m in _REQUIRED if not callable(getattr(p, m, None))]
    if missing:
        raise TypeError(f"predictor {spec.name!r} ({type(p).__name__}) lacks {missing}: subclass "
                        "predictive_training.dynamics.base.BasePredictor (docs/predictors.md)")
    if spec.builtin:
        if getattr(p, "name", None) != spec.unit:
            raise RuntimeError(f"built-in predictor {spec.name!r} is named {getattr(p, 'name', None)!r}, not "
                               f"{spec.unit!r}: the registry is out of date")
    else:
        p.name = spec.unit
    return p


def state_size(predictor) -> tuple[float, float]:
    """``(total, fixed)``: float32-equivalent numbers a predictor keeps between steps, and the part of
    them that does not grow with the model, from its ``state_numbers()`` (a number: ``fixed`` 0; a dict
    with ``total`` or ``fp32_equivalent`` and optionally ``fixed``), else counted in its ``state_dict()``."""
    f = getattr(predictor, "state_numbers", None)
    if not callable(f) and not callable(getattr(predictor, "state_dict", None)):
        return 0.0, 0.0  # keeps no declared state (it cannot be checkpointed either: build_predictor needs one)
    v = f() if callable(f) else _footprint(predictor)
    if isinstance(v, Mapping):
        return float(v.get("fp32_equivalent", v.get("total"))), float(v.get("fixed", 0.0))
    return float(v), 0.0


def check_state_bound(predictor, n_params: int, where: str) -> tuple[float, float]:
    """:func:`state_size`, or :class:`StateBoundError` when the part that grows with the model
    (``total - fixed``) exceeds ``STATE_BOUND x n_params``."""
    total, fixed = state_size(predictor)
    if total - fixed > STATE_BOUND * n_params:
        raise StateBoundError(f"predictor {getattr(predictor, 'name', type(predictor).__name__)!r} holds "
                              f"{total - fixed:,.0f} numbers that grow with the model ({(total - fixed) / n_params:.2f} N; "
                              f"{total:,.0f} in all) {where}, above the bound of {STATE_BOUND} N = "
                              f"{STATE_BOUND * n_params:,} (N = {n_params:,} model parameters; dynamics/footprint.py): "
                              "store less, or in bfloat16 or low rank")
    return total, fixed


def check_config_predictors(cfg: Mapping) -> None:
    """Import every outside predictor the config names and check its options against the class
    (``check_options``), and the per-arm options of built-ins; raise ConfigError naming the key.
    The workflow runs it at parse time, before any job (config validation itself imports no torch)."""
    c = dict(cfg)
    for key, name, arm in predictor_uses(dict(cfg)):
        spec = registry.lookup(name)
        if spec.builtin and (arm is None or not cfg["arms"][arm].get("options")):
            continue
        try:
            factory = registry.resolve(spec)
        except registry.RegistryError as exc:
            raise ConfigError(f"config key '{key}': {exc}") from None
        if not spec.builtin and getattr(factory, "loso", False):
            raise ConfigError(f"config key '{key}': {name} declares offline training on the other seeds "
                              "(loso); outside leave-one-seed-out predictors are not supported (docs/predictors.md)")
        check = getattr(factory, "check_options", None)
        if callable(check):
            opts = predictor_options(c, spec.name, arm)
            try:
                check(opts)
            except (TypeError, ValueError) as exc:
                where = f"arms.{arm}.options" if arm is not None and cfg["arms"][arm].get("options") else (
                    f"predictors.{name}.options" if not spec.builtin else key)
                raise ConfigError(f"config key '{where}': predictor {name}: {exc}") from None
