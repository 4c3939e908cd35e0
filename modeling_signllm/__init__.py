"""SignLLM: sign language translation and subtitle alignment (Jang et al., 2025).

This folder is the code uploaded to the Hub beside the weights; it uses relative imports only and depends on
torch / transformers / peft / safetensors / numpy. Installed, it is the top-level ``signllm`` package.

Names are imported lazily (PEP 562), so ``import signllm.processing`` in an extraction worker does not pay for
importing torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "SignLLMConfig": ".configuration_signllm",
    "SignLLMPoseEncoderConfig": ".configuration_signllm",
    "SignLLMLipEncoderConfig": ".configuration_signllm",
    "SignLLMResamplerConfig": ".configuration_signllm",
    "SignLLMClassificationConfig": ".configuration_signllm_islr",
    "SignLLMForConditionalGeneration": ".modeling_signllm",
    "SignLLMPreTrainedModel": ".modeling_signllm",
    "SignLLMForSignClassification": ".modeling_signllm_islr",
    "SignLLMPoseEncoder": ".modeling_backbones",
    "SignLLMLipEncoder": ".modeling_backbones",
    "SignLLMPerceiverResampler": ".modeling_perceiver",
    "SignLLMLipReader": ".modeling_lip_reader",
    "SignLLMProcessor": ".processing_signllm",
    "SignTranslationPipeline": ".pipeline_signllm",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'signllm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
