"""DoRA adapters on the T5 language model through PEFT (``LoraConfig(use_dora=True)``), and merging them away.

Training wraps ``language_model`` in a ``PeftModelForSeq2SeqLM`` (state-dict keys gain ``base_model.model.`` and
``lora_*`` entries). For release, [`merge_dora`] folds the adapters into the T5 weights so inference needs no peft;
the import is guarded so a merged checkpoint loads where peft is not installed.
"""

from __future__ import annotations

import contextlib
import warnings

from torch import nn

try:
    from peft import LoraConfig, PeftModel, get_peft_model
except ImportError:  # merged checkpoints (use_dora=False) run without peft
    LoraConfig = PeftModel = get_peft_model = None


def _require_peft() -> None:
    if get_peft_model is None:
        raise ImportError(
            "This SignLLM checkpoint has DoRA adapters (config.use_dora=True) and needs peft: `pip install peft`. "
            "Checkpoints merged with `model.merge_dora()` load without it."
        )


def is_dora_applied(language_model: nn.Module) -> bool:
    """True when ``language_model`` is a PEFT wrapper (adapters not merged)."""
    return PeftModel is not None and isinstance(language_model, PeftModel)


def apply_dora(language_model: nn.Module, r: int, alpha: int, dropout: float, target_modules: list[str]) -> nn.Module:
    """Wrap a seq2seq LM with DoRA adapters; only the adapters stay trainable in it.

    Args:
        language_model: a ``T5ForConditionalGeneration`` (or any seq2seq LM with the target module names).
        r / alpha / dropout: LoRA rank, scaling numerator (scale = alpha / r) and adapter dropout.
        target_modules: module names to adapt, e.g. ``["q", "k", "v", "o", "wi_0", "wi_1", "wo"]``.
    """
    _require_peft()
    if is_dora_applied(language_model):
        return language_model
    names = {name.rsplit(".", 1)[-1] for name, _ in language_model.named_modules()}
    missing = sorted(set(target_modules) - names)
    if missing:
        raise ValueError(f"DoRA target modules {missing} do not exist in {type(language_model).__name__}.")
    lora_config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        use_dora=True,
        task_type="SEQ_2_SEQ_LM",
    )
    with warnings.catch_warnings():  # peft reads transformers' deprecated `is_gradient_checkpointing` (FutureWarning)
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(language_model, lora_config)


def merge_dora(language_model: nn.Module) -> nn.Module:
    """Fold the DoRA adapters into the base weights and drop the PEFT wrapper (identity when not applied)."""
    if not is_dora_applied(language_model):
        return language_model
    return language_model.merge_and_unload()


def unwrap(language_model: nn.Module) -> nn.Module:
    """The underlying transformers model (inside the PEFT wrapper when there is one)."""
    return language_model.get_base_model() if is_dora_applied(language_model) else language_model


def count_adapter_parameters(module: nn.Module) -> int:
    """Parameters that belong to the adapters (``lora_A``, ``lora_B``, DoRA magnitude vectors)."""
    return sum(p.numel() for name, p in module.named_parameters() if "lora_" in name)


def set_adapter_input_casting(language_model: nn.Module, enabled: bool) -> dict[str, bool]:
    """Switch PEFT's casting of adapter-layer inputs to the adapter dtype; returns the previous flags by name.

    Off is for low-precision frozen weights under autocast: PEFT's cast would turn a bf16 activation into fp32, and
    DoRA's extra base matmul (with adapter dropout) would then save a bf16 *copy* of the frozen weight for backward
    instead of the weight itself; autocast does the casting. No-op (empty dict) when no adapters are applied.
    """
    if not is_dora_applied(language_model):
        return {}
    from peft.tuners.tuners_utils import BaseTunerLayer

    previous = {}
    for name, module in language_model.named_modules():
        if isinstance(module, BaseTunerLayer):
            previous[name] = getattr(module, "cast_input_dtype_enabled", True)
            module.cast_input_dtype_enabled = enabled
    return previous


@contextlib.contextmanager
def adapter_input_casting(language_model: nn.Module, enabled: bool):
    """`set_adapter_input_casting` for the duration of a block, then the previous flags back."""
    previous = set_adapter_input_casting(language_model, enabled)
    try:
        yield
    finally:
        for name, value in previous.items():
            language_model.get_submodule(name).cast_input_dtype_enabled = value
