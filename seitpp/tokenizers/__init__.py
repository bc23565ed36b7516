"""Tokenizers: the book's VQ tokenizer, taming-transformers VQGAN checkpoints, and tokenizer training."""

from seitpp.tokenizers import train, vqgan
from seitpp.tokenizers.train import TokenizerTrainConfig, train_tokenizer
from seitpp.tokenizers.vq import (
    REFERENCE_DIR,
    WEIGHTS_FILE,
    Codebook,
    Decoder,
    Encoder,
    ResBlock,
    TokenizerConfig,
    TokenizerReport,
    VQTokenizer,
    code_counts,
    evaluate_tokenizer,
    kmeans_codes,
    most_used_codes,
    perplexity,
    psnr,
    reduce_codebook,
)
from seitpp.tokenizers.vqgan import (
    VQGANCheckpointError,
    VQGANConfig,
    VQGANTokenizer,
    load_vqgan,
)

__all__ = [
    "WEIGHTS_FILE",
    "REFERENCE_DIR",
    "TokenizerConfig",
    "ResBlock",
    "Encoder",
    "Decoder",
    "Codebook",
    "VQTokenizer",
    "TokenizerReport",
    "psnr",
    "code_counts",
    "perplexity",
    "evaluate_tokenizer",
    "most_used_codes",
    "kmeans_codes",
    "reduce_codebook",
    "vqgan",
    "VQGANConfig",
    "VQGANTokenizer",
    "VQGANCheckpointError",
    "load_vqgan",
    "train",
    "TokenizerTrainConfig",
    "train_tokenizer",
]
