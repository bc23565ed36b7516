"""The taming-transformers VQGAN as a tokenizer: load a released checkpoint, turn images into ids.

SeiT++ compares tokenizers; this one is the convolutional VQGAN of Esser et al. (CompVis
taming-transformers, ImageNet f16 config: 256 px images -> 16 x 16 grids of ids into 16384 codes).
Every module name and parameter shape here is the one a taming checkpoint's `state_dict` uses, so
its weights load strictly, with nothing renamed. The code itself is written for reading:

    images (B, 3, H, W) in [0, 1] -> [-1, 1] -> encoder -> quant_conv -> z (B, C, h, w)
    z -> nearest code by squared distance -> ids (B, h, w)                          (tokenize)
    ids -> codes (B, C, h, w) -> post_quant_conv -> decoder -> images in [0, 1]       (decode)

Unlike `seitpp.tokenizers.VQTokenizer`, nothing is normalised: codes and encoder outputs are raw
vectors compared by squared euclidean distance, as in taming's VectorQuantizer.

Letters used in shapes: B batch, H W image size, h w token grid, C code dimension (embed_dim),
K codebook size (n_embed), L = h * w positions.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from seitpp.data.images import check_image_batch, images_to_tensor
from seitpp.files import FileProblem, atomic_path

CONFIG_KEY = "seitpp_vqgan_config"  # beside "state_dict" in checkpoints we write; taming ignores it
TRAINING_RESOLUTION = 256  # what every released taming VQGAN was trained at; assumed when unknown


@dataclass(frozen=True)
class VQGANConfig:
    """Taming's `ddconfig` plus the codebook size. Defaults are the ImageNet f16 16384 model."""

    ch: int = 128  # width of the first level
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)  # width of level i is ch * ch_mult[i]; one stride-2 step between levels
    num_res_blocks: int = 2  # per encoder level; the decoder has one more per level
    attn_resolutions: tuple[int, ...] = (16,)  # feature-map sizes (at `resolution` input) that get self-attention
    resolution: int = 256  # training image size: fixes the token grid and where attention sits
    z_channels: int = 256  # encoder output width, before quant_conv
    embed_dim: int = 256  # C, code dimension
    n_embed: int = 16384  # K, codebook size
    in_channels: int = 3
    out_ch: int = 3

    @classmethod
    def imagenet_f16(cls) -> "VQGANConfig":
        """taming's `vqgan_imagenet_f16_16384`: 256 px -> 16 x 16 ids, K = 16384, C = 256."""
        return cls()

    @classmethod
    def ldm_f8(cls) -> "VQGANConfig":
        """latent-diffusion's `vq-f8` (models/first_stage_models/vq-f8/config.yaml; taming's modules):
        256 px -> 32 x 32 ids, K = 16384, C = 4. The grid SeiT's ViT-VQGAN gives at 256 px."""
        return cls(ch_mult=(1, 2, 2, 4), attn_resolutions=(32,), z_channels=4, embed_dim=4)

    @classmethod
    def cpu_tiny(cls) -> "VQGANConfig":
        """A few-thousand-parameter model with the same structure (attention included), for tests."""
        return cls(ch=32, ch_mult=(1, 1, 2), num_res_blocks=1, attn_resolutions=(8,), resolution=32,
                   z_channels=32, embed_dim=16, n_embed=64)

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def grid_size(self) -> int:
        return self.resolution // self.downsample

    @property
    def codebook_size(self) -> int:
        return self.n_embed

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, fields: dict) -> "VQGANConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


VQGAN_PRESETS = {"imagenet-f16": VQGANConfig.imagenet_f16, "ldm-f8": VQGANConfig.ldm_f8,
                 "cpu-tiny": VQGANConfig.cpu_tiny}


# ----------------------------------------------------------------------------------------------
# Building blocks (taming/modules/diffusionmodules/model.py, without the diffusion timestep input)


