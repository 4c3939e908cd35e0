"""The ``signllm`` command: a thin dispatcher over the sub-command modules.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the chosen one is imported, so ``signllm extract`` does not pay for importing the trainer.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "extract": ("signllm.processing.cli_extract", "videos -> MediaPipe keypoints (.pose / .npz) and lip features"),
    "data": ("signllm.datasets_scripts.cli", "prepare a corpus (BOBSL, How2Sign, YouTube-SL-25, ...) as a dataset"),
    "train": ("signllm.train.cli_train", "train: `islr` backbone pretraining or `slt` curriculum stages"),
    "translate": ("signllm.train.cli_translate", "translate sign-language video/keypoints, write a VTT"),
    "align": ("signllm.train.cli_align", "align subtitles to the signing (VTT/SRT/ELAN + plot)"),
    "evaluate": ("signllm.train.cli_evaluate", "score predictions against references (SLT / SSA / ISLR)"),
    "push": ("signllm.train.push_to_hub", "publish a trained folder to the Hugging Face Hub (or stage it locally)"),
    "convert-lip-reader": ("signllm.processing.lip_reader_convert", "Auto-AVSR checkpoint -> safetensors lip reader"),
    "demo": ("signllm.train.demo", "run the whole system on a generated demo corpus, offline"),
}


def _top_level_help() -> str:
    lines = ["usage: signllm <command> [options]", "", "Sign language translation and alignment.", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `signllm <command> --help` for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_level_help())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"signllm: unknown command {name!r}\n\n{_top_level_help()}", file=sys.stderr)
        return 2
    module_name, summary = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"signllm {name}", description=module.__doc__ or summary,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
