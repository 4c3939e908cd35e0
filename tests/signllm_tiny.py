"""Tiny SignLLM model / processor / tokenizers shared by the model, processor, pipeline and trainer tests.

Everything is built offline: `ByT5Tokenizer` needs no files (one token per byte, vocabulary 384 = the tiny
preset's), and `train_unigram_tokenizer` trains a small SentencePiece unigram model on real How2Sign sentences.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
from signllm.configuration_signllm import SignLLMConfig
from signllm.modeling_signllm import SignLLMForConditionalGeneration
from signllm.processing_signllm import SignLLMProcessor
from transformers import ByT5Tokenizer

NUM_FRAMES = 32  # tiny preset window
LIP_FEATURES = 24  # tiny preset lip feature width
BYT5_DIGIT_IDS = [ord(str(d)) + 3 for d in range(10)]  # ByT5: id = byte + 3 special tokens


def tiny_config(**overrides) -> SignLLMConfig:
    overrides.setdefault("ssa_digit_token_ids", BYT5_DIGIT_IDS)
    return SignLLMConfig.from_preset("tiny", **overrides)


def tiny_model(seed: int = 0, **overrides) -> SignLLMForConditionalGeneration:
    torch.manual_seed(seed)
    return SignLLMForConditionalGeneration(tiny_config(**overrides)).eval()


def tiny_processor(**kwargs) -> SignLLMProcessor:
    kwargs = {"num_frames": NUM_FRAMES, "min_seconds": 0.16, "lip_feature_size": LIP_FEATURES, **kwargs}  # 4 frames
    return SignLLMProcessor(ByT5Tokenizer(), **kwargs)


def random_lip(num_frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(num_frames, LIP_FEATURES)).astype(np.float32)


def how2sign_sentences(csv_path: Path, limit: int = 400) -> list[str]:
    with open(csv_path, newline="") as handle:
        return [row["SENTENCE"] for row in csv.DictReader(handle)][:limit]


def train_unigram_tokenizer(sentences: list[str], vocab_size: int = 300):
    """A T5-style (pad 0, eos 1, unk 2) SentencePiece unigram tokenizer trained in memory, as `T5Tokenizer`."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    numbers = [f"{i:03d} {(i * 7) % 1000:03d}" for i in range(100)]  # digits must be in the vocabulary
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences + numbers), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, split_digits=True, minloglevel=2,
    )  # fmt: skip
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    return T5Tokenizer(vocab=vocab, extra_ids=0)
