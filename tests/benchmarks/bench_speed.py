"""Training steps/s and generation latency of SignLLMForConditionalGeneration (tiny and paper presets).

    python tests/benchmarks/bench_speed.py --preset tiny --device cpu --threads 2      # seconds
    python tests/benchmarks/bench_speed.py --preset paper --device cuda               # random Flan-T5-XL-sized T5

Training: stage-3 trainable set (backbones + Perceiver + DoRA), one AdamW step on random inputs of the preset's
window (tiny: 32 frames, paper: 500 frames = 20 s, pose + lip features), bf16 autocast on CUDA. Generation: beam
search (5 beams [paper]) of ``--new-tokens`` tokens for one window (``min_new_tokens`` forces the full length, so
the number does not depend on when a random model emits end-of-sequence). Random weights: this measures compute.
Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
# _bootstrap_signllm loads signllm from the checkout on a bare GPU machine
from bench_training_memory import _bootstrap_signllm, make_batch


def build(preset: str, device: str):
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.train.slt.curriculum import apply_stage

    config = SignLLMConfig.from_preset(preset, text_model_name_or_path=None)
    with torch.device(device):  # build on the device: the paper model never sits in host memory
        model = SignLLMForConditionalGeneration(config)
    apply_stage(model, "3")
    return model


def timed(function, device: str, repeats: int) -> float:
    function()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=("tiny", "paper"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--batch", type=int, default=4, help="training batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beams", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args()
    _bootstrap_signllm()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args.preset, args.device)
    config = model.config
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if args.device == "cuda" else torch.autocast("cpu", enabled=False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    batch = make_batch(config, args.batch, config.num_frames, args.device)  # task_ids 0: SLT samples

    def train_step() -> None:
        model.train()
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step = timed(train_step, args.device, args.repeats)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    common = {"preset": args.preset, "device": device_name, "frames": config.num_frames, "use_lip": config.use_lip}
    print(json.dumps({**common, "what": "train_step", "batch": args.batch, "seconds_per_step": round(step, 4),
                      "steps_per_second": round(1 / step, 3), "samples_per_second": round(args.batch / step, 2)}))
    single = {k: v[:1] for k, v in batch.items() if k != "labels"}
    model.eval()

    def generate() -> None:
        with torch.no_grad(), autocast:
            model.generate(**single, num_beams=args.beams, max_new_tokens=args.new_tokens,
                           min_new_tokens=args.new_tokens, do_sample=False)  # fmt: skip

    latency = timed(generate, args.device, args.repeats)
    print(json.dumps({**common, "what": "generate", "num_beams": args.beams, "new_tokens": args.new_tokens,
                      "seconds_per_window": round(latency, 4)}))  # fmt: skip


if __name__ == "__main__":
    main()
