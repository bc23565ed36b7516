# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Images as tokens
#
# SeiT stores every training image not as pixels but as a small grid of integers: the ids of a
# vector-quantised (VQ) tokenizer's codebook entries. A 256 px ImageNet image becomes 32 x 32 = 1024
# ids from a codebook of 391 entries, about 1.1 KB instead of a 110 KB JPEG, and the whole of
# ImageNet-1k fits in 1.4 GB. Everything in this book trains on such grids.
#
# This chapter builds the two things every later chapter stands on:
#
# 1. **Shapes**, the book's own image dataset, drawn procedurally so that nothing has to be downloaded;
# 2. **a VQ tokenizer**, trained here from scratch: a convolutional encoder, an l2-normalised
#    codebook, and a decoder that turns ids back into pixels.
#
# We train a small tokenizer live, then load the book's *reference tokenizer* (trained once by a
# documented command and committed with the package) and measure what it keeps and what it loses:
# reconstruction quality, codebook use, what a single token stands for, and what shrinking the
# codebook costs, as SeiT shrank ViT-VQGAN's 8192 codes to 391.
#
# The notebook runs in two modes. With `SEITPP_FAST=1` (what the book build and CI use) every size
# is small and the chapter runs in well under a minute on two CPU cores; without it, the sizes are
# the real ones. The code path is the same.

# %%
import inspect
import json
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage import data as skdata
from skimage.transform import resize

import seitpp
from seitpp.device import default_device
from seitpp.data import images_to_tensor
from seitpp.data import SHAPE_CLASSES
from seitpp.data import render_shapes
from seitpp.tokenizers import REFERENCE_DIR, VQTokenizer, code_counts, evaluate_tokenizer, psnr, reduce_codebook
from seitpp.tokenizers.train import preset, reconstruction_loss, train_tokenizer
from seitpp.viz import image_grid, token_patches

FAST = seitpp.fast_mode()
DEVICE = default_device()  # SEITPP_DEVICE if set, else CUDA if there is one, else the CPU (seitpp.device)
torch.manual_seed(0)
NUM_TEST = 200 if FAST else 2_000  # held-out images for every measurement below
print(f"fast mode: {FAST}; device: {DEVICE}; torch {torch.__version__}, {torch.get_num_threads()} threads")

# %% [markdown]
# ## The Shapes dataset
#
# Each image holds one textured object on a cluttered background. The class is the object's
# **shape or layout**: circle, square, triangle, plus, ring, star, heart, arrow, crescent, a pair of
# discs side by side, a stack of two discs, three bars. Two rules make later chapters honest:
#
# - colours are random, for object and background alike, so a colour augmentation can never change
#   the label;
# - every shape is mirror-symmetric about its vertical axis, so a horizontal flip keeps the label
#   (the flip of an object rotated by $\theta$ is the same shape rotated by $-\theta$).
#
# Image $i$ of a split is drawn from its own seed, so the dataset is the same on every machine,
# and the generator also returns a segmentation mask per image (used in chapter 8);
# {numref}`fig-tokens-shapes` shows one image of each class.

# %%
t0 = time.perf_counter()
test = render_shapes(NUM_TEST, split="test")
print(f"rendered {NUM_TEST} test images in {time.perf_counter() - t0:.1f} s:",
      f"images {test.images.shape} {test.images.dtype}, labels {test.labels.shape}, masks {test.masks.shape}")
test_x = images_to_tensor(test.images)  # (N, 3, 64, 64) in [0, 1]
first = [int(np.flatnonzero(test.labels == c)[0]) for c in range(len(SHAPE_CLASSES))]  # one image per class

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The first test image of each of the twelve Shapes classes (top) and its segmentation mask (bottom).", "name": "fig-tokens-shapes"}}
masks = test.masks[first]
fig = image_grid([test.images[first], np.repeat(masks[..., None] > 0, 3, -1).astype(np.uint8) * 255],
                 row_labels=["image", "mask"], col_labels=SHAPE_CLASSES)

