"""signllm translate: translate a signing video (or its keypoints) and write the translations as subtitles.

Examples::

    # one translation per sentence: sentence times from an existing subtitle file (e.g. aligned by `signllm align`)
    signllm translate episode.npz -o translations.vtt --model checkpoints/signllm --segments aligned.vtt
    # no sentence times: consecutive fixed-length segments [ours], each translated from a window centred on it
    signllm translate episode.mp4 -o translations.srt --model checkpoints/signllm --segment-seconds 5

Each segment is translated from the model's window (20 s at 25 fps) centred on its midpoint [paper], with beam
search (5 beams [paper]); the JSON report adds each translation's confidence (exp of the beam score).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from .cli_align import add_model_arguments, load_lip, load_model_and_processor, load_pose


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video or keypoint file")
    parser.add_argument("--output", "-o", type=Path, required=True, help="translations as subtitles (.vtt or .srt)")
    parser.add_argument("--segments", type=Path, help="subtitle file whose cue times are the sentences to translate")
    parser.add_argument("--segment-seconds", type=float, default=5.0,
                        help="without --segments: translate consecutive segments of this length [ours]")  # fmt: skip
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write a JSON report with confidences")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from signllm.datasets_scripts.manifest import write_json
    from signllm.datasets_scripts.subtitles import Subtitle, read_subtitles, write_subtitles

    from .translation import model_translator, translate_segments, uniform_segments

    try:
        if args.output.suffix.lower() not in (".vtt", ".srt"):
            raise ValueError(f"--output must end in .vtt or .srt, got {args.output}")
        model, processor = load_model_and_processor(args.model, args.device, dtype=args.dtype,
                                                    trust_remote_code=args.trust_remote_code)  # fmt: skip
        pose_values, pose_mask = load_pose(args.input, processor, args.keypoint_fps)
        lip_values = load_lip(args.lip_features, len(pose_values))
        duration = len(pose_values) / processor.fps
        if args.segments is not None:
            segments = [(cue.start, cue.end) for cue in read_subtitles(args.segments)]
        else:
            segments = uniform_segments(duration, args.segment_seconds)
        if not segments:
            raise ValueError("nothing to translate: no segments")
    except (ValueError, FileNotFoundError) as error:
        print(f"signllm translate: error: {error}", file=sys.stderr)
        return 2

    translate = model_translator(model, processor, pose_values, pose_mask, lip_values, num_beams=args.num_beams,
                                 max_new_tokens=args.max_new_tokens)  # fmt: skip
    translated = translate_segments(segments, translate, fps=processor.fps, num_frames=processor.num_frames,
                                    batch_size=args.batch_size, progress=not args.no_progress)  # fmt: skip
    cues = [Subtitle(item.start, item.end, item.text) for item in translated if item.text.strip()]
    write_subtitles(cues, args.output)
    skipped = len(translated) - len(cues)
    print(f"translated {len(cues)} / {len(translated)} segments -> {args.output}"
          + (f" ({skipped} without a usable translation left out)" if skipped else ""))  # fmt: skip
    if args.json:
        payload = {"input": str(args.input), "model": str(args.model), "num_beams": args.num_beams,
                   "segments": [asdict(item) for item in translated]}  # fmt: skip
        write_json(args.json, payload, sort_keys=False)  # strict and atomic, like every JSON signllm writes
        print(f"wrote {args.json}")
    return 0
