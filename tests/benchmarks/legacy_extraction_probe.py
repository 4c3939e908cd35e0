"""Per-frame costs of the legacy MediaPipe extraction, run *inside* the legacy environment by bench_extraction.py.

    $SIGNLLM_LEGACY_PYTHON tests/benchmarks/legacy_extraction_probe.py CLIP [CLIP ...] [--scales 0.5]

Prints one JSON object: the stage breakdown on the first clip (decode with FFmpeg's threads / one thread, RGB
conversion, MediaPipe per frame wall and CPU, landmark packing, writing the arrays), MediaPipe on downscaled
frames with the landmark deviation that costs, and the loop before issue 18 (decode on the MediaPipe thread with
FFmpeg's threads) against the new one (single-threaded decode in a background thread) on every clip, alternating,
with the landmark deviation between the two. Needs only numpy, PyAV and the legacy mediapipe (like holistic_legacy.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

PROCESSING = Path(__file__).resolve().parents[2] / "processing"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_probe_{name}", PROCESSING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float], frames: int) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall_ms": 1000 * (wall - start[0]) / frames, "cpu_ms": 1000 * (cpu - start[1]) / frames}


def _deviation(a, b) -> dict[str, float]:
    """Pixel distance between two runs' landmarks where both found the point; detection agreement per frame."""
    both = (a.confidence > 0) & (b.confidence > 0)
    distance = np.linalg.norm(a.landmarks[..., :2] - b.landmarks[..., :2], axis=-1)[both]
    agree = float(((a.confidence > 0) == (b.confidence > 0)).mean())
    exact = float((distance == 0).mean()) if distance.size else 1.0
    return {"median_px": float(np.median(distance)) if distance.size else 0.0,
            "p95_px": float(np.percentile(distance, 95)) if distance.size else 0.0,
            "max_px": float(distance.max()) if distance.size else 0.0,
            "identical_points": exact, "detection_agreement": agree}  # fmt: skip


def breakdown(clip: str, scales: list[float], legacy, video, common) -> dict:
    import av

    out: dict = {"clip": Path(clip).name}
    for label, threads in (("decode (FFmpeg threads)", None), ("decode (1 thread)", 1)):
        container, stream = video._open(clip, threads)
        start = _clock()
        decoded = list(container.decode(stream))
        out[label] = _since(start, len(decoded))
        container.close()
    start = _clock()
    images = [frame.to_ndarray(format="rgb24") for frame in decoded]
    out["RGB conversion"] = _since(start, len(images))
    height, width = images[0].shape[:2]
    out["frames"], out["size"] = len(images), [width, height]
    del av

    def mediapipe(frames):
        with legacy.LegacyHolistic() as graph:
            graph.detect(frames[0], 0)  # graph start-up outside the timing
        with legacy.LegacyHolistic() as graph:
            start = _clock()
            parts = [graph.detect(frame, 0) for frame in frames]
            return _since(start, len(frames)), parts

    out["MediaPipe Holistic"], parts = mediapipe(images)
    start = _clock()
    packed = [common.pack_frame(p, width, height) for p in parts]
    out["landmark packing"] = _since(start, len(packed))
    start = _clock()
    buffer = io.BytesIO()
    np.savez(buffer, landmarks=np.stack([p for p, _ in packed]), confidence=np.stack([c for _, c in packed]))
    out["writing the arrays"] = _since(start, len(packed))
    full = np.stack([p for p, _ in packed])[..., :2]
    for scale in scales:
        size = (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2)
        small = [frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray() for frame in decoded]
        timing, small_parts = mediapipe(small)
        points = np.stack([common.pack_frame(p, size[0], size[1])[0] for p in small_parts])[..., :2] / scale
        found = (np.abs(full).sum(-1) > 0) & (np.abs(points).sum(-1) > 0)
        distance = np.linalg.norm(points - full, axis=-1)[found]
        out[f"MediaPipe on {size[0]}x{size[1]} frames"] = {**timing, "median_px": float(np.median(distance)),
                                                             "p95_px": float(np.percentile(distance, 95))}  # fmt: skip
    return out


def loops(clips: list[str], legacy, repeats: int) -> dict:
    """The loop before vs after, per clip, alternating; totals and the landmark deviation between them."""
    settings = {"before": {"decode_in_thread": False}, "after": {"decode_in_thread": True}}
    legacy.run_legacy(clips[0], **settings["after"])  # warm-up: imports, first graph
    totals = {name: {"frames": 0, "wall": 0.0, "cpu": 0.0} for name in settings}
    deviations = []
    for clip in clips:
        results = {}
        for repeat in range(repeats):
            order = list(settings) if repeat % 2 == 0 else list(settings)[::-1]
            for name in order:
                start = _clock()
                result = legacy.run_legacy(clip, **settings[name])
                wall, cpu = _clock()
                total = totals[name]
                total["frames"] += result.num_frames
                total["wall"] += wall - start[0]
                total["cpu"] += cpu - start[1]
                results[name] = result
        deviations.append(_deviation(results["after"], results["before"]))
    summary = {name: {"frames_per_second": t["frames"] / t["wall"], "cpu_ms_per_frame": 1000 * t["cpu"] / t["frames"],
                      "frames": t["frames"]} for name, t in totals.items()}  # fmt: skip
    keys = deviations[0]
    summary["deviation_after_vs_before"] = {k: float(np.mean([d[k] for d in deviations])) for k in keys}
    summary["deviation_after_vs_before"]["max_px"] = float(max(d["max_px"] for d in deviations))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--scales", type=float, nargs="*", default=[0.5])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each loop per clip (alternating)")
    args = parser.parse_args()
    legacy = _load("holistic_legacy")
    out = {"breakdown": breakdown(args.clips[0], args.scales, legacy, legacy.video, legacy.holistic_common),
           "loops": loops(args.clips, legacy, args.repeats)}  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