# %% [markdown]
# ## The tokenizer
#
# The tokenizer follows VQGAN's convolutional design. The **encoder** maps a 64 x 64 image to a
# 16 x 16 grid of 32-dimensional vectors (two stride-2 steps, so each token covers a 4 x 4 pixel
# patch, plus the context its receptive field sees). The **codebook** replaces each vector by the
# nearest of $K$ code vectors and outputs its id. As in ViT-VQGAN, the tokenizer SeiT uses, both
# the vectors and the codes are l2-normalised, so "nearest" means highest cosine similarity. The
# **decoder** mirrors the encoder and turns the grid of code vectors back into pixels.
#
# Training follows VQ-VAE {cite}`vandenoord2017vqvae`, with ViT-VQGAN's normalised codes
# {cite}`yu2022vitvqgan`. Write $\bar z = z / \lVert z \rVert$ for the encoder's vector at one grid
# cell and $\bar e_j = e_j / \lVert e_j \rVert$ for code $j$ of $K$. Quantisation picks the nearest
# code:
#
# $$
# k = \arg\min_j \lVert \bar z - \bar e_j \rVert_2 = \arg\max_j \, \bar z^\top \bar e_j ,
# \qquad z_q = \bar e_k .
# $$
#
# The argmax has no gradient. The decoder is therefore given $\bar z + \mathrm{sg}[z_q - \bar z]$,
# where $\mathrm{sg}$ stops the gradient (`.detach()`): its value is $z_q$, and the decoder's gradient
# passes to $\bar z$ unchanged, the *straight-through estimator*. With $x$ the image and $\hat x$ its
# reconstruction, one batch's loss is
#
# $$
# \mathcal{L} = \underbrace{\lVert x - \hat x \rVert_1 +
#   \lambda \big( \lVert \partial_u x - \partial_u \hat x \rVert_1 + \lVert \partial_v x - \partial_v \hat x \rVert_1 \big)}_{\text{reconstruction}} +
#   \underbrace{\lVert \mathrm{sg}[\bar z] - z_q \rVert_2^2}_{\text{codebook}} +
#   \beta \, \underbrace{\lVert \bar z - \mathrm{sg}[z_q] \rVert_2^2}_{\text{commitment}} ,
# $$
#
# each norm averaged over its elements (pixels and colour channels; grid cells and code dimensions),
# with $\partial_u, \partial_v$ the differences between neighbouring pixels across and down,
# $\lambda = 1$ (`edge_weight`) and $\beta = 0.25$ (`commitment`, VQ-VAE's value; both are printed
# below from the reference tokenizer's preset). The codebook term moves only the
# codes, towards the encoder outputs they replace; the commitment term moves only the encoder, towards
# its codes. The codes learn from that gradient alone, with no moving-average (EMA) update. VQGAN
# adds a perceptual loss (a pre-trained VGG) and an adversarial one {cite}`esser2021vqgan`; this
# tokenizer has neither, as nothing may be downloaded, and the L1 loss on image differences is what
# keeps its edges sharp. The code, in the quantiser and in the training loop's reconstruction loss:

# %%
print(inspect.getsource(seitpp.tokenizers.Codebook.forward))
print(inspect.getsource(reconstruction_loss))
ref_cfg = preset("cpu-ref")  # the preset that trained the reference tokenizer
print(f"cpu-ref: beta = commitment = {ref_cfg.model.commitment}, lambda = edge_weight = {ref_cfg.edge_weight}")

# %% [markdown]
# Line by line:
#
# - `z = F.normalize(z, dim=1)` makes $\bar z$;
# - `ids = self.nearest(z)` is the argmax of the cosine similarity with `self.vectors()`, the
#   normalised codes $\bar e_j$, and `zq = self.embed(ids)` looks up $z_q$;
# - in `loss`, `F.mse_loss(zq, z.detach())` is the codebook term and
#   `self.commitment * F.mse_loss(z, zq.detach())` the commitment term;
# - the returned `z + (zq - z).detach()` is the straight-through estimator;
# - in `reconstruction_loss`, `F.l1_loss(x_hat, x)` is the pixel term and `edge_weight * edges` the
#   $\lambda$ term, on the differences `image_gradients` takes; `train_tokenizer` adds the two parts:
#   `loss = rec_loss + vq_loss`.
#
# One more choice keeps training honest on a CPU: codes that no encoder output picked since the
# last check are *restarted* on encoder outputs of the current batch, the simplest cure for the dead
# codes that plague VQ training. The jumps in the right-hand panel of {numref}`fig-tokens-training`
# are such restarts: codes the encoder had abandoned return to use.
#
# ## Training one, live
#
# In fast mode we train the `cpu-tiny` preset, for the `steps` its config prints below; in full mode the `cpu-ref`
# preset, the one that made the reference tokenizer.