def _norm(channels: int) -> nn.GroupNorm:
    # 32 groups as taming, so every width must be a multiple of 32
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """norm-swish-conv twice, plus a 1x1 `nin_shortcut` on the skip path when the width changes."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.norm1 = _norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = _norm(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        # registered only when needed: a checkpoint has the key exactly where widths change
        self.nin_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # silu is taming's "swish", x * sigmoid(x)
        h = self.conv2(F.silu(self.norm2(h)))  # (dropout sits here in taming; 0 and parameter-free)
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all h * w positions; q, k, v, proj_out are 1x1 convs."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x)
        q, k, v = (conv(h).flatten(2).transpose(1, 2) for conv in (self.q, self.k, self.v))  # each (B, L, C)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v, as taming: (B, L, C)
        out = out.transpose(1, 2).reshape(B, C, H, W)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # taming pads only right and bottom (torch's conv padding is symmetric); the trained
        # weights expect this alignment, so a symmetric padding=1 would shift every feature
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour copy, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution of the encoder or the decoder: residual blocks, each followed by attention at
    the attention resolutions, then a change of resolution (none at the bottom of the encoder and
    at the top of the decoder). Attribute names are taming's: `block`, `attn`, `downsample`, `upsample`."""

    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, attention: bool, resample: str | None):
        super().__init__()
        self.block = nn.ModuleList([ResnetBlock(in_ch if i == 0 else out_ch, out_ch) for i in range(num_blocks)])
        self.attn = nn.ModuleList([AttnBlock(out_ch) for _ in range(num_blocks)] if attention else [])
        self.downsample = Downsample(out_ch) if resample == "down" else None
        self.upsample = Upsample(out_ch) if resample == "up" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if len(self.attn):
                x = self.attn[i](x)
        if self.downsample is not None:
            x = self.downsample(x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class MidBlock(nn.Module):
    """At the token grid, between encoder levels and output (and decoder input and levels): res, attn, res."""

    def __init__(self, channels: int):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


# ----------------------------------------------------------------------------------------------
# Encoder and decoder


class Encoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, z_channels, H/d, W/d), d = 2 ** (len(ch_mult) - 1)."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        widths = [cfg.ch * m for m in cfg.ch_mult]
        last = len(widths) - 1
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        self.down = nn.ModuleList([
            Level(in_ch=cfg.ch if i == 0 else widths[i - 1], out_ch=width, num_blocks=cfg.num_res_blocks,
                  attention=cfg.resolution // 2 ** i in cfg.attn_resolutions, resample="down" if i < last else None)
            for i, width in enumerate(widths)
        ])
        self.mid = MidBlock(widths[-1])
        self.norm_out = _norm(widths[-1])
        # z_channels, not 2 * z_channels: taming's double_z is for its KL autoencoders, off for VQGAN
        self.conv_out = nn.Conv2d(widths[-1], cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)  # (B, ch, H, W)
        for level in self.down:
            h = level(h)  # (B, ch * ch_mult[-1], h, w) after the last
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, z_channels, h, w)


class Decoder(nn.Module):
    """(B, z_channels, h, w) -> (B, 3, h*d, w*d) in about [-1, 1]; the encoder mirrored, one block more per level."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        widths = [cfg.ch * m for m in cfg.ch_mult]
        last = len(widths) - 1
        self.conv_in = nn.Conv2d(cfg.z_channels, widths[-1], 3, padding=1)
        self.mid = MidBlock(widths[-1])
        # up[i] works at the same resolution as down[i] and is run from the last level to the
        # first; its input is the output of up[i + 1] (or of the mid block, for the last level)
        self.up = nn.ModuleList([
            Level(in_ch=widths[min(i + 1, last)], out_ch=width, num_blocks=cfg.num_res_blocks + 1,
                  attention=cfg.resolution // 2 ** i in cfg.attn_resolutions, resample="up" if i > 0 else None)
            for i, width in enumerate(widths)
        ])
        self.norm_out = _norm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], cfg.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))  # (B, ch * ch_mult[-1], h, w)
        for level in reversed(self.up):
            h = level(h)  # (B, ch, H, W) after up[0]
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, out_ch, H, W)


# ----------------------------------------------------------------------------------------------
# Codebook


class VectorQuantizer(nn.Module):
    """K raw code vectors of dimension C (`embedding.weight`, (K, C)); nearest by squared distance."""

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)  # taming's initialisation

    @property
    def size(self) -> int:
        return self.embedding.num_embeddings

    def nearest(self, z: torch.Tensor, max_distances: int = 2 ** 26) -> torch.Tensor:
        """Vectors (B, C, h, w) -> ids (B, h, w) of the code at the smallest squared distance.

        |z - e|^2 = |z|^2 + |e|^2 - 2 z.e, and |z|^2 is the same for every code, so it is left
        out (same argmin, less rounding). Rows go in chunks so that at most `max_distances` floats
        (256 MiB) of the (B*h*w, K) distance matrix exist at once: K = 16384 and a batch of 256
        images would otherwise need 4 GiB.
        """
        B, C, H, W = z.shape
        rows = z.permute(0, 2, 3, 1).reshape(-1, C)  # (B*h*w, C)
        codes = self.embedding.weight  # (K, C)
        code_sq = codes.pow(2).sum(dim=1)  # (K,)
        chunk = max(1, max_distances // self.size)
        ids = [(code_sq - 2 * part @ codes.T).argmin(dim=1) for part in rows.split(chunk)]  # each (chunk,)
        return torch.cat(ids).view(B, H, W) if ids else rows.new_zeros((B, H, W), dtype=torch.long)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> code vectors (B, C, h, w)."""
        return self.embedding(ids).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------------
