"""Images: the embedded Shapes dataset, image folders, and JPEG's DCT codec."""

from seitpp.data.shapes import (
    SHAPE_CLASSES,
    SPLITS,
    STYLES,
    SIZE_RANGE,
    MAX_ROTATION,
    MIN_LUMA_GAP,
    LUMA,
    ShapeParams,
    shape_coverage,
    Shapes,
    render_shapes,
    ShapesDataset,
)
from seitpp.data.images import (
    images_to_tensor,
    tensor_to_images,
    IMAGE_EXTENSIONS,
    UnreadableImageError,
    ImageFolderError,
    load_image,
    ImageFolderDataset,
    SAMPLE_PHOTOS,
    photo_crops,
)
from seitpp.data import dct

__all__ = [
    "SHAPE_CLASSES",
    "SPLITS",
    "STYLES",
    "SIZE_RANGE",
    "MAX_ROTATION",
    "MIN_LUMA_GAP",
    "LUMA",
    "ShapeParams",
    "shape_coverage",
    "Shapes",
    "render_shapes",
    "ShapesDataset",
    "images_to_tensor",
    "tensor_to_images",
    "IMAGE_EXTENSIONS",
    "UnreadableImageError",
    "ImageFolderError",
    "load_image",
    "ImageFolderDataset",
    "SAMPLE_PHOTOS",
    "photo_crops",
    "dct",
]
