"""How many numbers a predictor holds, against the bound of 8 x N (N = the trained model's parameters).

A predictor rides along a training run (the hybrid arms, and shadow mode's observers); at paper
scale (N = 98M or 494M parameters) every copy of the model's size costs 0.4 or 2 GB, so each
predictor's state is bounded by ``STATE_BOUND`` = 8 copies. Two counts:

- :func:`state_numbers`: the persistent state, what ``state_dict()`` returns (what a checkpoint
  holds and a resumed run restores): every tensor and array in it, nested containers included;
- :func:`held_numbers`: everything the predictor object keeps alive between calls (its tensors,
  arrays, submodules, optimiser state and working buffers), found by walking its attributes;
  storages shared with the trained model's parameters (``exclude``) are not the predictor's.

Both count elements (``numbers``) and ``bytes``; ``fp32_equivalent`` = bytes / 4 is the count in
float32 numbers, so that a bfloat16 copy counts half. The bound applies to ``fp32_equivalent``:
storing a state in bfloat16 (or low rank) is the way to fit it where that suffices.

Per predictor (N = model parameters; B = ``RSSMConfig.basis_size``, W = ``hybrid.repeat_window``):

- ``skip`` (:class:`~.simple.ZeroPredictor`): the last loss; holds no model-sized tensor.
- ``repeat`` (:class:`~.simple.RepeatPredictor`): the last W updates (float32 while W + 1 <= 8,
  else bfloat16) and, in float32, their running sum: (W + 1) N numbers, at most 8 N float32
  equivalents for W <= 14.
- ``rssm`` (:class:`~.rssm.RSSMPredictor`): the direction basis and its buffers grow with N; the
  rest (network, Adam moments, replay of ``replay_size`` rows) with the number of tensors only.
  The basis holds ``(B + 2) N`` numbers (7 N at the default B = 5, :mod:`.rssm.basis`); the tests and
  ``plan`` measure the whole state.
"""

from __future__ import annotations

import collections
import types
from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["STATE_BOUND", "state_numbers", "held_numbers", "within_bound"]

STATE_BOUND = 8  # a predictor holds at most this many float32 copies of the model
_NOT_STATE = (types.ModuleType, type, types.FunctionType, types.MethodType, types.BuiltinFunctionType)


def _storage_key(t: torch.Tensor):
    try:
        return ("t", t.untyped_storage().data_ptr(), t.device.type)
    except (RuntimeError, NotImplementedError):  # e.g. tensors without storage
        return ("id", id(t))


def _tensor_size(t: torch.Tensor) -> tuple[int, int]:
    """Elements and bytes of the whole storage (a view keeps its base alive)."""
    try:
        nbytes = t.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        nbytes = t.numel() * t.element_size()
    return nbytes // max(t.element_size(), 1), nbytes


class _Tally:
    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.seen: set = {_storage_key(t) for t in exclude}
        self.numbers = 0
        self.bytes = 0

    def tensor(self, t: torch.Tensor) -> None:
        key = _storage_key(t)
        if key in self.seen:
            return
        self.seen.add(key)
        n, b = _tensor_size(t)
        self.numbers += n
        self.bytes += b

    def array(self, a: np.ndarray) -> None:
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        key = ("np", id(base))
        if key in self.seen:
            return
        self.seen.add(key)
        self.numbers += base.size
        self.bytes += base.nbytes

    def result(self) -> dict:
        return {"numbers": self.numbers, "bytes": self.bytes, "fp32_equivalent": self.bytes / 4}


def _walk(obj, tally: _Tally, visited: set, descend_objects: bool) -> None:
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, torch.Tensor):
            tally.tensor(x)
            continue
        if isinstance(x, np.ndarray):
            if x.dtype != object:
                tally.array(x)
                continue
            stack.extend(x.ravel().tolist())
            continue
        if x is None or isinstance(x, (str, bytes, int, float, bool, complex, torch.dtype, torch.device,
                                       torch.Size, np.generic, torch.Generator, np.random.Generator,
                                       np.random.BitGenerator)):
            continue
        if id(x) in visited:
            continue
        visited.add(id(x))
        if isinstance(x, dict):
            stack.extend(x.values())
            stack.extend(k for k in x.keys() if isinstance(k, torch.Tensor) is False and not isinstance(k, str))
        elif isinstance(x, (list, tuple, set, frozenset, collections.deque)):
            stack.extend(x)
        elif not descend_objects:
            continue
        elif isinstance(x, torch.nn.Module):
            stack.extend(x.parameters(recurse=True))
            stack.extend(x.buffers(recurse=True))
            stack.extend(v for k, v in vars(x).items() if not k.startswith("_") or k in ("_extra_state",))
            stack.extend(v for k, v in vars(x).items() if k.startswith("_") and k not in (
                "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_forward_hooks",
                "_forward_pre_hooks", "_backward_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks"))
        elif isinstance(x, torch.optim.Optimizer):
            stack.extend(x.state.values())
        elif hasattr(x, "__dict__") and not isinstance(x, _NOT_STATE):
            stack.extend(vars(x).values())


def state_numbers(predictor) -> dict:
    """Numbers in ``predictor.state_dict()`` (the persistent state): ``{"numbers", "bytes",
    "fp32_equivalent"}``. A predictor without ``state_dict`` raises TypeError."""
    if not hasattr(predictor, "state_dict"):
        raise TypeError(f"{type(predictor).__name__} has no state_dict")
    tally = _Tally()
    _walk(predictor.state_dict(), tally, set(), descend_objects=False)
    return tally.result()


def held_numbers(predictor, exclude: Iterable[torch.Tensor] = ()) -> dict:
    """Numbers the predictor object keeps alive (its attributes, walked), without the storages of
    ``exclude`` (pass the trained model's parameters): ``{"numbers", "bytes", "fp32_equivalent"}``."""
    tally = _Tally(exclude)
    _walk(predictor, tally, set(), descend_objects=True)
    return tally.result()


def within_bound(count: dict, n_params: int, bound: float = STATE_BOUND) -> bool:
    """Whether a count (:func:`state_numbers` or :func:`held_numbers`) is at most ``bound`` x N float32."""
    return count["fp32_equivalent"] <= bound * n_params
