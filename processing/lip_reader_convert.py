"""Convert an Auto-AVSR visual-only checkpoint (`.pth`) into a SignLLM lip reader (safetensors + config json).

    python -m signllm.processing.lip_reader_convert vsr_trlrs3_base.pth out_dir/

Auto-AVSR checkpoints come in a few layouts; all are brought to the `SignLLMLipReader` key names
(`signllm.modeling_lip_reader`):

| layout | example key | what we do |
|---|---|---|
| current `E2E` (frontend + `proj_encoder` outside the Conformer) | `frontend.frontend3D.0.weight`, `proj_encoder.weight` | as is |
| older ESPnet `E2E` (frontend inside the encoder) | `encoder.frontend.trunk.…`, `encoder.embed.0.weight` | `encoder.frontend.` → `frontend.`, `encoder.embed.0.` → `proj_encoder.` |
| encoder-only state dict | `frontend.…`, `embed.0.weight`, `encoders.0.…`, `after_norm.…` | prefixed into the layouts above |
| Lightning / DDP wrappers | `{"state_dict": {"model.…"}}`, `module.…` | unwrapped, prefix stripped |

`decoder.*` and `ctc.*` (the text side) are dropped. Anything else that does not match the module's keys and
shapes is an error listing the offending keys. The configuration is read off the tensor shapes, so the tiny
and paper-size readers convert alike.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from signllm.modeling_lip_reader import SignLLMLipReader, check_lip_reader_config

WEIGHTS_NAME = "lip_reader.safetensors"
CONFIG_NAME = "lip_reader_config.json"
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module")
WRAPPER_PREFIXES = ("module.", "model.")
DROPPED_PREFIXES = ("decoder.", "ctc.")
# Old ESPnet PositionalEncoding saved its sinusoid table as `pe`; ESPnet itself drops it when loading.
_POSITIONAL_TABLE = re.compile(r"(^|\.)embed\.\d+\.pe$")


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """`torch.load(weights_only=True)` of a `.pth`, unwrapped to its flat tensor state dict."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle / zip errors have unhelpful types
        raise ValueError(f"cannot read {path} as a PyTorch checkpoint (weights only): {error}") from error
    return unwrap_state_dict(raw)


def unwrap_state_dict(raw: Mapping) -> dict[str, torch.Tensor]:
    """Descend through `{"state_dict": …}` / `{"model": …}` wrappers and strip `module.` / `model.` prefixes."""
    while isinstance(raw, Mapping) and not any(torch.is_tensor(v) for v in raw.values()):
        inner = next((raw[key] for key in WRAPPER_KEYS if isinstance(raw.get(key), Mapping)), None)
        if inner is None:
            raise ValueError(f"no state dict found in the checkpoint (top-level keys: {sorted(raw)[:10]}).")
        raw = inner
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a state dict (a mapping of tensors), got {type(raw).__name__}.")  # noqa: TRY004
    state_dict = {str(k): v for k, v in raw.items() if torch.is_tensor(v)}
    for prefix in WRAPPER_PREFIXES:
        if state_dict and all(key.startswith(prefix) for key in state_dict):
            state_dict = {key[len(prefix) :]: value for key, value in state_dict.items()}
    return state_dict