# %%
cfg = preset("cpu-tiny" if FAST else "cpu-ref")
print(cfg)
train = render_shapes(cfg.num_train_images, split="train")
t0 = time.perf_counter()
live, history = train_tokenizer(cfg, torch.from_numpy(train.images), device=DEVICE, progress=False)
print(f"trained {cfg.steps} steps in {time.perf_counter() - t0:.0f} s")
live_report = evaluate_tokenizer(live, test_x)
print(f"live tokenizer on {NUM_TEST} held-out images: PSNR {live_report.psnr:.1f} dB, "
      f"{live_report.codes_used}/{live_report.codebook_size} codes used, perplexity {live_report.perplexity:.0f}")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training the tokenizer live: the reconstruction loss per step (left, log scale) and how many distinct codes each batch uses (right); the jumps on the right are dead-code restarts.", "name": "fig-tokens-training"}}
steps = [h["step"] for h in history]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
ax1.plot(steps, [h["rec_loss"] for h in history])
ax1.set(xlabel="step", ylabel="reconstruction loss (L1 + edge L1)", yscale="log", title="training loss")
ax2.plot(steps, [h["codes_in_batch"] for h in history])
ax2.set(xlabel="step", ylabel="distinct codes in the batch", title=f"codebook use (K = {cfg.model.codebook_size})")
fig.tight_layout()

# %% [markdown]
# ## The reference tokenizer
#
# Every later chapter tokenizes with one and the same tokenizer, so that tokens, TokenAdapt weights
# and results fit together. It was trained with a 1024-entry codebook by the command recorded in
# its provenance file, then reduced to 391 codes, SeiT's codebook size (how, and why that way, is
# measured at the end of this chapter). We load it and measure it again here, on this machine.

# %%
provenance = json.loads((REFERENCE_DIR / "provenance.json").read_text())
print(json.dumps({k: provenance[k] for k in ("command", "preset", "date", "machine", "wall_seconds")}, indent=1))

tokenizer = VQTokenizer.load()  # the reference: 391 codes
full_tokenizer = VQTokenizer.load(REFERENCE_DIR / "full")  # the same network with its 1024 codes
ref = evaluate_tokenizer(tokenizer, test_x)
full = evaluate_tokenizer(full_tokenizer, test_x)
for name, r in [(f"trained, K = {full.codebook_size}", full), (f"reduced, K = {ref.codebook_size}", ref)]:
    print(f"{name}: PSNR {r.psnr:.2f} dB, codes used {r.codes_used}/{r.codebook_size} ({100 * r.usage:.1f}%), "
          f"perplexity {r.perplexity:.0f}, {r.bits_per_token:.2f} bits/token fixed-width, {r.entropy_bits:.2f} bits entropy")

# %% [markdown]
# One image per class, and its reconstruction from 16 x 16 = 256 tokens ({numref}`fig-tokens-reconstructions`):

# %%
ids = tokenizer.tokenize(test_x[first])  # (12, 16, 16) int64
recon = tokenizer.decode(ids)  # (12, 3, 64, 64)
print("ids", tuple(ids.shape), ids.dtype, "range", int(ids.min()), "to", int(ids.max()))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "One test image per class (top), decoded from its 16 x 16 tokens by the reference tokenizer (middle), and the token ids themselves, shown as grey levels (bottom).", "name": "fig-tokens-reconstructions"}}
fig = image_grid([test_x[first], recon, (ids[:, None].float() / tokenizer.config.codebook_size).expand(-1, 3, -1, -1)],
                 row_labels=["original", "decoded", "token ids"], col_labels=SHAPE_CLASSES)

# %% [markdown]
# Every class stays recognisable after the round trip through 256 integers. What is lost is fine
# texture: the noise of the backgrounds and the exact edges of dots and stripes.
#
# ### Real photographs
#
# The tokenizer never saw a photograph. Because it is convolutional, it accepts any image whose
# sides are multiples of 4: here scikit-image's sample photos at 64 and at 128 pixels (a 32 x 32
# token grid, SeiT's grid size), in {numref}`fig-tokens-photos`.

# %%
photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]


def square(img: np.ndarray, size: int) -> torch.Tensor:
    """Centre-crop a uint8 photo (H, W, 3) to a square and resize it -> (3, size, size) in [0, 1]."""
    h, w = img.shape[:2]
    s = min(h, w)
    crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return torch.from_numpy(resize(crop, (size, size), anti_aliasing=True)).permute(2, 0, 1).float()


