"""Streaming random-projection sketch of flattened gradients / weight updates.

Experiment 1 (gradient structure) needs cosines, PCA spectra and autocorrelations of the
gradient at every step. At paper scale (n ~ 1e8 parameters, 1e4 steps) the exact matrix is
4 TB, so the recorder stores a k-dimensional sketch ``S g`` of each gradient instead.

Construction: block CountSketch (the "block" sparse Johnson-Lindenstrauss transform of
Kane & Nelson, 2014). The k output coordinates are split into ``n_hashes`` = s blocks of
k/s buckets. Coordinate i of the input is sent to one bucket per block, with an independent
random sign, and weight 1/sqrt(s)::

    (S x)[j*(k/s) + h_j(i)] += sigma_j(i) * x[i] / sqrt(s)      for j = 0..s-1

Properties (used by the tests):

* unbiased: E[<Sx, Sy>] = <x, y> for every pair x, y (so E||Sx||^2 = ||x||^2);
* variance: for s = 1, Var <Sx, Sy> = (||x||^2 ||y||^2 + <x,y>^2 - 2 sum_i x_i^2 y_i^2) / k,
  never larger than that of a dense Gaussian projection, ((||x||^2 ||y||^2 + <x,y>^2) / k).
  A cosine c is therefore estimated with a standard error of about (1 - c^2) / sqrt(k);
  more hashes (s > 1) shrink the tail probability of large errors, not the variance;
* cost O(s n) per projection (one scatter-add), no dense n x k matrix;
* memory: one int32 bucket index per (coordinate, hash), the sign folded into the index,
  i.e. 4 s n bytes (400 MB for n = 1e8, s = 1), independent of the number of steps.

The hash tables are drawn from ``torch.Generator(seed)`` on the CPU in fixed-size pieces, so
the sketch is a deterministic function of (n, k, n_hashes, seed) on every device. On the CPU
``index_add_`` accumulates serially, so projections are bitwise reproducible; on CUDA the
scatter uses atomics and the last bits may vary between runs.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

__all__ = ["GradientSketch"]

# Inputs are projected in pieces of this many elements: bounds the temporary memory and
# keeps float32 partial sums short (each piece is added into a float64 accumulator).
_PIECE = 1 << 22
# Hash tables are generated in pieces of this many coordinates (part of the definition of
# the sketch: changing it changes the random tables for a given seed).
_GEN_PIECE = 1 << 22


class GradientSketch:
    """Seeded random projection R^n -> R^k for flattened gradients / weight updates.

    Args:
        n: input dimension (number of parameters), > 0.
        k: sketch dimension, > 0 and divisible by ``n_hashes``.
        seed: integer seed; the projection is a deterministic function of (n, k, n_hashes, seed).
        device: device of the hash tables and of the computation ("cpu", "cuda", ...).
        n_hashes: number s of buckets per coordinate (block CountSketch), >= 1.

    Memory: ``nbytes == 4 * n * n_hashes`` (int32 tables), O(n), independent of the
    number of steps sketched. No [n] float copy of the input is made by ``project_chunks``.
    """

    def __init__(self, n: int, k: int, seed: int, device="cpu", n_hashes: int = 1):
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"k must be a positive int, got {k!r}")
        if not isinstance(n_hashes, int) or isinstance(n_hashes, bool) or n_hashes < 1:
            raise ValueError(f"n_hashes must be an int >= 1, got {n_hashes!r}")
        if k % n_hashes != 0:
            raise ValueError(f"k ({k}) must be divisible by n_hashes ({n_hashes})")
        if 2 * k >= 2**31:
            raise ValueError(f"k is too large for int32 bucket indices: {k}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.n = n
        self.k = k
        self.seed = seed
        self.n_hashes = n_hashes
        self.device = torch.device(device)
        self._scale = 1.0 / math.sqrt(n_hashes)
        block = k // n_hashes
        gen = torch.Generator(device="cpu")
        gen.manual_seed(seed)
        # _index[j][i] in [0, 2k): bucket of coordinate i under hash j, plus k if its sign is
        # negative. Folding the sign into the index makes a projection one scatter-add into
        # 2k bins followed by a subtraction: no per-step sign multiply over n elements.
        self._index: list[torch.Tensor] = []
        for j in range(n_hashes):
            table = torch.empty(n, dtype=torch.int32)
            for lo in range(0, n, _GEN_PIECE):
                m = min(_GEN_PIECE, n - lo)
                bucket = torch.randint(0, block, (m,), generator=gen, dtype=torch.int32)
                negative = torch.randint(0, 2, (m,), generator=gen, dtype=torch.int32)
                table[lo : lo + m] = bucket + j * block + k * negative
            self._index.append(table.to(self.device))

    # ------------------------------------------------------------------ memory accounting
    @staticmethod
    def buffer_bytes(n: int, k: int, n_hashes: int = 1) -> int:
        """Bytes held by the hash tables of a sketch with these sizes (without allocating it)."""
        del k  # the tables do not depend on k (one int32 per coordinate and hash)
        return 4 * n * n_hashes

    @property
    def nbytes(self) -> int:
        """Bytes actually held by this object's tensors."""
        return sum(t.numel() * t.element_size() for t in self._index)

    # ------------------------------------------------------------------ projection
    def _new_accumulator(self) -> torch.Tensor:
        return torch.zeros(2 * self.k, dtype=torch.float64, device=self.device)

    def _add_piece(self, acc: torch.Tensor, piece: torch.Tensor, offset: int) -> None:
        """acc += signed-bucket sums of piece, which holds input coordinates offset.. ."""
        piece = piece.to(device=self.device, dtype=torch.float32).reshape(-1)
        m = piece.numel()
        for lo in range(0, m, _PIECE):
            hi = min(m, lo + _PIECE)
            sub = piece[lo:hi]
            for table in self._index:
                part = torch.zeros(2 * self.k, dtype=torch.float32, device=self.device)
                part.index_add_(0, table[offset + lo : offset + hi], sub)
                acc += part

    def _finish(self, acc: torch.Tensor) -> torch.Tensor:
        return ((acc[: self.k] - acc[self.k :]) * self._scale).to(torch.float32)

    def project(self, flat: torch.Tensor) -> torch.Tensor:
        """Project one flattened vector.

        Args:
            flat: [n] floating tensor (any float dtype, any device; moved to ``self.device``).
        Returns:
            [k] float32 tensor on ``self.device``, S @ flat.
        """
        if not isinstance(flat, torch.Tensor) or not flat.is_floating_point():
            raise ValueError("flat must be a floating-point torch.Tensor")
        if flat.dim() != 1 or flat.numel() != self.n:
            raise ValueError(f"flat must have shape [{self.n}], got {list(flat.shape)}")
        acc = self._new_accumulator()
        self._add_piece(acc, flat.detach(), 0)
        return self._finish(acc)

    def project_chunks(self, chunks: Iterable[torch.Tensor]) -> torch.Tensor:
        """Project the concatenation of ``chunks`` (flattened, in order) without building it.

        Args:
            chunks: iterable of floating tensors of any shape (e.g. ``p.grad`` for the model's
                parameters in a fixed order); their total number of elements must be n.
        Returns:
            [k] float32 tensor, equal (up to float rounding) to
            ``project(torch.cat([c.reshape(-1) for c in chunks]))``.
        """
        acc = self._new_accumulator()
        offset = 0
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, torch.Tensor) or not chunk.is_floating_point():
                raise ValueError(f"chunks[{i}] must be a floating-point torch.Tensor")
            m = chunk.numel()
            if offset + m > self.n:
                raise ValueError(f"chunks hold more than n = {self.n} elements")
            self._add_piece(acc, chunk.detach(), offset)
            offset += m
        if offset != self.n:
            raise ValueError(f"chunks hold {offset} elements, expected n = {self.n}")
        return self._finish(acc)

    def __repr__(self) -> str:
        return (
            f"GradientSketch(n={self.n}, k={self.k}, seed={self.seed}, "
            f"n_hashes={self.n_hashes}, device={self.device})"
        )
