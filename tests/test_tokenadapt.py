"""TokenAdapt's f and g: shapes, the frozen codebook, and that training on (T(x), T(A(x))) pairs learns."""
import pytest
import torch
import torch.nn.functional as F

from seitpp.augment import affine_theta, warp
from seitpp.data import images_to_tensor
from seitpp.shapes import render_shapes
from seitpp.tokenadapt import TokenAdapt, TokenAdaptConfig
from seitpp.tokenizer import Codebook, VQTokenizer

SMALL = TokenAdaptConfig(codebook_size=16, code_dim=4, width=32, num_heads=2)


def test_shapes_and_output_size():
    model = TokenAdapt(Codebook(16, 4), SMALL)
    ids = torch.randint(16, (3, 8, 8))
    assert model.f(ids).shape == (3, 4, 16, 16)
    assert model(ids, affine_theta(3)).shape == (3, 16, 8, 8)
    assert model(ids, affine_theta(3, scale=0.5), out_size=(6, 6)).shape == (3, 16, 6, 6)
    out = model.augment(ids, affine_theta(3, hflip=True))
    assert out.shape == (3, 8, 8) and out.dtype == torch.int64 and out.max() < 16


def test_codebook_is_frozen_and_checked():
    model = TokenAdapt(Codebook(16, 4), SMALL)
    model(torch.randint(16, (2, 4, 4)), affine_theta(2)).sum().backward()
    assert "codes" not in dict(model.named_parameters())
    assert model.f_in.weight.grad is not None and model.g_out.weight.grad is not None
    with pytest.raises(ValueError, match="codebook"):
        TokenAdapt(Codebook(10, 4), SMALL)


def test_training_on_flip_pairs_learns():
    """A few steps on (T(x), T(flip(x))) pairs: the loss falls and more ids match T(flip(x)).

    Whether TokenAdapt beats the naive flip of chapter 2 takes a real training run (chapter 3).
    """
    tokenizer = VQTokenizer.load()
    x = images_to_tensor(render_shapes(24, split="train").images)
    theta = affine_theta(len(x), hflip=True)
    source, target = tokenizer.tokenize(x), tokenizer.tokenize(warp(x, theta).clamp(0, 1))
    torch.manual_seed(0)
    model = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=64, num_heads=4))
    before = (model.augment(source, theta) == target).float().mean()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(source, theta), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
    assert (model.augment(source, theta) == target).float().mean() > before + 0.1