rows, labels = [], []
for size in (64, 128):
    x = torch.stack([square(p, size) for p in photos])
    y = tokenizer.reconstruct(x)
    rows += [x, y]
    labels += [f"{size} px", f"decoded\n{size // 4}x{size // 4} tokens"]
    print(f"{size} px photos: PSNR", [f"{v:.1f}" for v in psnr(y, x).tolist()], "dB")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Four of scikit-image's sample photos at 64 and 128 pixels, each above what the reference tokenizer, trained on Shapes only, decodes from its tokens.", "name": "fig-tokens-photos"}}
fig = image_grid(rows, row_labels=labels, size=1.8)

# %% [markdown]
# ## How the codebook is used
#
# A codebook is only as large as the part of it that is used. Sorting the codes by how often they
# appear on held-out images shows how evenly the tokenizer spreads over them; the *perplexity*
# $\exp(H)$ of that histogram is the number of equally used codes that would have the same entropy.
# {numref}`fig-tokens-code-use` shows both codebooks.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "How often each code appears on the held-out images, codes sorted from most to least used, for the trained codebook and the reduced reference one; the legend gives each one's perplexity.", "name": "fig-tokens-code-use"}}
fig, ax = plt.subplots(figsize=(7, 3))
for name, r in [(f"K = {full.codebook_size} (trained)", full), (f"K = {ref.codebook_size} (reference)", ref)]:
    share = r.counts.sort(descending=True).values.double() / r.counts.sum()
    ax.plot(np.arange(1, len(share) + 1), share.numpy(), label=f"{name}, perplexity {r.perplexity:.0f}")
ax.set(xlabel="code rank (most used first)", ylabel="share of all tokens", yscale="log")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ### What one token means
#
# A token is a 4 x 4 patch, but the encoder saw more than the patch when it chose the id. Below,
# for a few codes (the two most used, a mid-ranked one and a rare one), the places where they occur on
# held-out images, each with one token of context on every side (the patch itself is the centre):
# {numref}`fig-tokens-patches`.

