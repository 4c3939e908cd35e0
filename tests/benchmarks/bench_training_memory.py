"""Where SignLLM's training memory goes (stage 3: backbones + Perceiver + DoRA trainable) and what cuts it.

    # GPU: the paper preset (random Flan-T5-XL-sized T5, nothing downloaded), batch 1 / 2 / 4, three variants
    python tests/benchmarks/bench_training_memory.py
    # no GPU: the paper preset estimated from CPU runs at reduced length and T5 depth (~15 min on 2 cores)
    python tests/benchmarks/bench_training_memory.py --estimate
    # CPU smoke run on the tiny preset (what the test suite runs)
    python tests/benchmarks/bench_training_memory.py --preset tiny --device cpu --frames 16

Variants (one optimizer step each: forward, backward, AdamW, bf16 autocast on the accelerator):

* ``fp32-frozen``: today's default; every weight in fp32, autocast casts them to bf16 on use;
* ``bf16-frozen``: ``config.frozen_weights_dtype="bfloat16"`` + ``model.cast_frozen_weights()`` — the frozen base
  Flan-T5 (and lip reader) held in bf16;
* ``bf16-frozen+ckpt``: the same + ``model.gradient_checkpointing_enable()`` — T5 blocks, Conformer blocks, AGCN
  layers and Perceiver layers recomputed in backward (``training.gradient_checkpointing: true`` in the recipe).

Printed per variant:

* static memory, exact from the parameters: weights by dtype, gradients and AdamW state of the trainable ones;
* what autograd keeps for backward after the forward (`SavedTensorLedger`: unique storages still referenced by
  the graph, parameters excluded), by component — pose AGCN, pose / lip Conformer, Perceiver, T5 encoder and
  decoder layers, loss — and the low-precision *copies of weights* autocast saved (batch independent);
* on a GPU: ``torch.cuda.max_memory_allocated`` per batch size and seconds per step.

Without a GPU (``--estimate``) the paper preset is measured on the CPU at 2 lengths (100, 200 frames) and 2 T5 depths
(1, 2 layers; full width) under bf16 autocast, each component extrapolated bilinearly to 500 frames and 24 + 24
layers; static memory is exact. The backward pass's transient working set (activation gradients, temporaries) is not
visible on the CPU: it is calibrated once against the H200 measurement of today's default (batch 1 29.74 GB,
batch 2 38.25 GB peak, 2026-11-26) and applied to the other variants (`predict_peaks`), which is the estimate's
main uncertainty.

Estimated 2026-11-30 (``--estimate --threads 2 --grid-cache …``, build machine, 2 shared cores; CPU estimates, not
GPU measurements), paper preset, 500 frames, pose + lip features, 16-token prompt, 24-token target:

* where today's 21.2 GB fixed goes: fp32 weights 12.2 GB (3.04 B parameters, 2.78 B of them the frozen Flan-T5),
  gradients + AdamW state of the 256 M trainable parameters 3.1 GB, and bf16 copies of the frozen T5 weights that
  autocast saves for backward — the CPU run saves two per adapted layer (10.9 GB: PEFT's DoRA runs the base matmul a
  second time on the dropped-out input), the H200 fixed part implies one (5.5 GB); no optimizer state or gradient
  exists for a frozen weight. Per sample (500 frames, bf16): AGCN 1.7 GB, pose and lip sliding Conformers 1.3 GB
  each, T5 activations 1.4 GB, Perceiver 0.07 GB, loss 0.02 GB (the fp32 logits of 24 target tokens: 3 MB);
  the H200 adds ~40 % on top (backward temporaries);
* ``bf16-frozen``: weights 6.6 GB, no weight copies: fixed 10.2 GB + 8.3 GB per sample -> batch 4 ≈ 43 GB
  (H200 today, measured: 55 GB; target ≤ 44 GB: met by the estimate, with little margin);
* ``bf16-frozen+ckpt``: 0.3 GB kept per sample, one recomputed block at a time (the largest, the face AGCN layer
  384 wide, holds 0.52 GB per sample): batch 4 ≈ 16-23 GB (target ≤ 22 GB: likely, not certain); one step costs
  1.42x the time without checkpointing (CPU, paper widths with a 2-layer T5, 100 frames, alternating steps).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Self

import torch
from torch import nn

PAPER_GB_PER_SAMPLE = 5.6
PAPER_BATCH_PER_48GB = 4
VARIANTS = {
    "fp32-frozen": {"frozen_weights_dtype": None, "checkpointing": False},
    "bf16-frozen": {"frozen_weights_dtype": "bfloat16", "checkpointing": False},
    "bf16-frozen+ckpt": {"frozen_weights_dtype": "bfloat16", "checkpointing": True},
}
# today's default measured on one H200 (torch 2.11, transformers 5.17, peft 0.21, bf16 autocast, 500 frames)
H200_BASELINE = {"date": "2026-11-26", "peak_gb": {1: 29.74, 2: 38.25}, "seconds_per_step_batch4": 0.763}
GB = 1e9


def _bootstrap_signllm() -> None:
    """Import ``signllm`` from this checkout when it is not installed (e.g. a bare GPU machine with a repo copy)."""
    try:
        import signllm  # noqa: F401

        return
    except ImportError:
        pass
    root = Path(__file__).resolve().parents[2]
    for name, folder in (("signllm", "modeling_signllm"), ("signllm.train", "train")):
        spec = importlib.util.spec_from_file_location(
            name, root / folder / "__init__.py", submodule_search_locations=[str(root / folder)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    sys.modules["signllm"].train = sys.modules["signllm.train"]


# ---------------------------------------------------------------------------------------------- accounting
def component_of(module_name: str) -> str:
    """Group a module path into the components the breakdown reports."""
    parts = module_name.split(".")
    if module_name.startswith("pose_encoder.articulator_encoders"):
        return "pose AGCN"
    if module_name.startswith(("pose_encoder.conformer", "lip_encoder.conformer")):
        return f"{parts[0].split('_')[0]} Conformer (sliding windows)"
    if parts[0] in ("pose_encoder", "lip_encoder"):
        return f"{parts[0].split('_')[0]} projections + pooling"
    if parts[0] == "resampler":
        return "Perceiver"
    if parts[0] == "lip_reader":
        return "lip reader"
    if parts[0] == "language_model":
        for stack in ("encoder", "decoder"):
            if f".{stack}.block." in f".{module_name}.":
                return f"T5 {stack} layers"
        return "T5 embeddings / final norm / lm_head"
    return "loss and glue (outside modules)"


class _Saved:
    __slots__ = ("__weakref__", "component", "tensor")

    def __init__(self, tensor: torch.Tensor, component: str):
        self.tensor, self.component = tensor, component


class SavedTensorLedger:
    """What autograd keeps for backward once the forward is done, by component, in bytes.

    A ``saved_tensors_hooks`` pack hook wraps every saved tensor with the module that saved it; wrappers of graphs
    that die during the forward (e.g. PEFT's DoRA weight-norm helper graph) are gone by the end, so only what
    backward will read is counted. Storages are counted once; parameters are excluded. A saved 2-D tensor with the
    shape of a weight near the saving module (see `_weight_copy_of`) but another storage is a *copy of that
    weight* (autocast's low-precision cast), reported apart (frozen / trainable) because it does not grow with the
    batch. Inside activation-checkpointed layers torch's own hook
    takes over (nothing is kept); their inputs, which the checkpoint keeps, are added.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.modules = dict(model.named_modules())
        self.names = {id(m): name for name, m in self.modules.items()}
        self.parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.stack: list[str] = []
        self.entries: list[weakref.ref] = []
        self.checkpoint_inputs: list[_Saved] = []

    def __enter__(self) -> Self:
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
        from transformers.modeling_layers import GradientCheckpointingLayer

        def pre(module, args):
            name = self.names.get(id(module))
            if name is not None:
                self.stack.append(name)
                if isinstance(module, GradientCheckpointingLayer) and module.gradient_checkpointing and module.training:
                    component = f"checkpointed layer inputs ({component_of(name)})"
                    self.checkpoint_inputs += [_Saved(a, component) for a in args if isinstance(a, torch.Tensor)]

        def post(module, args, output):
            if self.names.get(id(module)) is not None and self.stack:
                self.stack.pop()

        self.handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda saved: saved.tensor)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.hooks.__exit__(*exc)
        for handle in self.handles:
            handle.remove()

    def _weight_copy_of(self, tensor: torch.Tensor) -> nn.Parameter | None:
        """The weight (of the saving module's grandparent, which holds its siblings: PEFT's DoRA layer
        ``q.lora_magnitude_vector.default`` multiplies by ``q.base_layer.weight``) that ``tensor`` is a copy of."""
        if not self.stack or tensor.dim() != 2 or not tensor.is_floating_point():
            return None
        parts = self.stack[-1].split(".")
        owners = [".".join(parts[:-up]) for up in (1, 2) if len(parts) > up]  # parent, grandparent; never the root
        for owner in owners:
            for parameter in self.modules[owner].parameters():
                if parameter.dim() == 2 and tuple(tensor.shape) in (tuple(parameter.shape), tuple(parameter.shape[::-1])):
                    return parameter
        return None

    def _pack(self, tensor: torch.Tensor) -> _Saved:
        weight = None
        if tensor.untyped_storage().data_ptr() not in self.parameter_storages:
            weight = self._weight_copy_of(tensor)
        if weight is not None:
            component = f"copies of {'trainable' if weight.requires_grad else 'frozen'} weights"
        else:
            component = component_of(self.stack[-1]) if self.stack else component_of("")
        saved = _Saved(tensor, component)
        self.entries.append(weakref.ref(saved))
        return saved

    def breakdown(self) -> dict[str, int]:
        """``{component: bytes}`` of what is alive now (call after the forward, before backward)."""
        alive = [entry() for entry in self.entries]
        seen: set[int] = set()
        out: dict[str, int] = defaultdict(int)
        for saved in [s for s in alive if s is not None] + self.checkpoint_inputs:
            storage = saved.tensor.untyped_storage()
            pointer = storage.data_ptr()
            if pointer in seen or pointer in self.parameter_storages or storage.nbytes() == 0:
                continue
            seen.add(pointer)
            out[saved.component] += storage.nbytes()
        return dict(out)


def static_memory(model: nn.Module) -> dict[str, int]:
    """Bytes of weights (by dtype), gradients and AdamW state (2 fp32 moments) of the trainable parameters."""
    out: dict[str, int] = defaultdict(int)
    for p in model.parameters():
        out[f"weights {str(p.dtype).removeprefix('torch.')}"] += p.numel() * p.element_size()
        if p.requires_grad:
            out["gradients (trainable, fp32)"] += p.numel() * p.element_size()
            out["AdamW state (trainable, 2 x fp32)"] += 2 * p.numel() * 4
    return dict(out)


BATCH_INDEPENDENT = ("copies of frozen weights", "copies of trainable weights")


# ------------------------------------------------------------------------------------------------- running
def make_batch(config, batch_size: int, num_frames: int, device: torch.device, prompt: int = 16, target: int = 24):
    """Random inputs of the shapes a 20 s window gives: pose (b, t, 203, 3), lip features (b, t, 768), prompt, labels."""
    generator = torch.Generator().manual_seed(0)
    vocab = config.text_config.vocab_size
    batch = {
        "pose_values": torch.randn(batch_size, num_frames, 203, 3, generator=generator),
        "pose_attention_mask": torch.ones(batch_size, num_frames, dtype=torch.long),
        "input_ids": torch.randint(2, vocab, (batch_size, prompt), generator=generator),
        "attention_mask": torch.ones(batch_size, prompt, dtype=torch.long),
        "labels": torch.randint(2, vocab, (batch_size, target), generator=generator),
        "task_ids": torch.zeros(batch_size, dtype=torch.long),
    }
    if config.use_lip:
        batch["lip_values"] = torch.randn(batch_size, num_frames, config.lip_config.feature_size, generator=generator)
        batch["lip_attention_mask"] = torch.ones(batch_size, num_frames, dtype=torch.long)
    return {k: v.to(device) for k, v in batch.items()}


def build_model(
    preset: str, num_frames: int, device: torch.device, variant: str = "fp32-frozen", text_layers: int | None = None
):
    """The preset at stage 3 with the variant's switches (random weights; nothing downloaded)."""
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.train.slt.curriculum import apply_stage

    settings = VARIANTS[variant]
    overrides = {"frozen_weights_dtype": settings["frozen_weights_dtype"]}
    if text_layers is not None:  # CPU estimate: a shallow T5 of the same width, extrapolated in depth
        overrides["text_config"] = {"num_layers": text_layers, "num_decoder_layers": text_layers}
    config = SignLLMConfig.from_preset(preset, num_frames=num_frames, text_model_name_or_path=None, **overrides)
    with torch.device(device):  # build directly on the device: a 3B-parameter model never sits in host memory
        model = SignLLMForConditionalGeneration(config)
    apply_stage(model, "3")
    model.cast_frozen_weights()
    if settings["checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def training_step(model, batch, optimizer, dtype: torch.dtype | None, ledger: bool = False):
    """One forward / backward / AdamW step; returns (seconds, saved-tensor breakdown or None, loss)."""
    device = batch["pose_values"].device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    breakdown = None
    if ledger:
        with SavedTensorLedger(model) as book, autocast:
            loss = model(**batch).loss
        breakdown = book.breakdown()
        del book
    else:
        with autocast:
            loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    synchronize()
    return time.perf_counter() - start, breakdown, float(loss.detach())


def measure(preset, variant, batch_sizes, num_frames, device, dtype, repeats=2, text_layers=None) -> dict:
    """Build one variant and run each batch size: peak memory (CUDA), seconds per step, saved tensors at batch 1."""
    torch.manual_seed(0)
    model = build_model(preset, num_frames, device, variant, text_layers).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    result = {"variant": variant, "static": static_memory(model), "runs": []}
    for index, batch_size in enumerate(batch_sizes):
        batch = make_batch(model.config, batch_size, num_frames, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        first, breakdown, loss = training_step(model, batch, optimizer, dtype, ledger=index == 0)
        peak = torch.cuda.max_memory_allocated() / GB if device.type == "cuda" else None
        times = [training_step(model, batch, optimizer, dtype)[0] for _ in range(repeats)]
        if breakdown is not None:
            result["saved"], result["saved_batch_size"] = breakdown, batch_size
        result["runs"].append({"batch_size": batch_size, "peak_gb": peak, "seconds_per_step": min(times or [first]),
                               "loss": loss})  # fmt: skip
    del model, optimizer
    return result


def per_sample_and_fixed(result: dict) -> tuple[dict[str, float], float]:
    """Saved tensors split into per-sample ``{component: bytes}`` and the batch-independent weight copies."""
    saved, batch_size = result["saved"], result["saved_batch_size"]
    per_sample = {k: v / batch_size for k, v in saved.items() if k not in BATCH_INDEPENDENT}
    return per_sample, sum(v for k, v in saved.items() if k in BATCH_INDEPENDENT)


# ---------------------------------------------------------------------------------------------- estimation
def _bilinear(points: dict[tuple[int, int], float], layers: int, frames: int) -> float:
    """Exact bilinear fit ``a + b·F + L·(c + d·F)`` through 4 points ``(L, F)``, evaluated at ``(layers, frames)``."""
    (l0, l1), (f0, f1) = sorted({l for l, _ in points}), sorted({f for _, f in points})
    at = {key: points[key] for key in points}

    def in_frames(layer: int) -> float:
        return at[(layer, f0)] + (at[(layer, f1)] - at[(layer, f0)]) * (frames - f0) / (f1 - f0)

    return in_frames(l0) + (in_frames(l1) - in_frames(l0)) * (layers - l0) / (l1 - l0)


def estimate_variant(
    variant: str, frames: int, grid_frames: list[int], grid_layers: list[int], threads: int, cache: Path | None = None
) -> dict:
    """CPU: saved tensors of the paper preset at the grid points (batch 1, bf16 autocast), extrapolated. Grid points
    already in the JSON ``cache`` file are reused (the grid takes ~10 minutes per variant on 2 cores)."""
    from signllm.configuration_signllm import SignLLMConfig

    depth = SignLLMConfig.from_preset("paper").text_config.num_layers
    stored = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
    points: dict[tuple[int, int], dict[str, int]] = {}
    seconds: dict[tuple[int, int], float] = {}
    for layers in grid_layers:
        for length in grid_frames:
            key = f"{variant} {layers} {length}"
            if key not in stored:
                run = measure("paper", variant, [1], length, torch.device("cpu"), torch.bfloat16, repeats=1,
                              text_layers=layers)  # fmt: skip
                stored[key] = {"saved": run["saved"], "seconds": run["runs"][0]["seconds_per_step"]}
                if cache is not None:
                    cache.write_text(json.dumps(stored))
            points[(layers, length)] = stored[key]["saved"]
            seconds[(layers, length)] = stored[key]["seconds"]
            print(f"  [{variant}] T5 layers {layers}, {length} frames: saved {sum(points[(layers, length)].values()) / GB:.2f}"
                  f" GB, {seconds[(layers, length)]:.1f} s/step ({threads} threads)", flush=True)  # fmt: skip
    components = sorted({c for saved in points.values() for c in saved})
    saved = {c: max(0.0, _bilinear({k: v.get(c, 0) for k, v in points.items()}, depth, frames)) for c in components}
    with torch.device("meta"):  # exact static memory of the full-depth model without allocating it
        static = static_memory(build_model("paper", frames, torch.device("meta"), variant))
    return {"variant": variant, "static": static, "saved": saved, "saved_batch_size": 1, "grid_saved": {str(k): v for k, v in points.items()},
            "grid_seconds_per_step": {str(k): v for k, v in seconds.items()}}  # fmt: skip


def predict_peaks(results: dict[str, dict], batch_sizes: list[int]) -> dict[str, dict]:
    """GPU peak per batch size from the CPU accounting, anchored on the H200 measurement of today's default.

    ``fixed`` = static memory + the batch-independent weight copies; ``per sample`` = the saved tensors, plus the
    backward pass's transient working set. The H200 baseline fixes two numbers the CPU cannot see: its fixed part
    is ``Δ`` below the CPU accounting (attributed to the frozen-weight copies — the CPU saves two bf16 copies of every
    frozen base weight, DoRA's extra matmul being the second — so a variant without such copies gets no ``Δ``), and
    its per-sample part is ``(1 + r)`` times the accounted saved tensors (``r``: transient + device differences).
    A checkpointed variant keeps almost nothing per sample but recomputes one block at a time; its per-sample cost is
    given as a range: low = kept·(1 + r) + 2 × the largest block (its activations and their gradients), high =
    kept·(1 + r) + the largest block + ``r`` × what the same model without checkpointing saves."""
    base = results["fp32-frozen"]
    base_ps, base_fixed_saved = per_sample_and_fixed(base)
    h200 = H200_BASELINE["peak_gb"]
    measured_ps = (h200[2] - h200[1]) * GB
    measured_fixed = h200[1] * GB - measured_ps
    delta = measured_fixed - (sum(base["static"].values()) + base_fixed_saved)
    ratio = (measured_ps - sum(base_ps.values())) / sum(base_ps.values())
    out = {"calibration": {"fixed_delta_gb": delta / GB, "per_sample_ratio": ratio}}
    for name, result in results.items():
        per_sample, _ = per_sample_and_fixed(result)
        saved = result["saved"]
        frozen_copies = saved.get("copies of frozen weights", 0.0)
        fixed = sum(result["static"].values()) + saved.get("copies of trainable weights", 0.0)
        fixed += max(0.0, frozen_copies + delta) if frozen_copies > 0 else 0.0
        kept = sum(per_sample.values()) * (1 + ratio)
        if VARIANTS[name]["checkpointing"]:
            block = result.get("largest_recomputed_block_bytes", 0.0)
            reference = sum(per_sample_and_fixed(results[name.removesuffix("+ckpt")])[0].values())
            low, high = kept + 2 * block, kept + block + ratio * reference
        else:
            low = high = kept
        out[name] = {"fixed_gb": fixed / GB, "per_sample_gb": (low / GB, high / GB),
                     "peak_gb": {b: ((fixed + b * low) / GB, (fixed + b * high) / GB) for b in batch_sizes}}  # fmt: skip
    return out


def checkpointing_cost(frames: int, rounds: int, text_layers: int = 2) -> dict[str, float]:
    """Seconds per training step with and without checkpointing at the paper widths (a ``text_layers``-layer T5,
    ``frames``-frame windows, batch 1, bf16 autocast, frozen weights in bf16), steps alternating so a changing CPU
    load hits both alike; best of ``rounds``."""
    device = torch.device("cpu")
    models = {}
    for variant in ("bf16-frozen", "bf16-frozen+ckpt"):
        torch.manual_seed(0)
        model = build_model("paper", frames, device, variant, text_layers).train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        models[variant] = (model, optimizer, make_batch(model.config, 1, frames, device))
    best = dict.fromkeys(models, float("inf"))
    for _ in range(rounds + 1):  # the first round warms up
        for variant, (model, optimizer, batch) in models.items():
            seconds = training_step(model, batch, optimizer, torch.bfloat16)[0]
            best[variant] = min(best[variant], seconds) if _ else best[variant]
    cost = best["bf16-frozen+ckpt"] / best["bf16-frozen"]
    print(f"\ncheckpointing cost (CPU, paper widths, {text_layers}-layer T5, {frames} frames, batch 1, best of {rounds} "
          f"alternating steps): {best['bf16-frozen']:.2f} s -> {best['bf16-frozen+ckpt']:.2f} s per step "
          f"(x{cost:.2f}; recomputing every block is one more forward: x4/3 at most)")  # fmt: skip
    return {"seconds_per_step": best, "ratio": cost, "frames": frames, "text_layers": text_layers}


def largest_block_bytes(frames: int) -> float:
    """Per-sample bytes one recomputed block holds during its backward: the biggest AGCN layer (face, last layer)
    measured alone at ``frames`` on the CPU under bf16 autocast, without checkpointing."""
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.keypoint_layout import articulator_adjacency
    from signllm.modeling_agcn import SignLLMAGCNLayer

    config = SignLLMConfig.from_preset("paper").pose_config
    widths = [config.agcn_in_channels, *config.agcn_channels]
    layer = SignLLMAGCNLayer(widths[-2], widths[-1], torch.from_numpy(articulator_adjacency("face"))).train()
    x = torch.randn(1, 128, frames, widths[-2], requires_grad=True)  # joint-major (n, v, t, c)
    with SavedTensorLedger(layer) as book, torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    total = sum(book.breakdown().values())
    del y, book
    return float(total)


# --------------------------------------------------------------------------------------------------- output
def print_breakdown(results: dict[str, dict], title: str) -> None:
    names = list(results)
    batch = next(iter(results.values()))["saved_batch_size"]
    rows = sorted({k for r in results.values() for k in r["static"]}) + [f"(saved for backward, batch {batch})"]
    rows += sorted({k for r in results.values() for k in r["saved"]})
    print(f"\n{title}")
    print(f"{'GB':46s}" + "".join(f"{n:>18s}" for n in names))
    for row in rows:
        if row.startswith("("):
            print(row)
            continue
        values = [r["static"].get(row, r["saved"].get(row, 0.0)) / GB for r in results.values()]
        print(f"  {row:44s}" + "".join(f"{v:18.2f}" for v in values))
    totals = [(sum(r["static"].values()) + sum(r["saved"].values())) / GB for r in results.values()]
    print(f"  {f'static + saved (batch {batch})':44s}" + "".join(f"{v:18.2f}" for v in totals))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--preset", default="paper" if cuda else "tiny", choices=["paper", "tiny"])
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--frames", type=int, default=None, help="window length (default: the preset's)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--dtype", default=None, choices=["bf16", "fp32"], help="autocast (default bf16 on GPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--estimate", action="store_true", help="no GPU: estimate the paper preset from CPU runs")
    parser.add_argument("--estimate-frames", type=int, nargs=2, default=[100, 200])
    parser.add_argument("--estimate-layers", type=int, nargs=2, default=[1, 2])
    parser.add_argument("--grid-cache", help="JSON file keeping the CPU grid measurements between runs")
    parser.add_argument("--cost-frames", type=int, default=100, help="window length of the checkpointing-cost run")
    parser.add_argument("--cost-rounds", type=int, default=3)
    parser.add_argument("--output", help="also write the JSON summary here")
    args = parser.parse_args(argv)

    _bootstrap_signllm()
    from signllm.configuration_signllm import SignLLMConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    device = torch.device(args.device)
    if args.estimate:
        frames = args.frames or SignLLMConfig.from_preset("paper").num_frames
        print(f"CPU estimate of the paper preset at {frames} frames (bf16 autocast, {threads} threads); every number "
              "below is an estimate, not a GPU measurement")  # fmt: skip
        variants = list(dict.fromkeys(["fp32-frozen", *args.variants]))  # the baseline is the calibration point
        cache = Path(args.grid_cache) if args.grid_cache else None
        results = {v: estimate_variant(v, frames, args.estimate_frames, args.estimate_layers, threads, cache)
                   for v in variants}  # fmt: skip
        block = largest_block_bytes(frames)
        for name, result in results.items():
            if VARIANTS[name]["checkpointing"]:
                result["largest_recomputed_block_bytes"] = block
        predicted = predict_peaks(results, args.batch_sizes)
        print_breakdown(results, f"static memory and saved tensors, paper preset, {frames} frames (CPU estimate)")
        summary = {"mode": "cpu-estimate", "frames": frames, "threads": threads, "results": results,
                   "predicted": predicted, "h200_baseline": H200_BASELINE}  # fmt: skip
        calibration = predicted["calibration"]
        print(f"\npredicted GPU peak, GB (CPU accounting anchored on the H200 measurement of {H200_BASELINE['date']}: "
              f"fixed part {calibration['fixed_delta_gb']:+.2f} GB where frozen-weight copies exist, per sample "
              f"x{1 + calibration['per_sample_ratio']:.2f}; see predict_peaks)")  # fmt: skip
        for name in results:
            p = predicted[name]

            def span(pair) -> str:
                return f"{pair[0]:6.2f}" if abs(pair[0] - pair[1]) < 0.005 else f"{pair[0]:.2f}-{pair[1]:.2f}"

            peaks = "  ".join(f"batch {b}: {span(v)}" for b, v in p["peak_gb"].items())
            print(f"  {name:18s} fixed {p['fixed_gb']:6.2f} + {span(p['per_sample_gb'])}/sample -> {peaks}")
        print(f"  H200 measured ({H200_BASELINE['date']}, fp32-frozen): batch 1 {H200_BASELINE['peak_gb'][1]}, "
              f"batch 2 {H200_BASELINE['peak_gb'][2]}; targets: batch 4 <= 44 GB, <= 22 GB with checkpointing")
        summary["checkpointing_cost"] = checkpointing_cost(args.cost_frames, args.cost_rounds)
    else:
        frames = args.frames or SignLLMConfig.from_preset(args.preset).num_frames
        dtype = {"bf16": torch.bfloat16, "fp32": None}[args.dtype or ("bf16" if device.type == "cuda" else "fp32")]
        results = {v: measure(args.preset, v, sorted(args.batch_sizes), frames, device, dtype) for v in args.variants}
        print_breakdown(results, f"{args.preset} preset, {frames} frames, {device}, autocast {dtype}")
        print(f"\nper batch size ({'peak = torch.cuda.max_memory_allocated' if device.type == 'cuda' else 'CPU: no peak'})")
        for name, result in results.items():
            for run in result["runs"]:
                peak = f"{run['peak_gb']:6.2f} GB peak" if run["peak_gb"] is not None else "peak n/a"
                print(f"  {name:18s} batch {run['batch_size']}: {peak}, {run['seconds_per_step']:.3f} s/step "
                      f"({run['batch_size'] / run['seconds_per_step']:.2f} samples/s)")  # fmt: skip
        summary = {"mode": "measured", "preset": args.preset, "frames": frames, "device": str(device),
                   "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                   "threads": threads, "results": results}  # fmt: skip
    print(f"paper: {PAPER_GB_PER_SAMPLE} GB per sample (sliding Conformer), batch {PAPER_BATCH_PER_48GB} per 48 GB")
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
