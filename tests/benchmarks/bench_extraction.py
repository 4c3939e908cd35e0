"""Extraction throughput: where the time goes per frame, the loop before / after issue 18, N workers vs real time.

    python tests/benchmarks/bench_extraction.py          # legacy backend, 4 How2Sign clips, 1 and 2 workers
    python tests/benchmarks/bench_extraction.py --clips 12 --workers 1,2,4
    python tests/benchmarks/bench_extraction.py --backend tasks --holistic-model holistic_landmarker.task

Legacy backend, printed in one run:
(1) per-frame stages on the first clip (1280x720 How2Sign): decoding with FFmpeg's threads and with one thread,
    RGB conversion, MediaPipe Holistic (wall and CPU), landmark packing, writing; MediaPipe on half-size frames
    with the landmark deviation that costs (``legacy_extraction_probe.py``, run in the legacy environment);
(2) one process, warm: the loop before issue 18 (decode on MediaPipe's thread) vs now (single-threaded decoding
    in a background thread, a few frames ahead), alternating clip by clip, with the landmark deviation between
    them (0: the pixels MediaPipe sees are the same);
(3) ``signllm extract`` with N worker processes (cold start and writes included).

Real time = 25 frames/s (SignLLM's frame rate): "x real time" > 1 means a corpus is processed faster than it plays.
The legacy backend runs in $SIGNLLM_LEGACY_PYTHON (or ../venv-legacy) unless mediapipe.solutions imports here.
Wall-clock numbers depend on the load of the machine (the 1-minute load average is printed with them); the CPU
time per frame of the MediaPipe process does much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIPS = REPO_ROOT.parent / "shared" / "data" / "how2sign_samples" / "clips_train_unlabeled"
REAL_TIME = 25.0


def _row(name: str, frames: int, seconds: float, cpu_seconds: float | None = None) -> str:
    rate = frames / seconds if seconds > 0 else float("nan")
    cpu = f"{1000 * cpu_seconds / frames:>7.1f}" if cpu_seconds else "      -"
    return f"| {name:<46} | {frames:>6} | {seconds:>7.1f} | {rate:>8.1f} | {rate / REAL_TIME:>6.2f}x | {cpu} |"


def _process_cpu_seconds(pid: int) -> float:
    """user + system CPU time of a live process (all its threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_cpu_seconds() -> float:
    """CPU time spent so far by MediaPipe: the legacy helper process if one runs, else this process."""
    from signllm.processing import extract

    helpers = [helper for helper in extract._HELPERS.values() if helper.alive()]
    if helpers:
        return _process_cpu_seconds(helpers[0]._process.pid)
    return time.process_time()


def probe_legacy(clips: list[Path], repeats: int) -> dict:
    """(1) and (2): run ``legacy_extraction_probe.py`` in the legacy environment and print its tables."""
    probe = Path(__file__).with_name("legacy_extraction_probe.py")
    command = [os.environ["SIGNLLM_LEGACY_PYTHON"], str(probe), *map(str, clips), "--repeats", str(repeats)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"legacy probe failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    stages = report["breakdown"]
    width, height = stages["size"]
    print(f"\n(1) per frame, {stages['clip']} ({stages['frames']} frames, {width}x{height}), one process\n")
    print("| stage | wall ms/frame | CPU ms/frame | landmark deviation |\n|---|---:|---:|---|")
    for name, value in stages.items():
        if isinstance(value, dict):
            deviation = f"median {value['median_px']:.2f} px, p95 {value['p95_px']:.2f} px" if "median_px" in value else ""
            print(f"| {name} | {value['wall_ms']:.1f} | {value['cpu_ms']:.1f} | {deviation} |")
    loops = report["loops"]
    print("\n(2) one process, warm, every clip, alternating\n")
    print("| loop | frames | frames/s | vs 25 fps | CPU ms/frame |\n|---|---:|---:|---:|---:|")
    for name, label in (("before", "before: decode on MediaPipe's thread, FFmpeg threads"),
                        ("after", "now: 1-thread decode in a background thread")):  # fmt: skip
        row = loops[name]
        print(f"| {label} | {row['frames']} | {row['frames_per_second']:.1f} | "
              f"{row['frames_per_second'] / REAL_TIME:.2f}x | {row['cpu_ms_per_frame']:.1f} |")  # fmt: skip
    deviation = loops["deviation_after_vs_before"]
    print(f"\nlandmarks now vs before: {100 * deviation['identical_points']:.1f} % of points identical, max "
          f"{deviation['max_px']:.2f} px, detections agree in {100 * deviation['detection_agreement']:.1f} % \n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4, help="number of How2Sign clips (shortest first)")
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts for the batch runs")
    parser.add_argument("--backend", choices=("legacy", "tasks"), default="legacy")
    parser.add_argument("--holistic-model", help="holistic_landmarker.task for --backend tasks")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each loop per clip in (2)")
    args = parser.parse_args(argv)

    from signllm.processing import cli_extract
    from signllm.processing.extract import extract_holistic
    from signllm.processing.video import iter_video_frames

    if args.backend == "legacy" and not os.environ.get("SIGNLLM_LEGACY_PYTHON"):
        local = REPO_ROOT.parent / "venv-legacy" / "bin" / "python"
        if local.exists():
            os.environ["SIGNLLM_LEGACY_PYTHON"] = str(local)
    clips = sorted(CLIPS.glob("*.mp4"), key=lambda p: p.stat().st_size)[: args.clips]
    if not clips:
        print(f"no clips under {CLIPS}", file=sys.stderr)
        return 1
    print(f"{len(clips)} How2Sign clips (1280x720, 24 fps -> 25 fps), backend {args.backend}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    if args.backend == "legacy" and os.environ.get("SIGNLLM_LEGACY_PYTHON"):
        probe_legacy(clips, args.repeats)

    print("(3) through the library / CLI (now)\n")
    print("| what | frames | seconds | frames/s | vs 25 fps | CPU ms/frame |\n|---|---:|---:|---:|---:|---:|")
    start, cpu = time.perf_counter(), time.process_time()
    frames = sum(sum(1 for _ in iter_video_frames(clip)) for clip in clips)
    print(_row("decode only (PyAV, 1 process)", frames, time.perf_counter() - start, time.process_time() - cpu),
          flush=True)
    # one process, model already loaded: the first clip warms up (imports, graph creation), the rest are timed
    extract_holistic(clips[0], args.backend, args.holistic_model)
    start, cpu = time.perf_counter(), _backend_cpu_seconds()
    frames = sum(extract_holistic(clip, args.backend, args.holistic_model).num_frames for clip in clips)
    seconds, cpu_seconds = time.perf_counter() - start, _backend_cpu_seconds() - cpu
    print(_row("holistic per process (warm, decode included)", frames, seconds, cpu_seconds), flush=True)

    options = {"backend": args.backend, "holistic_model": args.holistic_model, "holistic_model_sha256": None,
               "target_fps": REAL_TIME, "allow_no_person": False, "lip_reader": None,
               "legacy_python": os.environ.get("SIGNLLM_LEGACY_PYTHON")}
    for workers in [int(w) for w in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as out:
            pairs = [(clip, Path(clip.stem)) for clip in clips]
            jobs = cli_extract.build_jobs(pairs, Path(out), ["pose", "npz"], lip=False)
            start = time.perf_counter()
            results = cli_extract.run_jobs(jobs, options, workers, show_progress=False)
            seconds = time.perf_counter() - start
        failed = [r for r in results if not r.ok]
        if failed:
            print(f"{len(failed)} failed: {failed[0].error}: {failed[0].message}", file=sys.stderr)
        frames = sum(r.frames for r in results if r.ok)
        print(_row(f"signllm extract, {workers} worker(s), cold start + writes", frames, seconds), flush=True)
    print("\nCPU ms/frame counts every MediaPipe thread: idle-machine frames/s per process is about "
          "1000 / (CPU ms/frame / threads it can use).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
