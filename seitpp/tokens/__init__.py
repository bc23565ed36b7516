"""Tokens at rest: the `.tokens` store, SeiT's release files, storage accounting, tokenizing a
data set, and the splits the engine trains on."""

from seitpp.tokens import coder
from seitpp.tokens.coder import TokenStoreError
from seitpp.tokens.footprint import (
    IMAGENET_TRAIN_IMAGES,
    PAPER_IMAGENET_GB,
    downsample,
    downsampled,
    encoded_bytes,
    jpeg_roundtrip,
    storage_table,
    stored_pixels,
)
from seitpp.tokens.seit_format import (
    ESCAPE,
    SEIT_CODEBOOK_SIZE,
    SeitSplit,
    SplitFiles,
    TokenFileError,
    decode_stream,
    encode_ids,
    read_seit_split,
    seit_split_files,
    write_seit_split,
)
from seitpp.tokens.split import (
    KINDS,
    MASK_MODES,
    TARGETS,
    SegmentationFileError,
    Split,
    load_split,
)
from seitpp.tokens.store import (
    CODER_NAME,
    MAGIC,
    MAX_CODEBOOK_SIZE,
    SUFFIX,
    VERSION,
    TokenStore,
    write_store,
)
from seitpp.tokens.tokenize import (
    IDS_FILE,
    PROGRESS_FILE,
    ImageSource,
    folder_source,
    shapes_source,
    tokenize_dataset,
)

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
    "downsampled",
    "jpeg_roundtrip",
    "stored_pixels",
    "storage_table",
    "PROGRESS_FILE",
    "IDS_FILE",
    "ImageSource",
    "shapes_source",
    "folder_source",
    "tokenize_dataset",
    "KINDS",
    "TARGETS",
    "SegmentationFileError",
    "Split",
    "load_split",
    "MASK_MODES",
]
