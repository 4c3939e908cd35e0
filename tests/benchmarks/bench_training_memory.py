"""Training memory per sample of SignLLM (stage 3: backbones + Perceiver + DoRA trainable, sliding Conformer).

    # on a GPU: the paper preset (random Flan-T5-XL-sized T5 built from its config, nothing downloaded)
    python tests/benchmarks/bench_training_memory.py                       # batch 1 and 2, 500 frames, bf16 autocast
    # on a CPU: the same measurement on the tiny preset (what the test suite runs)
    python tests/benchmarks/bench_training_memory.py --preset tiny --device cpu

For each batch size it runs one optimizer step (forward, backward, AdamW) and reports

* ``peak_gb``: ``torch.cuda.max_memory_allocated`` (GPU only) — weights + optimizer state + activations;
* ``activations_gb``: bytes autograd saved for backward (unique storages, parameters excluded) — device independent;
* the per-sample cost = difference between batch 2 and batch 1 (fixed costs cancel).

The paper (Jang et al. 2025) reports 5.6 GB per sample with the sliding Conformer (29.6 GB when the whole backbone
runs per window) and trains batch 4 per 48 GB A6000.

Estimated here without a GPU (``--preset paper --device cpu --estimate``, 2 CPU cores, ~20 min under load), stage 3,
500 frames, pose + lip, 16-token prompt, 24-token target: 14.0 GB of fp32 saved activations per sample (9.3 GB with
a 1-layer T5, +0.21 GB per extra encoder+decoder layer pair, 24 pairs); fixed 15.2 GB (3.04 B fp32 weights + grads
and AdamW state of the 256 M trainable parameters) -> batch 2 per 48 GB in fp32. bf16 autocast roughly halves the
activations (~7 GB/sample), which puts batch 4 at ~43 GB: consistent with the paper's batch 4 per 48 GB.

Measured on a GPU (2026-11-26, one NVIDIA H200, torch 2.11 + transformers 5.17 there, bf16 autocast, fp32 weights,
``--batch-sizes 1 2``): batch 1 29.74 GB peak, batch 2 38.25 GB peak -> 8.5 GB peak / 6.5 GB saved activations per
sample, 21.2 GB fixed -> batch 3 per 48 GB (paper: 5.6 GB per sample, batch 4). The gap is the fixed part: fp32
master weights of the 2.8 B frozen Flan-T5-XL (11 GB); keeping the frozen LM in bf16 would bring batch 4 within 48 GB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

PAPER_GB_PER_SAMPLE = 5.6
PAPER_BATCH_PER_48GB = 4


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


@contextmanager
def saved_activation_bytes(model: torch.nn.Module):
    """Count the bytes autograd keeps for backward (unique storages, model parameters excluded)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer not in parameters:
            seen[pointer] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield seen


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


def build_model(preset: str, num_frames: int, device: torch.device, text_layers: int | None = None):
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.train.slt.curriculum import apply_stage

    overrides = {}
    if text_layers is not None:  # CPU estimate: a shallow T5 of the same width, extrapolated in depth
        overrides["text_config"] = {"num_layers": text_layers, "num_decoder_layers": text_layers}
    config = SignLLMConfig.from_preset(preset, num_frames=num_frames, text_model_name_or_path=None, **overrides)
    with torch.device(device):  # build directly on the device: a 3B-parameter model never sits in host memory
        model = SignLLMForConditionalGeneration(config)
    apply_stage(model, "3")
    return model


