"""The predictor registry: every predictor the study can run, found by the name a config gives.

Wherever a config names a predictor (an arm's ``kind``, an entry of ``record.shadow.predictors``,
a key of ``predictors``), :func:`lookup` finds it, in this order:

1. a built-in predictor (:data:`BUILTIN`), by its name or by its arm kind (``hybrid`` is the RSSM,
   ``skip`` the zero predictor);
2. an entry point in the group ``predictive_training.predictors`` (:data:`ENTRY_POINT_GROUP`) of an
   installed package: ``[project.entry-points."predictive_training.predictors"] name = "pkg.mod:Class"``;
3. a dotted path ``package.module:ClassName`` to a class on the Python path.

Each is a :class:`PredictorSpec`: the metadata that the config validation, the analysis, the
statistics and the report read (this module imports neither torch nor any other part of the
package, so every layer may use it) and the factory as a dotted string, which only the training
side resolves (:func:`resolve`): a predictor class (``dynamics/base.py``'s ``BasePredictor``,
whose ``from_context(context, options)`` builds it) or a callable ``factory(context, options)``.

Finding an outside predictor imports nothing: an entry point is read from the installed
packages' metadata and a dotted path's module is located with the import system's finders
(:func:`find_module`); the class itself is imported by the training jobs (and by
``check_config_predictors`` in ``dynamics/base.py``, which the workflow runs before any job).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENTRY_POINT_GROUP", "BUILTIN", "PredictorSpec", "RegistryError", "lookup", "builtin", "arm_kinds", "group_of",
           "entry_points", "find_module", "resolve", "provenance", "where_registered", "GROUPS"]

ENTRY_POINT_GROUP = "predictive_training.predictors"

#: How the report and Exp 3 group predictors: the study's RSSM, the field's predictors (published
#: methods), the simple references (extrapolations of recent updates), the controls of Exp 4/5 and
#: predictors from outside the package.
GROUPS = {"rssm": "the study's dynamics model", "field": "the field's predictors",
          "simple": "simple references", "control": "controls", "outside": "outside predictors",
          "oracle": "span oracles (hindsight ceilings, not predictors)"}

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


class RegistryError(ValueError):
    """A predictor name that cannot be resolved; the message says where predictors are registered."""


@dataclass(frozen=True)
class PredictorSpec:
    """One predictor of the registry.

    name: the name a config gives (a built-in's name, an entry point's name, or the dotted path);
        shadow rows, Exp 3 and the report call the predictor by it.
    factory: ``"module:attribute"``, resolved lazily by :func:`resolve` (training side only).
    kind: the arm kind that selects it (``arms.<a>.kind``); for outside predictors the name.
    unit: its name in counted work units (``observe/<unit>``, ``rollout/<unit>/<Y>``), in
        ``summary.json`` and in events: the predictor object's ``name``.
    group: a key of :data:`GROUPS`.
    label: one line for tables and the docs.
    options_key: where a built-in's options come from: a config block whose keys are its options
        (``hybrid.dmd``), or ``option=key`` for one option held by a scalar key
        (``window=hybrid.repeat_window``); None for outside predictors, whose options are
        ``predictors.<name>.options``. Per arm, ``arms.<a>.options`` is merged over them.
    loso: trained offline on the OTHER seeds' baselines (leave-one-seed-out): the workflow trains
        one model per seed (rules ``train_<name>``) and scores its shadow on a replay.
    stand_in: what the calibration runs in place of a ``loso`` predictor's trained model.
    gated: its arms predict only while the skill gate lets them (``hybrid.gate``), unless an arm
        says otherwise (``arms.<a>.skill_gate``).
    control: a control of Exp 4 and 5 (the same phase schedule, a trivial prediction): predicted
        arms are compared with the control arms at their nominal ratio and horizon.
    moves_weights: False for a predictor whose delta is zero by construction (``skip``): its
        Correct phase has nothing to search.
    marker: its marker in the figures.
    source: ``builtin``, ``entry point`` or ``path``.
    """

    name: str
    factory: str
    kind: str
    unit: str
    group: str
    label: str
    options_key: str | None = None
    loso: bool = False
    stand_in: str | None = None
    gated: bool = False
    control: bool = False
    moves_weights: bool = True
    marker: str = "*"
    source: str = "builtin"

    @property
    def builtin(self) -> bool:
        return self.source == "builtin"


_D = "predictive_training.dynamics"

#: The built-in predictors, by name (their arm kind, where it differs, in ``kind``).
BUILTIN: dict[str, PredictorSpec] = {s.name: s for s in (
    PredictorSpec("rssm", f"{_D}.rssm:RSSMPredictor", "hybrid", "rssm", "rssm",
                  "RSSM-lite dynamics model trained online (the study's hypothesis)", "hybrid.rssm",
                  gated=True, marker="o"),
    PredictorSpec("zero", f"{_D}.simple:ZeroPredictor", "skip", "skip", "control",
                  "no weight change (the skip control)", None, control=True, moves_weights=False, marker="x"),
    PredictorSpec("repeat", f"{_D}.simple:RepeatPredictor", "repeat", "repeat", "control",
                  "Y x the mean of the last hybrid.repeat_window updates (the repeat control)", "window=hybrid.repeat_window",
                  control=True, marker="s"),
    PredictorSpec("ema", f"{_D}.simple:EmaDeltaPredictor", "ema", "ema", "simple",
                  "EMA of the per-unit-learning-rate updates", "beta=record.shadow.ema_beta", marker="<"),
    PredictorSpec("linear", f"{_D}.simple:LinearDeltaPredictor", "linear", "linear", "simple",
                  "linear trend of the per-unit-learning-rate updates", "beta=record.shadow.ema_beta", marker=">"),
    PredictorSpec("verified", f"{_D}.verified:VerifiedExtrapolation", "verified", "verified", "field",
                  "verified extrapolation (Fast Forward)", "hybrid.verified", marker="^"),
    PredictorSpec("dmd", f"{_D}.dmd:DMDPredictor", "dmd", "dmd", "field",
                  "DMD extrapolation of the last updates per tensor", "hybrid.dmd", marker="D"),
    PredictorSpec("nowcaster", f"{_D}.nowcaster:NowcasterPredictor", "nowcaster", "nowcaster", "field",
                  "per-weight nowcaster trained on the other seeds", "hybrid.nowcaster", loso=True,
                  stand_in="stand-in: an untrained nowcaster network of hybrid.nowcaster's shape (history, hidden) "
                           "for this model's parameters; the trained one of each seed has the same architecture "
                           "and size, and the unit costs depend on shapes, not values", marker="v"),
    PredictorSpec("rssm_pretrained", f"{_D}.rssm_pretrain:PretrainedRSSMPredictor", "rssm_pretrained",
                  "rssm_pretrained", "field", "the RSSM pretrained on the other seeds' shadow data",
                  "hybrid.rssm", loso=True,
                  stand_in="stand-in: an untrained RSSM of hybrid.rssm's shape for this model; the pretrained one "
                           "of each seed has the same architecture and size, and the unit costs depend on shapes, "
                           "not values", marker="P"),
)}
_BY_KIND = {s.kind: s for s in BUILTIN.values()}


def builtin(name: str) -> PredictorSpec | None:
    """The built-in predictor of a name or arm kind, else None."""
    return BUILTIN.get(name) or _BY_KIND.get(name)


def group_of(name: str) -> str:
    """The :data:`GROUPS` key of a predictor name as records carry it: ``oracle`` for a span oracle
    (``span<m>``), the registry's group otherwise; an outside predictor that cannot be found (any
    longer) is still ``outside``."""
    if re.fullmatch(r"span\d+", name):
        return "oracle"
    spec = builtin(name)
    if spec is not None:
        return spec.group
    return "outside"


def arm_kinds() -> list[str]:
    """The arm kinds of the built-in predictors (``hybrid``, ``skip``, ``repeat``, ...)."""
    return [s.kind for s in BUILTIN.values()]


def entry_points() -> dict[str, str]:
    """Installed predictors: entry point name -> ``"module:attribute"`` (read from package metadata,
    nothing imported)."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def where_registered() -> str:
    """One sentence naming every place a predictor can come from, and what each holds now."""
    eps = entry_points()
    return ("predictors are the built-ins (" + ", ".join(f"{s.name}" + (f" = kind {s.kind}" if s.kind != s.name else "")
                                               for s in BUILTIN.values())
            + f"), entry points in the group {ENTRY_POINT_GROUP!r} of installed packages ("
            + (", ".join(sorted(eps)) or "none installed") + "), or a dotted path 'package.module:ClassName' "
            "to a class on the Python path")