def to_lip_reader_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename any supported Auto-AVSR layout to `SignLLMLipReader` keys; drop the decoder, CTC and `pe` tables."""
    renames: list[tuple[str, str]] = []
    if "embed.0.weight" in state_dict:  # encoder-only dict of the older ESPnet Encoder
        renames = [("embed.0.", "proj_encoder."), ("encoders.", "encoder.encoders."),
                   ("after_norm.", "encoder.after_norm."), ("norm.", "encoder.after_norm.")]  # fmt: skip
    elif "encoder.embed.0.weight" in state_dict:  # older E2E: frontend and projection inside the encoder
        renames = [("encoder.frontend.", "frontend."), ("encoder.embed.0.", "proj_encoder."),
                   ("encoder.norm.", "encoder.after_norm.")]  # fmt: skip
    converted = {}
    for key, value in state_dict.items():
        if key.startswith(DROPPED_PREFIXES) or _POSITIONAL_TABLE.search(key):
            continue
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        converted[key] = value
    return converted


def infer_lip_reader_config(state_dict: Mapping[str, torch.Tensor], layer_norm_eps: float = 1e-12) -> dict:
    """Read `lip_reader_config` off the tensor shapes of a converted state dict."""
    required = ("proj_encoder.weight", "frontend.frontend3D.0.weight", "encoder.encoders.0.self_attn.pos_bias_u",
                "encoder.encoders.0.feed_forward.w_1.weight", "encoder.encoders.0.conv_module.depthwise_conv.weight")  # fmt: skip
    absent = [key for key in required if key not in state_dict]
    if absent:
        raise ValueError(
            f"not an Auto-AVSR visual encoder: keys {absent} are missing (have e.g. {sorted(state_dict)[:5]})."
        )
    blocks = {int(m.group(1)) for key in state_dict if (m := re.match(r"encoder\.encoders\.(\d+)\.", key))}
    stages = []
    for stage in range(1, 5):
        ids = {
            int(m.group(1)) for key in state_dict if (m := re.match(rf"frontend\.trunk\.layer{stage}\.(\d+)\.", key))
        }
        stages.append(len(ids))
    config = {
        "hidden_size": state_dict["proj_encoder.weight"].shape[0],
        "num_hidden_layers": len(blocks),
        "num_attention_heads": state_dict["encoder.encoders.0.self_attn.pos_bias_u"].shape[0],
        "intermediate_size": state_dict["encoder.encoders.0.feed_forward.w_1.weight"].shape[0],
        "conv_kernel_size": state_dict["encoder.encoders.0.conv_module.depthwise_conv.weight"].shape[-1],
        "frontend_channels": state_dict["frontend.frontend3D.0.weight"].shape[0],
        "resnet_layers": stages,
        "layer_norm_eps": layer_norm_eps,
    }
    return check_lip_reader_config(config)


def build_lip_reader(state_dict: Mapping[str, torch.Tensor], lip_reader_config: dict | None = None) -> SignLLMLipReader:
    """A frozen `SignLLMLipReader` holding `state_dict` (already converted); exact key and shape match required."""
    config = lip_reader_config or infer_lip_reader_config(state_dict)
    model = SignLLMLipReader(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
                  for key in sorted(set(expected) & set(state_dict)) if state_dict[key].shape != expected[key].shape]  # fmt: skip
    if missing or unexpected or mismatched:
        raise ValueError(
            "checkpoint does not match the Auto-AVSR visual encoder "
            f"(config {config}):\n  missing {len(missing)}: {missing[:10]}\n  unexpected {len(unexpected)}: "
            f"{unexpected[:10]}\n  shape mismatches {len(mismatched)}: {mismatched[:10]}"
        )
    model.load_state_dict(state_dict, strict=True)
    return model


def save_lip_reader(model: SignLLMLipReader, out_dir: str | Path) -> Path:
    """Write `lip_reader.safetensors` + `lip_reader_config.json` into `out_dir`."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    save_file(tensors, str(out_dir / WEIGHTS_NAME), metadata={"format": "pt", "source": "auto_avsr"})
    (out_dir / CONFIG_NAME).write_text(json.dumps(model.config, indent=2) + "\n")
    return out_dir


def load_lip_reader(directory: str | Path, device: str | torch.device = "cpu") -> SignLLMLipReader:
    """Load a converted lip reader (frozen, eval) from `directory`."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise ValueError(f"{directory} has no converted lip reader ({CONFIG_NAME} + {WEIGHTS_NAME}).")
    config = json.loads(config_path.read_text())
    return build_lip_reader(load_file(str(weights_path)), config).to(device)


def convert_auto_avsr_checkpoint(checkpoint: str | Path, out_dir: str | Path) -> SignLLMLipReader:
    """`.pth` → converted folder; returns the loaded reader."""
    state_dict = to_lip_reader_state_dict(load_checkpoint(checkpoint))
    model = build_lip_reader(state_dict)
    save_lip_reader(model, out_dir)
    return model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="Auto-AVSR visual-only .pth (e.g. vsr_trlrs3_base.pth)")
    parser.add_argument("out_dir", type=Path, help=f"folder for {WEIGHTS_NAME} and {CONFIG_NAME}")


def run(args: argparse.Namespace) -> int:
    try:
        model = convert_auto_avsr_checkpoint(args.checkpoint, args.out_dir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    num_parameters = sum(p.numel() for p in model.parameters())
    print(
        f"wrote {args.out_dir / WEIGHTS_NAME} ({num_parameters / 1e6:.1f} M parameters) and {CONFIG_NAME}: {model.config}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