# The tokenizer


class VQGANTokenizer(nn.Module):
    """Images in [0, 1] <-> token ids, with a taming VQGAN's modules (`load_vqgan` reads its weights).

    The public interface is `VQTokenizer`'s where `tokenize_dataset` and the CLI use it:
    `config.grid_size / codebook_size / resolution`, `tokenize`, `tokenize_many`, `decode`,
    `fingerprint`, `device`. It only runs inference; taming trains it.
    """

    def __init__(self, config: VQGANConfig = VQGANConfig()):
        super().__init__()
        self.config = config
        # attribute names are taming's VQModel's, so the state dict keys are its checkpoint's
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config.n_embed, config.embed_dim)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    @property
    def device(self) -> torch.device:
        return self.quantize.embedding.weight.device

    # -- the three stages ------------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) in [-1, 1] -> unquantised code vectors z (B, C, H/d, W/d)."""
        return self.quant_conv(self.encoder(x))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Code vectors (B, C, h, w) -> images (B, 3, h*d, w*d) in about [-1, 1]."""
        return self.decoder(self.post_quant_conv(codes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 3, H, W) in [0, 1] -> (reconstruction (B, 3, H, W) in [0, 1], ids (B, h, w))."""
        ids = self.tokenize(images)
        return self.decode(ids), ids

    # -- images <-> ids --------------------------------------------------------------------------

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> ids (B, H/d, W/d), int64, on the model's device."""
        check_image_batch(images, self.config.in_channels, self.config.downsample, (0.0, 1.0))
        x = images.to(self.device, torch.float32) * 2 - 1  # taming works in [-1, 1]
        return self.quantize.nearest(self.encode(x))

    @torch.no_grad()
    def tokenize_many(self, images: torch.Tensor | np.ndarray, batch_size: int = 64) -> torch.Tensor:
        """`tokenize` over a large set, a batch at a time -> ids (N, h, w) on the CPU.

        images: uint8 (N, H, W, 3), array or tensor, converted a batch at a time (so a large set
        is never held as floats all at once), or float (N, 3, H, W) in [0, 1].
        """
        batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
        return torch.cat([self.tokenize(_float_images(b)).cpu() for b in batches])

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, h, w) -> images (B, 3, h*d, w*d) in [0, 1]."""
        ids = ids.to(self.device, torch.long)
        # (meta tensors, used to count FLOPs, have shapes but no values to check)
        if ids.numel() and not ids.is_meta and (ids.min() < 0 or ids.max() >= self.quantize.size):
            raise ValueError(f"token ids must lie in [0, {self.quantize.size}), got [{ids.min()}, {ids.max()}]")
        x = self.decode_codes(self.quantize.embed(ids))
        return (x.clamp(-1, 1) + 1) / 2

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """decode(tokenize(images))."""
        return self.decode(self.tokenize(images))

    def fingerprint(self) -> str:
        """A short hash of the config and every weight: token files record which tokenizer made them."""
        h = hashlib.sha256(self.config.to_json().encode())
        for name, tensor in sorted(self.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


def _float_images(batch: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) array or tensor, or float (B, 3, H, W) in [0, 1] -> float (B, 3, H, W) in [0, 1]."""
    if isinstance(batch, np.ndarray):
        return images_to_tensor(batch)
    if batch.dtype == torch.uint8:
        return batch.movedim(-1, -3).float() / 255.0
    return batch


# ----------------------------------------------------------------------------------------------
# Checkpoints: taming's layout, {"state_dict": {...}}, written by torch.save


class VQGANCheckpointError(FileProblem):
    kind = "VQGAN checkpoint"


def save_vqgan_checkpoint(model: VQGANTokenizer, path: str | Path) -> Path:
    """Write `model` as taming does ({"state_dict": ...}), plus its config, atomically."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, CONFIG_KEY: asdict(model.config)}, tmp)
    return path


def load_vqgan(path: str | Path, config: VQGANConfig | None = None,
               device: str | torch.device = "cpu") -> VQGANTokenizer:
    """A taming VQGAN checkpoint (or one from `save_vqgan_checkpoint`) as a tokenizer in eval mode.

    Takes a dict with "state_dict" or a bare state dict; `loss.*` entries (LPIPS and the
    discriminator, used only in training) are dropped. The architecture is `config` if given,
    else the one stored by `save_vqgan_checkpoint`, else read off the weight shapes (with the
    training resolution taken to be 256). Every key and shape must then match: errors name the
    file and list what is missing, unexpected or of the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{VQGANCheckpointError.kind} {path}: no such file")
    checkpoint = _read_checkpoint(path)
    state = _state_dict_of(path, checkpoint)
    if config is None:
        stored = checkpoint.get(CONFIG_KEY) if isinstance(checkpoint, dict) else None
        try:
            config = VQGANConfig.from_dict(stored) if stored is not None else config_from_state_dict(state)
        except (TypeError, ValueError) as err:
            raise VQGANCheckpointError(path, str(err)) from err
    with torch.device("meta"):  # shapes only: the checkpoint's tensors become the parameters below
        model = VQGANTokenizer(config)
    _check_keys(path, model.state_dict(), state)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    return model.to(device).eval()