def find_module(module: str) -> str | None:
    """The file of ``module`` (``a.b.c``) as the import system would find it, WITHOUT importing it or
    its parent packages (a parent's ``__init__`` may import torch); None if it cannot be found."""
    parts = module.split(".")
    path = None
    origin = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        if name in sys.modules:  # already imported: its spec is at hand
            spec = getattr(sys.modules[name], "__spec__", None)
        else:
            spec = None
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                try:
                    spec = find(name, path)
                except (ImportError, ValueError, AttributeError):
                    spec = None
                if spec is not None:
                    break
        if spec is None:
            return None
        origin = spec.origin
        path = spec.submodule_search_locations
        if i < len(parts) - 1 and path is None:  # a module where a package is needed
            return None
    return origin or module


def lookup(name: str) -> PredictorSpec:
    """The predictor of ``name`` (a built-in name or arm kind, an entry point, a dotted path).

    Raises :class:`RegistryError` that names every place predictors are registered when nothing
    matches, and for a dotted path whose module cannot be found."""
    if not isinstance(name, str) or not name:
        raise RegistryError(f"a predictor name must be a non-empty string, got {name!r}; {where_registered()}")
    spec = builtin(name)
    if spec is not None:
        return spec
    eps = entry_points()
    if name in eps:
        value = eps[name]
        if not _DOTTED.match(value):
            raise RegistryError(f"entry point {name!r} of group {ENTRY_POINT_GROUP!r} points at {value!r}, "
                                "not 'package.module:ClassName'")
        _check_module(value, f"entry point {name!r}")
        return PredictorSpec(name, value, name, _unit(name), "outside", f"entry point {name}", source="entry point")
    if ":" in name:
        if not _DOTTED.match(name):
            raise RegistryError(f"{name!r} is not a dotted path 'package.module:ClassName'")
        _check_module(name, "dotted path")
        return PredictorSpec(name, name, name, _unit(name), "outside", name, source="path")
    raise RegistryError(f"no predictor named {name!r}; {where_registered()}")


