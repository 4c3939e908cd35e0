"""The ``signllm`` command: only a dispatcher over each package's own command line.

Each sub-command lives in the package of the job it serves and exposes ``add_arguments(parser)`` and
``run(args) -> int``; only the chosen one is imported, so ``signllm extract`` does not pay for importing the trainer.

    signllm extract ...            signllm.processing.cli_extract
    signllm data ...               signllm.datasets_scripts.cli
    signllm train islr|islr-eval|islr-export ...   signllm.train.islr.recipe
    signllm train slt ...          signllm.train.slt.recipe
    signllm translate | align ...  signllm.train.inference.cli_translate | cli_align
    signllm evaluate ...           signllm.train.evaluation.cli
    signllm push ...               signllm.train.hub.push_to_hub
    signllm demo ...               signllm.train.demo.run
    signllm app | render ...       signllm.train.app.cli | cli_render
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "extract": ("signllm.processing.cli_extract", "videos -> MediaPipe keypoints (.pose / .npz) and lip features"),
    "data": ("signllm.datasets_scripts.cli", "prepare a corpus (BOBSL, How2Sign, YouTube-SL-25, ...) as a dataset"),
    "train": ("", "train: `islr` backbone pretraining or `slt` curriculum stages"),
    "translate": ("signllm.train.inference.cli_translate", "translate sign-language video/keypoints, write a VTT"),
    "align": ("signllm.train.inference.cli_align", "align subtitles to the signing (VTT/SRT/ELAN + plot)"),
    "evaluate": ("signllm.train.evaluation.cli", "score predictions against references (SLT / SSA / ISLR)"),
    "push": ("signllm.train.hub.push_to_hub", "publish a trained folder to the Hugging Face Hub (or stage it locally)"),
    "convert-lip-reader": ("signllm.processing.lip_reader_convert", "Auto-AVSR checkpoint -> safetensors lip reader"),
    "demo": ("signllm.train.demo.run", "run the whole system on a generated demo corpus, offline"),
    "app": ("signllm.train.app.cli", "web app: skeleton overlay, alignment lanes, translations (Gradio; Space-ready)"),
    "render": ("signllm.train.app.cli_render", "video + skeleton overlay + burned-in subtitles -> .mp4"),
}

# ``signllm train <name>``: name -> (module, add-arguments function, run function, help)
TRAIN_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "islr": ("signllm.train.islr.recipe", "add_arguments", "run", "ISLR backbone pretraining (pose or lip classifier)"),
    "islr-eval": ("signllm.train.islr.recipe", "add_eval_arguments", "run_eval",
                  "evaluate ISLR classifier(s): top-1/top-5, late fusion of pose + lip"),
    "islr-export": ("signllm.train.islr.recipe", "add_export_arguments", "run_export",
                    "export ISLR backbones in the layout SignLLMForConditionalGeneration loads"),
    "slt": ("signllm.train.slt.recipe", "add_arguments", "run", "SLT/SSA training: curriculum stages 1-3 and finetuning"),
}  # fmt: skip


def _top_level_help() -> str:
    lines = ["usage: signllm <command> [options]", "", "Sign language translation and alignment.", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run `signllm <command> --help` for the options of one command."]
    return "\n".join(lines)


def _add_train_commands(parser: argparse.ArgumentParser) -> None:
    """``signllm train``: one sub-parser per training job, each filled by its recipe's own arguments."""
    subparsers = parser.add_subparsers(dest="train_command", metavar="{" + ",".join(TRAIN_COMMANDS) + "}")
    subparsers.required = True
    for name, (module_name, add_name, run_name, help_text) in TRAIN_COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        getattr(module, add_name)(sub)
        sub.set_defaults(_run=getattr(module, run_name))


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
    module = importlib.import_module(module_name) if module_name else None
    parser = argparse.ArgumentParser(prog=f"signllm {name}", description=(module and module.__doc__) or summary,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    if module is None:
        _add_train_commands(parser)
    else:
        module.add_arguments(parser)
        parser.set_defaults(_run=module.run)
    args = parser.parse_args(rest)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