def config_from_state_dict(state: dict[str, torch.Tensor], resolution: int = TRAINING_RESOLUTION) -> VQGANConfig:
    """The architecture of a VQGAN state dict, read off its parameter shapes.

    Only `resolution` cannot be seen in the weights (a conv net runs at any size): it fixes the
    token grid and, with the levels that hold attention, `attn_resolutions`.
    """
    needed = ["quantize.embedding.weight", "encoder.conv_in.weight", "encoder.conv_out.weight",
              "decoder.conv_out.weight"]
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f"cannot read the architecture off the weights: no {', '.join(missing)}")
    n_embed, embed_dim = state["quantize.embedding.weight"].shape
    ch, in_channels = state["encoder.conv_in.weight"].shape[:2]
    # width of each encoder level, from the first conv of any of its residual blocks
    widths: dict[int, int] = {}
    blocks: set[int] = set()
    attention: set[int] = set()
    for key, tensor in state.items():
        if m := re.fullmatch(r"encoder\.down\.(\d+)\.block\.(\d+)\.conv1\.weight", key):
            widths[int(m[1])] = tensor.shape[0]
            blocks.add(int(m[2]))
        elif m := re.fullmatch(r"encoder\.down\.(\d+)\.attn\.\d+\.q\.weight", key):
            attention.add(int(m[1]))
    if not widths or sorted(widths) != list(range(len(widths))):
        raise ValueError(f"cannot read the architecture off the weights: encoder levels {sorted(widths)}")
    return VQGANConfig(
        ch=int(ch), ch_mult=tuple(widths[i] // ch for i in range(len(widths))), num_res_blocks=len(blocks),
        attn_resolutions=tuple(resolution // 2 ** i for i in sorted(attention)), resolution=resolution,
        z_channels=int(state["encoder.conv_out.weight"].shape[0]), embed_dim=int(embed_dim), n_embed=int(n_embed),
        in_channels=int(in_channels), out_ch=int(state["decoder.conv_out.weight"].shape[0]),
    )


class _Inert:
    """Stands in for a class or function a checkpoint names but the weights do not need."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state) -> None:
        pass


def _read_checkpoint(path: Path) -> object:
    """torch.load with weights_only=True, which runs no code from the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_error = err  # garbage, or Python objects beside the weights: see below
    except Exception as err:  # torch raises many kinds (RuntimeError for a truncated zip, EOFError, ...)
        raise VQGANCheckpointError(path, f"not a readable torch checkpoint ({_first_line(err)})") from err
    # A Lightning checkpoint (taming's are) also pickles training state, for example callback
    # states keyed by their class, pytorch_lightning.callbacks.ModelCheckpoint: weights_only refuses
    # them, and weights_only=False would need Lightning installed and would run the file's code.
    # Each such name is read as an inert placeholder instead; the state dict is plain tensors.
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        names = []
    if not names:
        problem = f"not a readable torch checkpoint ({_first_line(first_error)})"
        raise VQGANCheckpointError(path, problem) from first_error
    try:
        with torch.serialization.safe_globals([(_Inert, name) for name in names]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise VQGANCheckpointError(path, f"not a readable torch checkpoint ({_first_line(err)})") from err


def _state_dict_of(path: Path, checkpoint: object) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint ({"state_dict": ...} or a bare state dict), without `loss.*`."""
    state = checkpoint["state_dict"] if isinstance(checkpoint, dict) and "state_dict" in checkpoint else checkpoint
    if not isinstance(state, dict):
        raise VQGANCheckpointError(path, f"holds a {type(checkpoint).__name__}, not a state dict")
    not_tensors = [k for k, v in state.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if not_tensors:
        raise VQGANCheckpointError(path, f"not a state dict of tensors: {_few(map(str, not_tensors))}")
    return {k: v for k, v in state.items() if not k.startswith("loss.")}


def _check_keys(path: Path, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    """Raise one error that lists every kind of disagreement between checkpoint and model."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} is {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_few(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_few(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches: {_few(wrong)}")
    if problems:
        raise VQGANCheckpointError(path, "; ".join(problems) + " (is it a taming VQGAN with this config?)")


def _few(items, n: int = 5) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200] if text else ''}"
