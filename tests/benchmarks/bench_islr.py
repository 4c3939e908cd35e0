"""ISLR training-step throughput of SignLLMForSignClassification (all losses on), pose and lip.

    python tests/benchmarks/bench_islr.py                 # paper sizes on the GPU (batch 64 x 24 frames [paper])
    python tests/benchmarks/bench_islr.py --preset tiny   # CPU smoke run

Prints one JSON line per (modality, precision): ms per optimiser step, clips/s, peak GPU memory.
Random inputs and labels: this measures compute, not accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import torch
from signllm.configuration_signllm_islr import SignLLMClassificationConfig
from signllm.modeling_signllm_islr import SignLLMForSignClassification


def bench(modality: str, preset: str, batch: int, num_labels: int, steps: int, bf16: bool, device: str) -> dict:
    torch.manual_seed(0)
    config = SignLLMClassificationConfig.from_preset(preset, modality=modality, num_labels=num_labels)
    model = SignLLMForSignClassification(config)
    model.set_label_text_embeddings(torch.randn(num_labels, config.text_embedding_size))
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    frames = config.clip_length
    if modality == "pose":
        inputs = {"pose_values": torch.randn(batch, frames, 203, 3, device=device)}
    else:
        inputs = {"lip_values": torch.randn(batch, frames, config.lip_config.feature_size, device=device)}
    labels = torch.randint(0, num_labels, (batch,), device=device)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        with autocast:
            loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):  # warm-up
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return {
        "modality": modality, "preset": preset, "precision": "bf16-autocast" if bf16 else "fp32", "batch": batch,
        "frames": frames, "num_labels": num_labels, "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "ms_per_step": round(seconds * 1e3, 1), "clips_per_s": round(batch / seconds, 1),
        "peak_gpu_mem_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=("paper", "tiny"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--num-labels", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precisions = (False, True) if device == "cuda" else (False,)
    for modality in ("pose", "lip"):
        for bf16 in precisions:
            print(json.dumps(bench(modality, args.preset, args.batch, args.num_labels, args.steps, bf16, device)), flush=True)


if __name__ == "__main__":
    main()
