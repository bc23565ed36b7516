"""A pixel CNN baseline, created by name (`cnn_<size>`): timm's ResNet with BasicBlocks.

What a careful practitioner would train from scratch on a few thousand small images to ask
"would an ordinary CNN on the pixels have done as well as the token ViT?". timm's `ResNet`
(`BasicBlock`, BatchNorm, the last norm of each block zero-initialised, no pretrained weights:
nothing is downloaded) with a stem for small images: one 3 x 3 convolution of stride 2 and no
max-pool in place of ImageNet's 7 x 7 stride-2 convolution and max-pool, so a 56 px crop gives
28, 14, 7 and 4 px feature maps in the four stages (ImageNet's stem would leave 14, 7, 4 and 2).

    images (B, 3, H, W) float --conv3x3/2--> 4 stages of BasicBlocks (stride 1, 2, 2, 2) --avg pool--> head

Each size is matched to the token ViT of the same name in parameters and FLOPs: ResNet-18 and
ResNet-34 shapes at widths chosen for that. Measured with 12 classes (torch's FlopCounterMode,
forward FLOPs per image; the CNN on a 56 px crop, which `seitpp.engine.pixel_crop` gives for a
14 x 14 token crop, the ViT on that 14 x 14 crop):

    size   channels per stage     blocks        cnn params  FLOPs @56px (@64px)  tvit params  FLOPs @14x14
    micro  (16, 32, 64, 128)      (1, 1, 1, 1)    0.31 M     0.026 G (0.032 G)     0.23 M      0.023 G
    tiny   (48, 96, 192, 384)     (2, 2, 2, 2)    6.29 M     0.51 G  (0.63 G)      5.39 M      0.56 G
    small  (96, 192, 384, 768)    (2, 2, 2, 2)   25.13 M     2.05 G  (2.50 G)     21.39 M      2.17 G
    base   (128, 256, 512, 1024)  (3, 4, 6, 3)   85.08 M     7.49 G  (9.27 G)     85.23 M      8.60 G

On 2 CPU cores (one thread) a training step of cnn_micro at batch 64 takes about as long as one
of tvit_micro (0.11 s against 0.09 s, forward and backward). The network reads any image size
(global average pooling), so `img_size`, which the pixel task passes, is only recorded.
`stem_stride=1` gives the CIFAR-style full-resolution first stage, at 4 x the FLOPs.

Letters: B batch, H W image size.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch.nn as nn
from timm.models.resnet import BasicBlock, ResNet

from seitpp.models.vit import SIZES, register_sizes

# (channels per stage, BasicBlocks per stage), one entry per size of seitpp.models.vit.SIZES
CNN_SIZES = {
    "micro": ((16, 32, 64, 128), (1, 1, 1, 1)),
    "tiny": ((48, 96, 192, 384), (2, 2, 2, 2)),
    "small": ((96, 192, 384, 768), (2, 2, 2, 2)),
    "base": ((128, 256, 512, 1024), (3, 4, 6, 3)),
}
assert set(CNN_SIZES) == set(SIZES), "every size of the ViTs has a CNN"

PIXEL_FAMILIES = ("pvit", "cnn")  # model families that read images (the others read token ids or DCT levels)


def reads_pixels(model: str) -> bool:
    """Whether the registered model `model` (e.g. "pvit_micro", "cnn_tiny") reads images."""
    return model.split("_")[0] in PIXEL_FAMILIES


@dataclass(frozen=True)
class CNNConfig:
    channels: tuple[int, ...] = (16, 32, 64, 128)  # per stage; stages 2 on halve the feature map
    layers: tuple[int, ...] = (1, 1, 1, 1)  # BasicBlocks per stage
    num_classes: int = 1000  # 0: no head, forward returns the pooled features
    in_chans: int = 3
    drop_path_rate: float = 0.0  # stochastic depth over the blocks
    global_pool: str = "avg"  # the only pooling: a CNN has no cls token
    img_size: int = 56  # recorded only: the network reads any size
    stem_stride: int = 2  # 1: full-resolution first stage (4 x the FLOPs, as CIFAR ResNets)

    def __post_init__(self):
        if len(self.channels) != len(self.layers) or not self.channels:
            raise ValueError(f"channels and layers need one entry per stage, got {self.channels}, {self.layers}")
        if self.channels[0] % 2:
            raise ValueError(f"the first stage's width must be even, got {self.channels[0]}")
        if self.global_pool != "avg":
            raise ValueError(f"a CNN pools by averaging (global_pool 'avg'), got {self.global_pool!r}")


class PixelCNN(ResNet):
    """timm's ResNet with a small-image stem. `forward(x)`: float images (B, 3, H, W) -> logits (B, classes)."""

    def __init__(self, config: CNNConfig = CNNConfig()):
        super().__init__(BasicBlock, list(config.layers), num_classes=config.num_classes, in_chans=config.in_chans,
                         global_pool=config.global_pool, channels=tuple(config.channels),
                         stem_type="deep", stem_width=config.channels[0] // 2,  # -> stem output channels[0]
                         drop_path_rate=config.drop_path_rate)
        self.config = config
        # the deep stem's three convolutions and the max-pool give way to one convolution
        self.conv1 = nn.Conv2d(config.in_chans, config.channels[0], kernel_size=3,
                               stride=config.stem_stride, padding=1, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")  # as timm's other convs
        self.maxpool = nn.Identity()

    def forward(self, x):
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(f"images must be float (B, C, H, W), got {x.dtype} {tuple(x.shape)}")
        return super().forward(x)


def _cnn(size: str, **overrides) -> PixelCNN:
    """`cnn_<size>`: the pixel CNN baseline; keyword arguments override CNNConfig fields."""
    unknown = sorted(set(overrides) - {f.name for f in fields(CNNConfig)})
    if unknown:
        raise TypeError(f"CNNConfig has no field(s) {unknown}")
    channels, layers = CNN_SIZES[size]
    return PixelCNN(replace(CNNConfig(channels=channels, layers=layers), **overrides))


register_sizes("cnn", _cnn)
