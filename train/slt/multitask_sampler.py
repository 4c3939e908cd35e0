"""Multitask mixing for stage 3 / finetuning: every batch holds SLT and SSA samples in a fixed ratio.

The paper trains on mixed batches, 80 % SLT / 20 % SSA (architecture §5). The samples themselves (SLT sentence
windows, SSA subtitle windows with their optional audio-aligned priors) are built in ``datasets_scripts``; this
module only decides *which* ready-made sample goes into which batch position.

Design [ours]:

* ``MultitaskSampler`` is an index sampler: it yields dataset indices so that each consecutive block of
  ``batch_size`` indices is one batch with the requested mix. The Trainer's ``DataLoader`` cuts exactly those blocks,
  and under DDP ``accelerate`` hands whole batches to each process, so the mix holds per device batch.
* A ratio that does not divide the batch (0.8 × 4 = 3.2) is met exactly over a few batches by error diffusion
  (3, 3, 3, 4, 3 SLT samples → 16 / 20), never drifting.
* Each task pool is shuffled and cycled independently (the SSA pool is usually smaller); the order is a pure
  function of ``(seed, epoch)`` so resuming an interrupted run replays the same data order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
from signllm.configuration_signllm import TASK_TO_ID
from torch.utils.data import Sampler

SLT_ID = TASK_TO_ID["slt"]
SSA_ID = TASK_TO_ID["ssa"]


def slt_counts_per_batch(num_batches: int, batch_size: int, slt_fraction: float) -> list[int]:
    """SLT samples in each of ``num_batches`` batches so the running total tracks ``slt_fraction`` exactly.

    >>> slt_counts_per_batch(5, 4, 0.8)
    [3, 3, 3, 4, 3]
    """
    target = [math.floor((k + 1) * batch_size * slt_fraction + 1e-9) for k in range(num_batches)]
    return [b - a for a, b in zip([0] + target[:-1], target)]


class _CyclingPool:
    """Indices of one task, reshuffled with the sampler's generator every time the pool runs out."""

    def __init__(self, indices: list[int], generator: torch.Generator):
        self.indices = indices
        self.generator = generator
        self.order: list[int] = []

    def take(self, count: int) -> list[int]:
        out = []
        while len(out) < count:
            if not self.order:
                perm = torch.randperm(len(self.indices), generator=self.generator).tolist()
                self.order = [self.indices[i] for i in perm]
            out.append(self.order.pop())
        return out


class MultitaskSampler(Sampler[int]):
    """Yield dataset indices in batches of ``batch_size`` that mix SLT and SSA at ``slt_fraction``.

    Args:
        task_ids (`Sequence[int]`): task of every dataset item (0 = slt, 1 = ssa), e.g. ``dataset["task_id"]``.
        batch_size (`int`): per-device batch size (the block the mix is enforced on).
        slt_fraction (`float`, *optional*, defaults to 0.8): share of SLT samples [paper: 80/20]. ``1.0`` = SLT only
            (stages 1–2, How2Sign finetuning); SSA items are then never drawn.
        num_samples (`int`, *optional*): indices per epoch; defaults to the number of items of the tasks in use,
            rounded up to whole batches.
        seed (`int`, *optional*, defaults to 0): base seed; the order of epoch ``e`` depends only on ``(seed, e)``.
        shuffle_within_batch (`bool`, *optional*, defaults to `True`): interleave tasks inside a batch.
        on_set_epoch (`Callable[[int], None]`, *optional*): also called by `set_epoch` — typically the dataset's
            ``set_epoch``, because accelerate stops forwarding the epoch to the dataset once the sampler takes it.
    """

    def __init__(
        self,
        task_ids: Sequence[int],
        batch_size: int,
        slt_fraction: float = 0.8,
        num_samples: int | None = None,
        seed: int = 0,
        shuffle_within_batch: bool = True,
        on_set_epoch: Callable[[int], None] | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if not 0.0 <= slt_fraction <= 1.0:
            raise ValueError(f"slt_fraction must be in [0, 1], got {slt_fraction}.")
        task_ids = [int(t) for t in task_ids]
        unknown = set(task_ids) - {SLT_ID, SSA_ID}
        if unknown:
            raise ValueError(f"unknown task ids {sorted(unknown)}; expected {SLT_ID} (slt) or {SSA_ID} (ssa).")
        self.slt_indices = [i for i, t in enumerate(task_ids) if t == SLT_ID]
        self.ssa_indices = [i for i, t in enumerate(task_ids) if t == SSA_ID]
        if slt_fraction > 0 and not self.slt_indices:
            raise ValueError(f"slt_fraction={slt_fraction} but the dataset has no SLT samples.")
        if slt_fraction < 1 and not self.ssa_indices:
            raise ValueError(
                f"slt_fraction={slt_fraction} asks for SSA samples but the dataset has none; "
                "use slt_fraction=1.0 for SLT-only training or build SSA windows (datasets_scripts)."
            )
        self.batch_size = batch_size
        self.slt_fraction = slt_fraction
        used = (len(self.slt_indices) if slt_fraction > 0 else 0) + (len(self.ssa_indices) if slt_fraction < 1 else 0)
        num_samples = used if num_samples is None else num_samples
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        self.num_batches = -(-num_samples // batch_size)
        self.seed = seed
        self.epoch = 0
        self.shuffle_within_batch = shuffle_within_batch
        self.on_set_epoch = on_set_epoch

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer / accelerate at each epoch start (also when resuming)."""
        self.epoch = int(epoch)
        if self.on_set_epoch is not None:
            self.on_set_epoch(self.epoch)

    def batches(self) -> list[list[int]]:
        """The epoch's batches (lists of dataset indices), deterministic in ``(seed, epoch)``."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        slt_pool = _CyclingPool(self.slt_indices, generator)
        ssa_pool = _CyclingPool(self.ssa_indices, generator)
        out = []
        for num_slt in slt_counts_per_batch(self.num_batches, self.batch_size, self.slt_fraction):
            batch = slt_pool.take(num_slt) + ssa_pool.take(self.batch_size - num_slt)
            if self.shuffle_within_batch:
                batch = [batch[i] for i in torch.randperm(len(batch), generator=generator).tolist()]
            out.append(batch)
        return out

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        return self.num_batches * self.batch_size