def _unit(name: str) -> str:
    """An outside predictor's name in work units and events: the name with ':' and '.' kept (units
    are JSON keys; nothing uses them as paths)."""
    return name


def _check_module(value: str, what: str) -> None:
    module = value.split(":")[0]
    if find_module(module) is None:
        raise RegistryError(f"{what} {value!r}: module {module!r} cannot be found on the Python path "
                            f"(is its package installed in this environment, or its folder on PYTHONPATH?); "
                            f"{where_registered()}")


def resolve(spec: PredictorSpec):
    """Import the factory of ``spec`` (training side: imports the predictor's module)."""
    module, attr = spec.factory.split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise RegistryError(f"predictor {spec.name!r}: cannot import {module!r}: {exc}") from exc
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise RegistryError(f"predictor {spec.name!r}: module {module!r} has no {attr!r}") from None


def provenance(spec: PredictorSpec) -> dict:
    """Where a predictor came from, for a run's record: its source and factory, and for an outside
    predictor the distribution (name, version) that provides its module and the sha256 of the module's
    file (read from disk; nothing imported)."""
    out = {"name": spec.name, "source": spec.source, "factory": spec.factory}
    if spec.builtin:
        return out
    module = spec.factory.split(":")[0]
    top = module.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top, [])
    out["package"] = dists[0] if dists else None
    try:
        out["version"] = importlib.metadata.version(dists[0]) if dists else None
    except importlib.metadata.PackageNotFoundError:
        out["version"] = None
    origin = find_module(module)
    out["file"] = origin
    try:
        out["sha256"] = hashlib.sha256(Path(origin).read_bytes()).hexdigest() if origin else None
    except OSError:
        out["sha256"] = None
    return out