def measure(model, batch_sizes: list[int], num_frames: int, device: torch.device, dtype: torch.dtype | None):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    rows = []
    for batch_size in batch_sizes:
        batch = make_batch(model.config, batch_size, num_frames, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        autocast = (
            torch.autocast(device.type, dtype=dtype)
            if dtype is not None
            else torch.autocast(device.type, enabled=False)
        )
        with saved_activation_bytes(model) as saved, autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows.append({
            "batch_size": batch_size,
            "activations_gb": sum(saved.values()) / 1e9,
            "peak_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None,
            "step_seconds": time.perf_counter() - start,
            "loss": float(loss.detach()),
        })  # fmt: skip
    return rows


def summarize(rows: list[dict], preset: str, num_frames: int, device: torch.device, counts: dict) -> dict:
    """Per-sample cost from the two smallest batches, and the batch that would fit a 48 GB card."""
    summary = {"preset": preset, "num_frames": num_frames, "device": str(device), "parameters": counts, "runs": rows,
               "paper_gb_per_sample": PAPER_GB_PER_SAMPLE, "paper_batch_per_48gb": PAPER_BATCH_PER_48GB}  # fmt: skip
    if len(rows) >= 2:
        a, b = rows[0], rows[1]
        span = b["batch_size"] - a["batch_size"]
        summary["activations_gb_per_sample"] = (b["activations_gb"] - a["activations_gb"]) / span
        if a["peak_gb"] is not None:
            per_sample = (b["peak_gb"] - a["peak_gb"]) / span
            fixed = a["peak_gb"] - per_sample * a["batch_size"]
            summary["peak_gb_per_sample"] = per_sample
            summary["fixed_gb"] = fixed
            summary["batch_per_48gb"] = int((48 - fixed) // per_sample) if per_sample > 0 else None
    return summary


def estimate_without_gpu(preset: str, frames: int, depths: tuple[int, int] = (1, 2)) -> dict:
    """No GPU: measure saved activations at batch 1 with 1 and 2 T5 layers (encoder + decoder each), extrapolate
    linearly to the preset's depth, and add the fixed memory of weights (fp32) + grads + AdamW state of the
    trainable parameters. fp32 activations: an upper bound for bf16 autocast training (roughly half)."""
    from signllm.configuration_signllm import SignLLMConfig

    depth = SignLLMConfig.from_preset(preset).text_config.num_layers
    device = torch.device("cpu")
    measured = []
    for layers in depths:
        torch.manual_seed(0)
        model = build_model(preset, frames, device, text_layers=layers)
        row = measure(model, [1], frames, device, None)[0]
        measured.append(row["activations_gb"])
        del model
    per_layer = (measured[1] - measured[0]) / (depths[1] - depths[0])
    activations = measured[0] + per_layer * (depth - depths[0])
    with torch.device("meta"):  # parameter counts of the full-depth model without allocating it
        counts = build_model(preset, frames, torch.device("meta")).parameter_counts()
    fixed = (4 * counts["total"] + 12 * counts["trainable"]) / 1e9
    return {
        "preset": preset, "num_frames": frames, "mode": "cpu-estimate (fp32 activations, extrapolated in T5 depth)",
        "activations_gb_per_sample": activations, "activations_gb_at_depths": dict(zip(depths, measured)),
        "text_layers": depth, "parameters": counts, "fixed_gb_fp32_weights_adamw": fixed,
        "batch_per_48gb": int((48 - fixed) // activations) if activations > 0 else None,
        "paper_gb_per_sample": PAPER_GB_PER_SAMPLE, "paper_batch_per_48gb": PAPER_BATCH_PER_48GB,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--preset", default="paper" if cuda else "tiny", choices=["paper", "tiny"])
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--frames", type=int, default=None, help="window length (default: the preset's)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtype", default="bf16" if cuda else "fp32", choices=["bf16", "fp16", "fp32"])
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="no GPU: estimate the preset's per-sample memory from shallow-T5 CPU measurements",
    )
    parser.add_argument("--output", help="also write the JSON summary here")
    args = parser.parse_args(argv)

    _bootstrap_signllm()
    from signllm.configuration_signllm import SignLLMConfig

    device = torch.device(args.device)
    frames = args.frames or SignLLMConfig.from_preset(args.preset).num_frames
    if args.estimate:
        summary = estimate_without_gpu(args.preset, frames)
        print(json.dumps(summary, indent=2))
        if args.output:
            Path(args.output).write_text(json.dumps(summary, indent=2))
        return summary
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[args.dtype]
    torch.manual_seed(0)
    model = build_model(args.preset, frames, device)
    counts = model.parameter_counts()
    rows = measure(model, sorted(args.batch_sizes), frames, device, dtype)
    summary = summarize(rows, args.preset, frames, device, counts)
    summary["dtype"] = args.dtype
    if device.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(device)
    print(json.dumps(summary, indent=2))
    print(f"\n{args.preset} preset, {frames} frames, {args.dtype}, {device}:")
    for row in rows:
        peak = f"{row['peak_gb']:.2f} GB peak" if row["peak_gb"] is not None else "peak n/a (CPU)"
        print(f"  batch {row['batch_size']}: {peak}, {row['activations_gb']:.3f} GB saved activations, "
              f"{row['step_seconds']:.2f} s/step")  # fmt: skip
    if "activations_gb_per_sample" in summary:
        line = f"  per sample: {summary['activations_gb_per_sample']:.3f} GB saved activations"
        if "peak_gb_per_sample" in summary:
            line += (f", {summary['peak_gb_per_sample']:.2f} GB peak (fixed {summary['fixed_gb']:.2f} GB) -> "
                     f"batch {summary['batch_per_48gb']} per 48 GB")  # fmt: skip
        print(line)
    print(f"  paper: {PAPER_GB_PER_SAMPLE} GB per sample (sliding Conformer), batch {PAPER_BATCH_PER_48GB} per 48 GB")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(summary, handle, indent=2)
    return summary


if __name__ == "__main__":
    main()
