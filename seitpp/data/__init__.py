"""Images: the embedded Shapes dataset, image folders, and JPEG's DCT codec."""

from seitpp.data import dct
from seitpp.data.images import (
    IMAGE_EXTENSIONS,
    SAMPLE_PHOTOS,
    ImageFolderDataset,
    ImageFolderError,
    UnreadableImageError,
    images_to_tensor,
    load_image,
    photo_crops,
    tensor_to_images,
)
from seitpp.data.shapes import (
    LUMA,
    MAX_ROTATION,
    MIN_LUMA_GAP,
    SHAPE_CLASSES,
    SIZE_RANGE,
    SPLITS,
    STYLES,
    ShapeParams,
    Shapes,
    ShapesDataset,
    render_shapes,
    shape_coverage,
)

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
