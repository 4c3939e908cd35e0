"""Cost and CPU throughput of the frozen Auto-AVSR lip reader at paper size (issue 6).

    python tests/benchmarks/bench_lip_reader.py                # fp32, 2 threads, T = 200; ~2 min on 2 quiet cores
    python tests/benchmarks/bench_lip_reader.py --frames 24 200 500 --threads 2 --repeats 3
    python tests/benchmarks/bench_lip_reader.py --device cuda --batch-size 8 --frames 200 500 [--bf16]

Prints, next to architecture §7's figures (0.50 GMACs/frame = frontend 0.32 + Conformer 0.18, ~78 frames/s on
2 cores at fp32 and T = 200, 182 M parameters without decoder/CTC):
(a) parameters (random weights: cost does not depend on them);
(b) multiply-accumulates per frame (torch.utils.flop_counter FLOPs / 2) for the frontend (3-D stem + ResNet-18),
    the projection + Conformer, and in total, at each T (attention grows with T; the rest is per frame);
(c) throughput in frames/s (best of `--repeats` timed calls after a warm-up, `torch.inference_mode`), and the
    achieved FLOP/s against a large fp32 matmul measured in the same run (the practical ceiling of the cores).
With `--device cuda`: throughput of `--batch-size` clips at once (corpus-scale extraction), optionally under bf16
autocast, with the largest deviation of the bf16 features from fp32. (cuDNN convolutions use TF32 by default while
the fp32 matmul ceiling does not, so "of ceiling" can pass 100 % on a GPU.)

Measured (2026-11-26): MACs/frame 0.316 frontend + 0.185 Conformer = 0.501 at T = 200 (0.494 at T = 24), 182.0 M
parameters, all as the spec. CPU fp32, 2 threads, T = 200: 163 frames/s on the H200 host's CPU (fp32 matmul ceiling
335 GFLOP/s, 49 % of it), 6 frames/s on the shared 2-core build machine under load (ceiling measured 16 GFLOP/s
then instead of its quiet ~120). H200, batch 8: 42 k frames/s fp32 (T = 200), 67 k bf16 (max |diff| 0.03 on
features of scale 3.7).
"""

from __future__ import annotations

import argparse
import time

import torch
from signllm.configuration_signllm import SignLLMLipEncoderConfig
from signllm.modeling_lip_reader import SignLLMLipReader
from torch.utils.flop_counter import FlopCounterMode

SPEC = {"params": 182e6, "macs_per_frame": 0.50e9, "frontend_macs": 0.32e9, "conformer_macs": 0.18e9, "fps": 78.0}


def count_flops(function, *args) -> int:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        function(*args)
    return counter.get_total_flops()


def best_time(function, repeats: int, device: str = "cpu") -> float:
    """Shortest of `repeats` timed calls after one warm-up call (the least disturbed by other processes)."""
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        function()
        times = []
        for _ in range(repeats):
            synchronize()
            start = time.perf_counter()
            function()
            synchronize()
            times.append(time.perf_counter() - start)
    return min(times)


def matmul_flops_per_second(device: str, size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return 2 * size**3 / best_time(lambda: a @ b, repeats, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[24, 200], help="clip lengths T to measure")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=1, help="clips per forward (throughput only)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the throughput (CUDA)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = SignLLMLipReader(SignLLMLipEncoderConfig().lip_reader_config).to(args.device)  # paper size, frozen
    num_parameters = sum(p.numel() for p in model.parameters())
    print(f"parameters: {num_parameters / 1e6:.1f} M (spec {SPEC['params'] / 1e6:.0f} M without decoder/CTC)")

    ceiling = matmul_flops_per_second(args.device)
    where = f"{args.threads} threads" if args.device == "cpu" else torch.cuda.get_device_name(args.device)
    print(f"fp32 matmul ceiling on {where}: {ceiling / 1e9:.1f} GFLOP/s; throughput batch {args.batch_size}, "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}")  # fmt: skip
    print(f"{'T':>5} {'frontend':>10} {'conformer':>10} {'total':>10}  GMACs/frame (spec 0.32 / 0.18 / 0.50)"
          f"  {'frames/s':>9} (spec {SPEC['fps']:.0f})  {'GFLOP/s':>8} {'of ceiling':>10}")  # fmt: skip
    for num_frames in args.frames:
        frames = torch.randn(1, num_frames, 1, 88, 88, device=args.device)
        features = model.frontend(frames)
        frontend_flops = count_flops(model.frontend, frames)
        backend_flops = count_flops(lambda x: model.encoder(model.proj_encoder(x)), features)
        total_flops = count_flops(model, frames)
        batch = frames.expand(args.batch_size, -1, -1, -1, -1).contiguous()
        device_type = args.device.split(":")[0]
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=args.bf16):
            seconds = best_time(lambda batch=batch: model(batch), args.repeats, args.device) / args.batch_size
        if args.bf16:
            with torch.inference_mode():
                reference = model(frames)
                with torch.autocast(device_type, dtype=torch.bfloat16):
                    deviation = (model(frames).float() - reference).abs().max().item()
            print(f"  bf16 vs fp32 features at T={num_frames}: max |diff| {deviation:.3g}, "
                  f"fp32 feature scale {reference.abs().max().item():.3g}")  # fmt: skip
        print(
            f"{num_frames:>5} {frontend_flops / 2 / num_frames / 1e9:>10.3f} {backend_flops / 2 / num_frames / 1e9:>10.3f}"
            f" {total_flops / 2 / num_frames / 1e9:>10.3f}{'':>41}{num_frames / seconds:>9.1f}{'':>11}"
            f"{total_flops / seconds / 1e9:>8.1f} {total_flops / seconds / ceiling:>10.0%}"
        )


if __name__ == "__main__":
    main()
