"""Training steps/s and generation speed of SignLLMForConditionalGeneration (tiny and paper presets).

    python tests/benchmarks/bench_speed.py --preset tiny --device cpu --threads 2      # ~1 min on 2 cores
    python tests/benchmarks/bench_speed.py --preset paper --device cuda               # random Flan-T5-XL-sized T5
    # no GPU: the paper widths with a 2-layer T5 and 100-frame windows, generation only (an estimate, see README)
    python tests/benchmarks/bench_speed.py --preset paper --device cpu --text-layers 2 --frames 100 --skip-training \
        --gen-batches 1

Training: stage-3 trainable set (backbones + Perceiver + DoRA), one AdamW step on random inputs of the preset's
window (tiny: 32 frames, paper: 500 frames = 20 s, pose + lip features), bf16 autocast on CUDA. Generation: beam
search (5 beams [paper]) of ``--new-tokens`` tokens per window (``min_new_tokens`` forces the full length, so the
number does not depend on when a random model emits end-of-sequence), at each ``--gen-batches`` batch size, for
three variants measured in the same run: DoRA adapters unmerged in fp32 (how a training checkpoint generated
before issue 18), adapters merged (what ``signllm translate`` / ``align`` now load), merged in bf16
(``--dtype bfloat16``). Per-window latency = batch time / batch; windows/s = batch / batch time. Random weights:
this measures compute. Prints one JSON line per measurement.
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


def build(preset: str, device: str, text_layers: int | None = None, frames: int | None = None):
    from signllm.configuration_signllm import SignLLMConfig
    from signllm.modeling_signllm import SignLLMForConditionalGeneration
    from signllm.train.slt.curriculum import apply_stage

    overrides = {} if frames is None else {"num_frames": frames}
    if text_layers is not None:
        overrides["text_config"] = {"num_layers": text_layers, "num_decoder_layers": text_layers}
    config = SignLLMConfig.from_preset(preset, text_model_name_or_path=None, **overrides)
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
    parser.add_argument("--gen-batches", type=int, nargs="+", default=[1, 16], help="windows per generate call")
    parser.add_argument("--text-layers", type=int, help="T5 depth override (CPU estimates at the paper width)")
    parser.add_argument("--frames", type=int, help="window length override")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    _bootstrap_signllm()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args.preset, args.device, args.text_layers, args.frames)
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

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    common = {"preset": args.preset, "device": device_name, "frames": config.num_frames, "use_lip": config.use_lip,
              "text_layers": config.text_config.num_layers}  # fmt: skip
    if not args.skip_training:
        step = timed(train_step, args.device, args.repeats)
        print(json.dumps({**common, "what": "train_step", "batch": args.batch, "seconds_per_step": round(step, 4),
                          "steps_per_second": round(1 / step, 3), "samples_per_second": round(args.batch / step, 2)}))
    report_generation(model, config, args, common)


def generation_variants(model, device: str) -> dict:
    """The same weights three ways: DoRA unmerged (fp32), merged (fp32), merged in bf16."""
    import copy

    from signllm.train.inference.cli_align import cast_for_inference

    model.eval()
    merged = copy.deepcopy(model)
    if merged.config.use_dora:
        merged.merge_dora()
    variants = {"dora-unmerged fp32": model, "merged fp32": merged}
    variants["merged bf16"] = cast_for_inference(copy.deepcopy(merged), torch.bfloat16).to(device)
    return variants


def report_generation(model, config, args, common) -> None:
    variants = generation_variants(model, args.device)
    for batch_size in args.gen_batches:
        inputs = make_batch(config, batch_size, config.num_frames, args.device)
        inputs = {k: v for k, v in inputs.items() if k not in ("labels", "task_ids")}
        outputs, functions = {}, {}
        for name, variant in variants.items():

            # on a GPU the fp32 variants run under bf16 autocast, as the 2026-11-26 H200 measurement did
            autocast = args.device == "cuda" and "fp32" in name

            def generate(variant=variant, name=name, autocast=autocast, inputs=inputs, outputs=outputs) -> None:
                with torch.no_grad(), torch.autocast(args.device, dtype=torch.bfloat16, enabled=autocast):
                    outputs[name] = variant.generate(**inputs, num_beams=args.beams, max_new_tokens=args.new_tokens,
                                                     min_new_tokens=args.new_tokens, do_sample=False)  # fmt: skip

            functions[name] = generate
        seconds = interleaved(functions, args.device, args.repeats)
        same = torch.equal(outputs["merged fp32"], outputs["dora-unmerged fp32"])
        for name, value in seconds.items():
            print(json.dumps({**common, "what": "generate", "variant": name, "batch": batch_size,
                              "num_beams": args.beams, "new_tokens": args.new_tokens,
                              "seconds_per_window": round(value / batch_size, 4),
                              "windows_per_second": round(batch_size / value, 3),
                              "same_tokens_as_unmerged": same if name == "merged fp32" else None}))  # fmt: skip


def interleaved(functions: dict, device: str, repeats: int) -> dict[str, float]:
    """Best time of each function, called in turn (one warm-up each) so a changing machine load hits all alike."""
    for function in functions.values():
        function()
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            function()
            if device == "cuda":
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


if __name__ == "__main__":
    main()
