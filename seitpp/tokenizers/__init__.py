"""Tokenizers: the book's VQ tokenizer, taming-transformers VQGAN checkpoints, and tokenizer training."""

from seitpp.tokenizers.vq import (
    WEIGHTS_FILE,
    REFERENCE_DIR,
    TokenizerConfig,
    ResBlock,
    Encoder,
    Decoder,
    Codebook,
    VQTokenizer,
    TokenizerReport,
    psnr,
    code_counts,
    perplexity,
    evaluate_tokenizer,
    most_used_codes,
    kmeans_codes,
    reduce_codebook,
)
from seitpp.tokenizers import vqgan
from seitpp.tokenizers.vqgan import VQGANConfig, VQGANTokenizer, VQGANCheckpointError, load_vqgan
from seitpp.tokenizers import train
from seitpp.tokenizers.train import TokenizerTrainConfig, train_tokenizer

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