# %%
test_ids = tokenizer.tokenize_many(test_x)  # (N, 16, 16)
order = ref.counts.argsort(descending=True)
used = order[ref.counts[order] > 0]  # codes seen on these images, most frequent first
codes = [int(used[0]), int(used[1]), int(used[len(used) // 2]), int(used[9 * len(used) // 10])]
print("codes shown:", codes, "seen", [int(ref.counts[c]) for c in codes], "times")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Where four codes occur on held-out images (one row per code: the two most used, a mid-ranked one and a rare one), each 4 x 4 patch framed in yellow inside one token of context on every side.", "name": "fig-tokens-patches"}}
rows = [token_patches(test.images, test_ids, c, downsample=4, context=1, limit=10) for c in codes]
fig = image_grid(rows, row_labels=[f"code {c}\n({int(ref.counts[c])}x)" for c in codes], size=0.9)
for ax in fig.axes:
    if ax.images:  # frame the token's own 4 x 4 patch inside its 12 x 12 window
        ax.add_patch(plt.Rectangle((3.5, 3.5), 4, 4, fill=False, edgecolor="yellow", linewidth=1))

# %% [markdown]
# Patches that share a code share their colour and brightness, and, where there is one, the
# position of an edge inside the patch; the surroundings can differ a lot. A token therefore names a
# small local pattern *including its colour*: there is no separate "colour channel" to augment, which
# is the problem ColorAdapt solves in chapter 4. And because an edge's position and orientation are
# baked into the id, flipping a grid of ids cannot flip the patches themselves: the first of the two
# failures measured in chapter 2.
#
# ## Shrinking the codebook
#
# SeiT trained its tokenizer with 8192 codes and then kept 391, mapping every vector to the nearest
# kept code. Fewer codes mean fewer bits per token ($\log_2 K$ for a fixed-width code) and a
# smaller, better-trained embedding table for the model that reads the tokens; the price is
# reconstruction quality. We measure that trade on the trained 1024-code network, keeping either the
# $K$ most used codes or $K$ spherical k-means centroids of the codes (weighted by use). Code
# frequencies come from training images; the held-out images only measure.

# %%
K_full = full_tokenizer.config.codebook_size
train_counts = code_counts(full_tokenizer.tokenize(images_to_tensor(train.images[:NUM_TEST])), K_full)
ks = [k for k in (1024, 512, 391, 256, 128, 64, 32, 16) if k <= K_full]
sweep_x = test_x[: 32 if FAST else 1000]
rows = []
for method in ("most_used", "kmeans"):
    for k in ks:
        model = full_tokenizer if k == K_full else reduce_codebook(full_tokenizer, train_counts, k, method)
        r = evaluate_tokenizer(model, sweep_x)
        rows.append({"method": method, "K": k, "bits/token": math.log2(k), "PSNR dB": r.psnr, "codes used": r.codes_used})
print(f"{'method':>10} {'K':>5} {'bits/token':>10} {'PSNR dB':>8} {'used':>5}")
for row in rows:
    print(f"{row['method']:>10} {row['K']:>5} {row['bits/token']:>10.2f} {row['PSNR dB']:>8.2f} {row['codes used']:>5}")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Reconstruction PSNR on held-out images against bits per token, as the trained 1024-code network's codebook shrinks by keeping its most used codes or k-means centroids of its codes.", "name": "fig-tokens-codebook-size"}}
fig, ax = plt.subplots(figsize=(6, 3.5))
for method in ("most_used", "kmeans"):
    sel = [r for r in rows if r["method"] == method]
    ax.plot([r["bits/token"] for r in sel], [r["PSNR dB"] for r in sel], "o-", label=method)
for r in rows[: len(ks)]:
    ax.annotate(f"K={r['K']}", (r["bits/token"], r["PSNR dB"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
ax.set(xlabel="bits per token (log2 K)", ylabel="reconstruction PSNR (dB)")
ax.legend()
fig.tight_layout()

# %% [markdown]
# Keeping the most used codes loses quality fast: a rare code's patches must move to a popular code
# that may be far away. k-means centroids lose much less at every $K$, because they cover the space of
# codes evenly instead of keeping its crowded centre. SeiT does not say how it chose its 391 codes;
# our reference tokenizer keeps 391 k-means centroids, few enough for a compact embedding table,
# many enough to keep most of the quality. {numref}`fig-tokens-shrunk` shows the same images through
# k-means codebooks of decreasing size.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Six test images (top) through the same encoder and decoder with k-means codebooks of 391, 64 and 16 codes.", "name": "fig-tokens-shrunk"}}
pick = first[:6]
rows = [test_x[pick]] + [reduce_codebook(full_tokenizer, train_counts, k, "kmeans").reconstruct(test_x[pick]) for k in (391, 64, 16)]
fig = image_grid(rows, row_labels=["original", "K = 391", "K = 64", "K = 16"], col_labels=[SHAPE_CLASSES[i] for i in range(6)])

# %% [markdown]
# ## What storage this buys
#
# The point of tokens is storage. We store the same held-out images every way a dataset could be
# kept: raw pixels, PNG, JPEG at several qualities, downsampled pixels, SeiT's release token files
# (one or two bytes per id, then gzip) and this book's token store (`seitpp.tokens.store`), and divide
# by the number of images. For pixel formats, "bits per token" is bits per 4 x 4 pixel patch, the
# area one token covers.

# %%
from seitpp.tokens import IMAGENET_TRAIN_IMAGES, PAPER_IMAGENET_GB, storage_table

table = storage_table(test.images, test_ids.numpy(), test.labels, codebook_size=391, num_classes=len(SHAPE_CLASSES))
print(f"{'format':<36} {'bytes/image':>11} {'% of raw':>9} {'bits/token':>10}")
for row in table:
    print(f"{row['format']:<36} {row['bytes/image']:>11.1f} {row['% of raw']:>9.2f} {row['bits/token']:>10.2f}")
print(f"\nthe paper, ImageNet-1k training set ({IMAGENET_TRAIN_IMAGES} images; % of the full-pixel JPEG files):")
for name, gb in PAPER_IMAGENET_GB.items():
    print(f"{name:<36} {gb * 1e9 / IMAGENET_TRAIN_IMAGES:>11.0f} {100 * gb / PAPER_IMAGENET_GB['raw JPEG files (full pixels)']:>9.2f}  ({gb} GB)")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Bytes per stored 64 x 64 held-out image in each format (log scale); token formats in orange.", "name": "fig-tokens-storage"}}
fig, ax = plt.subplots(figsize=(7, 4))
names = [r["format"] for r in table]
ax.barh(names, [r["bytes/image"] for r in table], color=["tab:orange" if "token" in n else "tab:blue" for n in names])
ax.set(xscale="log", xlabel=f"bytes per 64 x 64 image, mean over {len(test.images)} held-out images (log scale)")
ax.invert_yaxis()
fig.tight_layout()

# %% [markdown]
# The paper's ImageNet tokens take 1% of the JPEG files. Our images are only 64 x 64 pixels, so
# every ratio differs, but the order is the same (the table above, {numref}`fig-tokens-storage`):
# the token formats are the smallest rows of the table, below JPEG at quality 5 and below pixels
# downsampled to 16 x 16, which no longer show the shape of the object. Both token rows include their labels and index; our store also carries the
# probability tables of its coder, a fixed cost that weighs more on a small split than on a large
# one.
#
# ### Why an entropy coder beats a fixed-width code, and where the floor is
#
# A fixed-width code spends $\log_2 K$ bits on every token, whatever it is. An entropy coder spends
# $-\log_2 p(\text{token})$ bits, so frequent tokens cost less; on average that is the entropy $H$ of
# the model's distribution, and no code can beat the entropy of the true distribution. How low
# that goes depends on what the model knows: coding each token on its own (order 0) can reach the
# entropy of the id histogram $H(X)$; a model that also sees the left neighbour can reach the
# conditional entropy $H(X \mid X_{\text{left}})$, which is much lower because neighbouring tokens of a
# flat background repeat. Our store's coder uses the left, upper and diagonal neighbours (see the
# docstring of `seitpp.tokens.store`); SeiT's gzip finds some repeats, but works on bytes and cannot use the
# row above.

# %%
from seitpp.tokenizers import perplexity

flat = test_ids.numpy()
h0 = math.log2(perplexity(code_counts(test_ids, 391)))
pairs = np.stack([flat[:, :, :-1].ravel(), flat[:, :, 1:].ravel()], 1)  # (left, token) pairs
joint = np.zeros((391, 391))
np.add.at(joint, (pairs[:, 0], pairs[:, 1]), 1)
p_joint = joint / joint.sum()
p_left = p_joint.sum(1, keepdims=True)
nz = p_joint > 0
h_left = float(-(p_joint[nz] * np.log2((p_joint / np.maximum(p_left, 1e-12))[nz])).sum())
ours = next(r for r in table if r["format"].startswith("our token store"))["bits/token"]
seit = next(r for r in table if r["format"].startswith("SeiT token files"))["bits/token"]
print(f"fixed width log2 K          {math.log2(391):.2f} bits/token")
print(f"order-0 entropy H(X)        {h0:.2f}")
print(f"given the left token        {h_left:.2f}  (plug-in estimate on {len(pairs)} pairs: optimistic for few images)")
print(f"SeiT's files (gzip)         {seit:.2f}")
print(f"our store (whole file)      {ours:.2f}  = {ours / seit:.2f} x SeiT's files")

# %% [markdown]
# ## Summary
#
# - The Shapes dataset gives every chapter a seeded, download-free classification task whose labels
#   survive colour changes and horizontal flips.
# - A VQ tokenizer turns a 64 x 64 image into 16 x 16 ids. The l2-normalised codebook and dead-code
#   restarts keep nearly every code in use; an edge-aware L1 loss keeps reconstructions sharp without
#   a perceptual network.
# - Stored as tokens, an image takes a few percent of its raw pixels; an entropy coder that knows
#   its neighbours stores the ids in fewer bits than SeiT's gzip files (the ratio is printed above).
# - The reference tokenizer shrinks its 1024 codes to 391 k-means centroids, SeiT's codebook size;
#   the PSNR and codebook use printed above are measured by this page, on held-out images.
# - A token names a small local pattern with its colour and its edges, seen through the encoder's
#   receptive field, which is why colour and geometric augmentations do not simply carry over to
#   token grids (chapters 2 to 4).
#
# ## Exercises
#
# 1. Train `cpu-tiny` with `edge_weight=0` (use `dataclasses.replace`) and compare the sharpness of
#    the reconstructions.
# 2. Turn off dead-code restarts (`restart_every` larger than `steps`) and watch the codebook use.
# 3. Tokenize a photo at 256 px (a 64 x 64 grid). Where does the tokenizer fail, and why would a
#    tokenizer trained on ImageNet not?
