"""SignLLM: sign language translation and subtitle alignment (Jang et al., 2025).

This folder is the code uploaded to the Hub beside the weights; it uses relative imports only and depends on
torch / transformers / peft / safetensors / numpy. Installed, it is the top-level ``signllm`` package.
"""

from .configuration_signllm import (
    SignLLMConfig,
    SignLLMLipEncoderConfig,
    SignLLMPoseEncoderConfig,
    SignLLMResamplerConfig,
)

__all__ = ["SignLLMConfig", "SignLLMLipEncoderConfig", "SignLLMPoseEncoderConfig", "SignLLMResamplerConfig"]
