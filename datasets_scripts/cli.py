"""Prepare a sign-language corpus as Parquet manifests that the trainers stream.

    signllm data prepare how2sign /data/how2sign --output data/how2sign --keypoints /data/how2sign/keypoints
    signllm data prepare bobsl /data/bobsl --output data/bobsl --keypoints /data/bobsl/poses --streaming
    signllm data prepare youtube-sl-25 /data/ytsl25 --output data/ytsl25-asl --sign-language ase
    signllm data prepare kaggle-islr /data/asl-signs --output data/gislr
    signllm data prepare folder /data/my_corpus --output data/my_corpus --sign-language gsg --keypoints poses/
    signllm data stats data/how2sign

The corpus layouts expected on disk are described in datasets_scripts/<corpus>.md. Rows that cannot be used
(missing keypoint file, subtitle outside the video, empty text, wrong fps, ...) are skipped and counted in the
report (printed and written to <output>/stats.json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .prepare import PrepareOptions, run_prepare

#: corpus name -> builder module (each exposes ``build(root, options)``)
CORPORA = {
    "bobsl": "signllm.datasets_scripts.prepare_bobsl",
    "how2sign": "signllm.datasets_scripts.prepare_how2sign",
    "youtube-sl-25": "signllm.datasets_scripts.prepare_youtube_sl25",
    "fleurs-asl": "signllm.datasets_scripts.prepare_fleurs_asl",
    "kaggle-islr": "signllm.datasets_scripts.prepare_kaggle_islr",
    "folder": "signllm.datasets_scripts.prepare_folder",
}


def _optional_float(value: str) -> float | None:
    return None if value.lower() in ("none", "off") else float(value)


def _optional_int(value: str) -> int | None:
    return None if value.lower() in ("none", "off") else int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="data_command", required=True)
    prepare = commands.add_parser("prepare", help="turn a corpus folder into Parquet manifests + a statistics report")
    prepare.add_argument("corpus", choices=sorted(CORPORA))
    prepare.add_argument("path", type=Path, help="the corpus folder, in the layout of datasets_scripts/<corpus>.md")
    prepare.add_argument("--output", type=Path, required=True, help="folder for the prepared dataset")
    prepare.add_argument("--keypoints", type=Path, help="folder of episode keypoint files (.npz/.pose/.npy)")
    prepare.add_argument("--lips", type=Path, help="folder of per-episode lip features (.npy/.npz)")
    prepare.add_argument("--min-seconds", type=_optional_float, default=1.0, help="shortest sentence (s; 'none' off)")
    prepare.add_argument("--max-seconds", type=_optional_float, default=20.0, help="longest sentence (s; 'none' off)")
    prepare.add_argument("--max-words", type=_optional_int, default=80, help="most words per sentence ('none' off)")
    prepare.add_argument("--fps", type=float, default=25.0, help="frame rate the keypoint files must have")
    prepare.add_argument(
        "--no-clean-text",
        dest="clean_text",
        action="store_false",
        help="keep subtitle text as read (the paper's cleaning is on by default)",
    )
    prepare.add_argument("--splits", help="comma-separated splits to keep (default: all)")
    prepare.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="val share for corpora without official splits (by signer / video hash)",
    )
    prepare.add_argument(
        "--sign-language", help="sign-language code(s); YouTube-SL-25: subset(s) to keep, e.g. ase,bfi"
    )
    prepare.add_argument("--text-language", help="text language code (YouTube-SL-25: caption language to keep)")
    prepare.add_argument(
        "--streaming",
        action="store_true",
        help="write shards while reading (constant memory, input order) for large corpora",
    )
    prepare.add_argument("--shard-size", type=int, default=50_000, help="rows per shard with --streaming")
    prepare.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    stats = commands.add_parser("stats", help="print the statistics report of a prepared dataset")
    stats.add_argument("output", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.data_command == "stats":
        path = args.output / "stats.json"
        if not path.is_file():
            print(f"signllm data stats: {path} not found (run `signllm data prepare` first)", file=sys.stderr)
            return 2
        print(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=2))
        return 0
    options = PrepareOptions(
        keypoints_dir=args.keypoints,
        lip_dir=args.lips,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        max_words=args.max_words,
        fps=args.fps,
        clean_text=args.clean_text,
        splits=tuple(s.strip() for s in args.splits.split(",")) if args.splits else None,
        streaming=args.streaming,
        shard_size=args.shard_size,
        progress=args.progress,
        val_fraction=args.val_fraction,
        sign_language=args.sign_language,
        text_language=args.text_language,
    )
    builder = importlib.import_module(CORPORA[args.corpus]).build
    try:
        report = run_prepare(args.corpus, builder, args.path, args.output, options)
    except ValueError as error:
        print(f"signllm data prepare {args.corpus}: {error}", file=sys.stderr)
        return 2
    print(report.format())
    print(f"wrote {args.output} (statistics: {args.output / 'stats.json'})")
    return 0
