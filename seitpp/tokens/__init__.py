"""Tokens at rest: the `.tokens` store, SeiT's release files, storage accounting, tokenizing a
data set, and the splits the engine trains on."""

from seitpp.tokens import coder
from seitpp.tokens.coder import TokenStoreError
from seitpp.tokens.store import MAGIC, VERSION, SUFFIX, CODER_NAME, MAX_CODEBOOK_SIZE, write_store, TokenStore
from seitpp.tokens.seit_format import (
    ESCAPE,
    SEIT_CODEBOOK_SIZE,
    TokenFileError,
    SeitSplit,
    SplitFiles,
    seit_split_files,
    encode_ids,
    decode_stream,
    read_seit_split,
    write_seit_split,
)
from seitpp.tokens.footprint import PAPER_IMAGENET_GB, IMAGENET_TRAIN_IMAGES, encoded_bytes, downsample, storage_table
from seitpp.tokens.tokenize import PROGRESS_FILE, IDS_FILE, ImageSource, shapes_source, folder_source, tokenize_dataset
from seitpp.tokens.split import (
    TrainData,
    load_data,
    SegmentationFileError,
    SegmentationData,
    load_segmentation,
    MASK_MODES,
)
from seitpp.tokens import loader

__all__ = [
    "coder",
    "TokenStoreError",
    "MAGIC",
    "VERSION",
    "SUFFIX",
    "CODER_NAME",
    "MAX_CODEBOOK_SIZE",
    "write_store",
    "TokenStore",
    "ESCAPE",
    "SEIT_CODEBOOK_SIZE",
    "TokenFileError",
    "SeitSplit",
    "SplitFiles",
    "seit_split_files",
    "encode_ids",
    "decode_stream",
    "read_seit_split",
    "write_seit_split",
    "PAPER_IMAGENET_GB",
    "IMAGENET_TRAIN_IMAGES",
    "encoded_bytes",
    "downsample",
    "storage_table",
    "PROGRESS_FILE",
    "IDS_FILE",
    "ImageSource",
    "shapes_source",
    "folder_source",
    "tokenize_dataset",
    "TrainData",
    "load_data",
    "SegmentationFileError",
    "SegmentationData",
    "load_segmentation",
    "MASK_MODES",
    "loader",
]
