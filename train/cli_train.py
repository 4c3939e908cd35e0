"""``signllm train``: training sub-commands, one module each (``add_arguments(parser)`` / ``run(args) -> int``).

    signllm train islr ...          ISLR backbone pretraining (train/islr.py)
    signllm train islr-eval ...     top-1/top-5 of an ISLR classifier, or pose + lip late fusion
    signllm train islr-export ...   ISLR checkpoint(s) -> backbone weights for the SLT model
    signllm train slt ...           SLT/SSA curriculum stages (train/slt.py)

Each sub-command module is imported when the parser is built; one that does not exist (yet) is left out.
"""

from __future__ import annotations

import argparse
import importlib

# name -> (module, add-arguments function, run function, help)
SUBCOMMANDS: dict[str, tuple[str, str, str, str]] = {
    "islr": ("signllm.train.islr", "add_arguments", "run", "ISLR backbone pretraining (pose or lip classifier)"),
    "islr-eval": ("signllm.train.islr", "add_eval_arguments", "run_eval",
                  "evaluate ISLR classifier(s): top-1/top-5, late fusion of pose + lip"),
    "islr-export": ("signllm.train.islr", "add_export_arguments", "run_export",
                    "export ISLR backbones in the layout SignLLMForConditionalGeneration loads"),
    "slt": ("signllm.train.slt", "add_arguments", "run", "SLT/SSA training: curriculum stages 1-3 and finetuning"),
}  # fmt: skip


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:  # the sub-command's own module is absent (not yet written / not installed)
            return None
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    modules = {name: _load(spec[0]) for name, spec in SUBCOMMANDS.items()}
    available = [name for name, module in modules.items() if module is not None]
    subparsers = parser.add_subparsers(dest="train_command", metavar="{" + ",".join(available) + "}")
    subparsers.required = True
    for name in available:
        _, add_name, run_name, help_text = SUBCOMMANDS[name]
        module = modules[name]
        sub = subparsers.add_parser(name, help=help_text, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        getattr(module, add_name)(sub)
        sub.set_defaults(_train_run=getattr(module, run_name))


def run(args: argparse.Namespace) -> int:
    return int(args._train_run(args) or 0)
