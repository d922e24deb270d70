"""The RSSM pretrained leave-one-seed-out on the other seeds' shadow data, then trained online.

Does more data help the study's own model? The baseline of every seed carries a shadow RSSM
(configured by ``hybrid.rssm``, exactly as the ``hybrid`` arms' model); at the end of its run the
shadow exports its replay buffer (:func:`export_stream`, written by
:mod:`predictive_training.records.rssm_stream`). For a held-out seed ``k``,
:func:`pretrain_leave_one_out` builds a fresh :class:`~.rssm.RSSMLite` with seed ``k`` and trains
it on the streams of the OTHER seeds (it refuses a stream of seed ``k``):

- the feature normaliser is fitted on every stream's observations, the coefficient statistics on
  every stream's coefficient targets;
- ``epochs`` passes; in each, every stream in turn is loaded into the replay buffer, re-filtered
  with the current weights, and trained for ``iters_per_epoch`` optimisation steps (default: the
  stream's length over the BPTT window, as the offline fit does) on windows drawn within it (a
  window never spans two seeds);
- what is saved, and carries over, is the network (GRU, prior, posterior, every head) and the
  buffers (feature normaliser, coefficient statistics); the online model keeps its own runtime state
  (empty replay and direction basis, fresh filtered state, generators, Adam optimiser, counters at 0).

Online (:class:`PretrainedRSSMPredictor`, arm kind and shadow predictor ``rssm_pretrained``) it
observes and trains exactly as the ``rssm`` predictor does, from that start. Its direction basis is
the run's own (directions are run-specific); the coefficient centre restarts with the run's first
basis. Limits: a stream is the last ``replay_size`` steps of a run, with coefficient targets in the
basis in force at the end of that run (what the online model itself trains on at the end).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..io import write_json
from ..records.rssm_stream import RSSM_STREAM, read_stream
from .. import registry
from .base import PredictorContext
from .rssm import N_GLOBAL_FEATURES, RSSMConfig, RSSMLite, RSSMPredictor, Replay

log = logging.getLogger(__name__)

__all__ = ["export_stream", "pretrain_leave_one_out", "save_pretrained", "pretrain_for_seed",
           "PretrainedRSSMPredictor"]


def export_stream(model: RSSMLite, seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """The replay buffer of ``model`` in time order, and its metadata (for ``records.rssm_stream``)."""
    arrays = model.replay.arrays()
    meta = {"seed": int(seed), "param_names": list(model.param_names),
            "param_shapes": {n: list(s) for n, s in model.basis.shapes.items()},
            "n_features": int(model.n_features), "config": asdict(model.config)}
    return arrays, meta


def _config(overrides: Mapping | None, seed: int) -> RSSMConfig:
    over = dict(overrides or {})
    over["seed"] = int(seed)  # the held-out seed, as the online RSSMPredictor sets it
    try:
        return RSSMConfig.from_dict(over)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config key 'hybrid.rssm': {exc}") from exc


def pretrain_leave_one_out(streams: Sequence[tuple[dict[str, np.ndarray], Mapping]], held_out_seed: int,
                           rssm_overrides: Mapping | None, epochs: int, iters_per_epoch: int | None = None) -> dict:
    """Pretrain an RSSM for ``held_out_seed`` on ``streams`` (``(arrays, meta)`` of the other seeds;
    ValueError if one is of ``held_out_seed``, or none is given, or they disagree). Returns what
    :func:`save_pretrained` writes: the model's state, its config, the seeds, and ``info``."""
    t0 = time.perf_counter()
    if not streams:
        raise ValueError(f"the pretrained RSSM for seed {held_out_seed} needs the shadow data of another seed")
    seeds = [int(m["seed"]) for _, m in streams]
    if int(held_out_seed) in seeds:
        raise ValueError(f"leave-one-seed-out: the RSSM for seed {held_out_seed} must not pretrain on its own "
                         f"seed's shadow data")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"two RSSM streams of the same seed: {sorted(seeds)}")
    names, shapes = streams[0][1]["param_names"], streams[0][1]["param_shapes"]
    if any(m["param_names"] != names or m["param_shapes"] != shapes for _, m in streams):
        raise ValueError("RSSM streams of models with different parameters")
    cfg = _config(rssm_overrides, held_out_seed)
    model = RSSMLite(N_GLOBAL_FEATURES + 2 * len(names), {n: tuple(s) for n, s in shapes.items()}, cfg)
    for arrays, m in streams:
        if arrays["obs"].shape[1] != model.n_features or tuple(arrays["coef"].shape[1:]) != (model.n_tensors,
                                                                                              cfg.basis_size):
            raise ValueError(f"the RSSM stream of seed {m['seed']} does not match hybrid.rssm (features or basis size)")
    for arrays, _ in streams:
        for x in arrays["obs"]:
            model.update_normaliser(x)
        for c, ok in zip(arrays["coef"], arrays["coef_mask"]):
            if ok:
                model.update_coef_stats(torch.from_numpy(np.asarray(c, dtype=np.float32)))
    cap = max(a["obs"].shape[0] for a, _ in streams)
    history = []
    for epoch in range(int(epochs)):
        for arrays, m in streams:
            s = arrays["obs"].shape[0]
            if s < cfg.window:
                continue
            rp = Replay(cap, model.n_features, model.n_tensors, cfg.basis_size, cfg.deter_dim, cfg.stoch_dim)
            rp.fill(arrays)
            model.replay = rp
            model.refilter(0)
            stats = model.optimise(int(iters_per_epoch) if iters_per_epoch else max(1, s // cfg.window))
            history.append({"epoch": epoch, "seed": int(m["seed"]), **stats})
        if history:
            log.info("pretrained RSSM for seed %d: epoch %d/%d, total loss %.4f", held_out_seed, epoch + 1,
                     int(epochs), history[-1].get("total", float("nan")))
    n_trained = model.n_train_steps
    # what carries over: the network's weights and the buffers (normalisers, coefficient statistics);
    # not the runtime ("extra") state, so the online model starts with its own empty replay and
    # basis, fresh filtered state, generators, Adam and counters (and the file stays small)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("_extra_state")}
    info = {"train_s": time.perf_counter() - t0, "optimisation_steps": int(n_trained), "epochs": int(epochs),
            "stream_steps": {int(m["seed"]): int(a["obs"].shape[0]) for a, m in streams}, "history": history}
    return {"state": state, "config": asdict(cfg), "held_out_seed": int(held_out_seed),
            "trained_on_seeds": sorted(seeds), "param_names": list(names), "param_shapes": dict(shapes),
            "info": info}


def save_pretrained(path: str | os.PathLike, obj: Mapping) -> None:
    """Write a pretrained RSSM atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    torch.save(dict(obj), tmp)
    os.replace(tmp, path)


def pretrain_for_seed(cfg: Mapping, baseline_dirs: Sequence[str | os.PathLike], held_out_seed: int,
                      out_path: str | os.PathLike) -> dict:
    """The workflow's ``train_rssm_pretrained`` job: read the RSSM streams of ``baseline_dirs`` (the
    baselines of the other seeds), pretrain for ``held_out_seed`` (``hybrid.rssm``,
    ``hybrid.rssm_pretrained``), write the model to ``out_path`` and its log (``train_s``: the
    offline time, apart from any run's cost) to ``out_path`` with suffix ``.json``."""
    streams = [read_stream(Path(d) / RSSM_STREAM) for d in baseline_dirs]
    p = cfg["hybrid"]["rssm_pretrained"]
    obj = pretrain_leave_one_out(streams, held_out_seed, cfg["hybrid"]["rssm"], p["epochs"], p["iters_per_epoch"])
    save_pretrained(out_path, obj)
    write_json(Path(out_path).with_suffix(".json"), {k: v for k, v in obj.items() if k != "state"})
    log.info("RSSM for seed %d pretrained on seeds %s in %.1f s", held_out_seed, obj["trained_on_seeds"],
             obj["info"]["train_s"])
    return obj


class PretrainedRSSMPredictor(RSSMPredictor):
    """The ``rssm`` predictor started from a leave-one-seed-out pretrained model (see the module
    docstring); then it observes and trains online exactly as ``rssm`` does."""

    name = "rssm_pretrained"

    def __init__(self, model: torch.nn.Module, rssm_overrides: Mapping | None, seed: int, path: str | os.PathLike):
        super().__init__(model, rssm_overrides, seed)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the workflow's train_rssm_pretrained rule makes it")
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if int(obj["held_out_seed"]) != int(seed) or int(seed) in [int(s) for s in obj["trained_on_seeds"]]:
            raise ValueError(f"{path}: pretrained for seed {obj['held_out_seed']} on seeds {obj['trained_on_seeds']}; "
                             f"it cannot be applied to seed {seed} (leave-one-seed-out)")
        if obj["config"] != asdict(self.model.config):
            raise ValueError(f"{path}: pretrained with another hybrid.rssm than this run's")
        if obj["param_names"] != self.names:
            raise ValueError(f"{path}: pretrained on a model with other parameters than this run's")
        missing, unexpected = self.model.load_state_dict(obj["state"], strict=False)
        if unexpected or any(not k.endswith("_extra_state") for k in missing):
            raise ValueError(f"{path}: not a pretrained RSSM of this configuration (missing {missing}, "
                             f"unexpected {unexpected})")
        self.pretrained_on = list(obj["trained_on_seeds"])

    @classmethod
    def from_context(cls, context: PredictorContext, options: Mapping) -> "PretrainedRSSMPredictor":
        """``options``: ``hybrid.rssm``; the model trained on the other seeds for this seed is
        ``context.files["rssm_pretrained"]`` (the workflow's train_rssm_pretrained rule)."""
        if cls.name not in context.files:
            raise ValueError(f"predictor {cls.name!r} needs its model trained on the other seeds (the workflow's "
                             f"train_{cls.name} rule); none was given for seed {context.seed}")
        return cls(context.model, options, context.seed, context.files[cls.name])

    @classmethod
    def check_options(cls, options: Mapping) -> None:
        RSSMConfig.from_dict({**dict(options), "seed": 0})

    @classmethod
    def stand_in_files(cls, cfg: Mapping, shapes: Mapping[str, tuple[int, ...]], seed: int, folder) -> dict:
        """An untrained RSSM of ``hybrid.rssm``'s shape for a model of ``shapes``, saved as a pretrained
        one of ``seed`` (trained on no seed): the calibration times it (unit costs depend on shapes)."""
        path = Path(folder) / f"{cls.name}_stand_in_seed{seed}.pt"
        rcfg = RSSMConfig.from_dict({**(cfg["hybrid"].get("rssm") or {}), "seed": int(seed)})  # as pretraining sets it
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            rssm = RSSMLite(N_GLOBAL_FEATURES + 2 * len(shapes), dict(shapes), rcfg)
        state = {k: v for k, v in rssm.state_dict().items() if not k.endswith("_extra_state")}
        save_pretrained(path, {"state": state, "config": dataclasses.asdict(rcfg), "held_out_seed": int(seed),
                               "trained_on_seeds": [], "param_names": list(shapes),
                               "param_shapes": {n: list(v) for n, v in shapes.items()},
                               "info": {"stand_in": registry.BUILTIN[cls.name].stand_in}})
        return {cls.name: str(path)}

    def ready(self) -> bool:
        """Ready once its direction basis and error statistics hold this run's updates: the network
        was trained offline, so the online readiness count (``RSSMConfig.min_train_steps``
        optimisation steps of this run) does not apply."""
        m = self.model
        return not m.basis.is_empty and m.err_count > 0
