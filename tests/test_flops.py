"""`count_flops`: exact counts of matrix products, convolutions and attention, the same on the meta
device as on real tensors, which is how chapter 3 counts a 256 px VQGAN's route through pixels."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from seitpp.augment import TokenAdapt, TokenAdaptConfig, affine_theta, via_pixels
from seitpp.engine import count_flops
from seitpp.tokenizers import VQGANConfig, VQGANTokenizer


def test_a_linear_layer_is_two_flops_per_multiply_add():
    layer = nn.Linear(16, 8)
    x = torch.randn(4, 16)
    assert count_flops(lambda: layer(x)) == 2 * 4 * 16 * 8


def test_attention_is_counted():
    q = torch.randn(2, 3, 10, 8)  # (B, heads, L, head dim)
    # q k^T and the weighted sum of v: two (L x hd) x (hd x L)-sized products per head
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == 2 * (2 * 2 * 3 * 10 * 10 * 8)


def test_meta_device_counts_the_same_as_real_tensors_and_computes_nothing():
    cfg = VQGANConfig.cpu_tiny()
    torch.manual_seed(0)
    real = VQGANTokenizer(cfg).eval()
    with torch.device("meta"):
        meta = VQGANTokenizer(cfg).eval()
    theta = affine_theta(2, degrees=10, scale=0.8)
    ids = torch.randint(cfg.n_embed, (2, 4, 4))
    flops_real = count_flops(lambda: via_pixels(real, ids, theta, (3, 3)))
    out = []
    flops_meta = count_flops(lambda: out.append(via_pixels(meta, ids.to("meta"), theta.to("meta"), (3, 3))))
    assert flops_real == flops_meta > 0
    assert out[0].is_meta and out[0].shape == (2, 3, 3)


def test_tokenadapt_counts_scale_with_the_grid():
    model = TokenAdapt(torch.randn(16, 4), TokenAdaptConfig(codebook_size=16, code_dim=4, width=32, num_heads=2))
    small = count_flops(lambda: model.augment(torch.randint(16, (1, 8, 8)), affine_theta(1), (6, 6)))
    large = count_flops(lambda: model.augment(torch.randint(16, (1, 16, 16)), affine_theta(1), (12, 12)))
    # 4 x the cells: linear layers 4 x, attention (L^2) 16 x; so between the two
    assert 4 < large / small < 16


def test_ldm_f8_route_through_pixels_is_hundreds_of_gflops():
    """The f8 VQGAN at 256 px, decode 32 x 32 ids and tokenize the 224 px crop: counted in about a second."""
    cfg = VQGANConfig.ldm_f8()
    with torch.device("meta"):
        model = VQGANTokenizer(cfg).eval()
        ids = torch.zeros(1, 32, 32, dtype=torch.long)
        theta = affine_theta(1, scale=0.875)
    flops = count_flops(lambda: via_pixels(model, ids, theta, (28, 28)))
    # the decoder's 256 px levels dominate: six 3 x 3 convs of 128 channels at 256 x 256 are 116 GFLOP
    assert 6 * 2 * 9 * 128 * 128 * 256 * 256 < flops < 2e12
    assert flops == pytest.approx(count_flops(lambda: model.decode(ids)) + count_flops(
        lambda: model.tokenize(torch.zeros(1, 3, 224, 224, device="meta"))), rel=1e-6)


def test_per_second_can_count_cpu_seconds():
    """A sleep takes wall time and almost no CPU time: the CPU rate of a sleeping callable is huge."""
    import time

    from seitpp.engine import per_second

    def nap() -> int:
        time.sleep(0.01)
        return 1
    wall = per_second(nap, min_seconds=0.05)
    cpu = per_second(nap, min_seconds=0.002, clock=time.process_time)
    assert wall < 110 and cpu > 10 * wall
