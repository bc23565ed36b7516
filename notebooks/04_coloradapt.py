# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. ColorAdapt and Emb-Noise: colour lives in token statistics
#
# :::{admonition} What you will learn
# - why colour lives in the statistics of the token embeddings
# - ColorAdapt: AdaIN on embeddings, snapped back to the codebook, and Emb-Noise
# - how their colour changes compare with colour jitter on pixels
# :::
#
# Chapter 2 showed that no rearrangement of ids can change an image's colour: colour is baked into
# every id. Yet a pixel pipeline relies on colour jitter, and SeiT++ gets a colour augmentation
# back without touching pixels. The observation behind it: over a whole image, colour shows up in
# the **statistics** of the token embeddings, channel by channel, while the layout lives in how
# each channel varies from position to position. Adaptive instance normalisation (AdaIN) uses the
# same split for style transfer on CNN features {cite}`huang2017adain`. It normalises every channel
# of one image's feature map to zero mean and unit standard deviation over its positions, then
# gives it the mean and standard deviation of another image.
#
# **ColorAdapt** is AdaIN on the (B, C, H, W) map of token embeddings, with another sample of the
# batch as the source of the statistics; the result is snapped back to the nearest codes.
# **Emb-Noise**, its companion in SeiT++, adds Gaussian noise to the embeddings. In the paper's
# ablation (ViT-S on ImageNet-100) ColorAdapt alone lifts top-1 from 77.3 to 78.3, and with
# TokenAdapt from 80.4 to 81.4 {cite}`lee2024seitpp`. So it is worth knowing what it actually does
# to an image. This chapter shows:
#
# 1. decoded images before and after ColorAdapt, for several colour sources;
# 2. how close ColorAdapt gets to the tokens of a real pixel colour change (brightness,
#    saturation, hue, and AdaIN on pixels), measured against doing nothing;
# 3. what Emb-Noise does at several scales, and how many ids it changes.

# %%
import inspect

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from IPython.display import display
from myst_nb import glue

import seitpp
from seitpp.augment import ColorAdapt, EmbNoise, embed_ids, nearest_ids
from seitpp.data import SAMPLE_PHOTOS, SHAPE_CLASSES, images_to_tensor, photo_crops, render_shapes
from seitpp.experiments import format_table
from seitpp.tokenizers import VQTokenizer, psnr
from seitpp.viz import (ComparisonWidget, Panel, comparison_grid, comparison_player, embnoise_curves, image_grid,
                         token_panels, vs_pixels_figure)

FAST = seitpp.fast_mode()
NUM_IMAGES = 16 if FAST else 500  # held-out Shapes images for the measurements
tokenizer = VQTokenizer.load()  # the reference tokenizer of chapter 1
codes = tokenizer.codebook.vectors().detach()  # (K, C) unit code vectors
test = render_shapes(NUM_IMAGES, split="test")
x = images_to_tensor(test.images)  # (N, 3, 64, 64)
ids = tokenizer.tokenize_many(x)  # (N, 16, 16)
# the first five sample photos are the colour ones (the others are greyscale): real-photo palettes
photos = images_to_tensor(photo_crops(5))  # (5, 3, 64, 64)
photo_names = list(SAMPLE_PHOTOS[:5])
photo_ids = tokenizer.tokenize_many(photos)


reference = tokenizer.decode_many(ids)  # T(x) decoded
# every measurement of this chapter runs the reference tokenizer on the CPU: the same ids on every machine
print(f"fast mode: {FAST}; device: {tokenizer.device}; {NUM_IMAGES} Shapes test images, {len(photos)} photo crops ({', '.join(photo_names)})")

# %% [markdown]
# ## ColorAdapt is AdaIN on the embedding map
#
# Here is the whole operation as `seitpp.augment.ColorAdapt` implements it. `z` is a batch of
# embedding maps (B, C, H, W); `var_mean` over dimensions (2, 3) gives each sample's per-channel
# statistics over its H x W positions, and `partner` says whose statistics each sample takes:

# %%
print(inspect.getsource(ColorAdapt.apply))
print(inspect.getsource(ColorAdapt.partners))

# %% [markdown]
# In symbols, for sample $b$, channel $c$ and position $(h, w)$ of `z`, with $\varepsilon$ = `eps`:
#
# $$
# \begin{aligned}
# \mu_{bc} &= \frac{1}{HW}\sum_{h,w} z_{bchw}, \qquad
# \sigma_{bc} = \sqrt{\frac{1}{HW}\sum_{h,w}\bigl(z_{bchw}-\mu_{bc}\bigr)^2 + \varepsilon}, \\
# \mathrm{ColorAdapt}(z)_{bchw} &=
# \begin{cases}
# \sigma_{\pi(b)c}\,\dfrac{z_{bchw}-\mu_{bc}}{\sigma_{bc}} + \mu_{\pi(b)c}, & b \in S, \\
# z_{bchw}, & b \notin S.
# \end{cases}
# \end{aligned}
# $$ (eq-coloradapt)
#
# For a chosen sample this is
# $\mathrm{AdaIN}(x, y) = \sigma(y)\,\frac{x-\mu(x)}{\sigma(x)} + \mu(y)$ {cite}`huang2017adain`
# with $x = z_b$ and $y = z_{\pi(b)}$, another sample of the same batch. In the code, $\mu$ is
# `mean` and $\sigma$ is `std`, both (B, C, 1, 1): population statistics (`correction=0`) of the
# input batch, so a partner that is itself adapted still lends its original statistics.
# $\varepsilon$ sits inside both square roots, so the adapted channel's standard deviation equals
# its partner's only up to $\varepsilon$.
#
# $\pi$ is `partner`. By default it follows a random cycle through the batch, so no sample is its
# own partner; with `pairing="reverse"`, $\pi(b) = B-1-b$. $S$ is `chosen`: a random
# `round(fraction * B)` of the samples, the others pass unchanged. A chosen sample takes its
# partner's statistics whole, with nothing of its own mixed in. Whether the partner changes too
# depends only on whether it is in $S$.
#
# Given ids $t$ instead of embeddings, the op embeds them first,
# $z_{b\cdot hw} = \sqrt{C}\,e_{t_{bhw}}$ with $e_k$ the unit code vectors (`embed_ids`), and snaps
# the result back to the code of highest cosine similarity,
# $t'_{bhw} = \arg\max_k \cos\bigl(\mathrm{ColorAdapt}(z)_{b\cdot hw}, e_k\bigr)$ (`nearest_ids`).
#
# To look at one content image and one chosen colour source, we put both in a batch of two and use
# the `"reverse"` pairing, in which sample $i$ takes sample $B-1-i$ (as the authors' release does).
# A strength $a$ between 0 and 1 interpolates: $(1-a)\,z + a\,\mathrm{ColorAdapt}(z)$. AdaIN is an
# affine map per channel, so this is AdaIN to the interpolated statistics, mean $(1-a)\mu + a\mu'$
# and standard deviation $(1-a)\sigma + a\sigma'$, up to $\varepsilon$ (the cell below checks it).
# Nothing in {eq}`eq-coloradapt` is specific to embeddings: with $C = 3$ it is AdaIN on RGB pixels,
# a pixel-space counterpart to measure against.

# %%
def adain(content: torch.Tensor, source: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Each content map (N, C, H, W) takes the per-channel mean/std of its source map (N, C, H, W),
    interpolated by `strength`: ColorAdapt with an explicit partner for every sample."""
    n = len(content)
    both = torch.cat([content, source.flip(0)])  # sample i's partner under "reverse" is source i
    adapted = ColorAdapt(fraction=1.0, pairing="reverse").apply(both, None)[:n]
    return torch.lerp(content, adapted, strength)


def color_adapt(grid: torch.Tensor, source_grid: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """ids (N, 16, 16) -> ids after ColorAdapt towards the statistics of source_grid, snapped to the codebook."""
    return nearest_ids(adain(embed_ids(grid, codes), embed_ids(source_grid, codes), strength), codes)


def channel_stats(z: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and std over positions: (N, C, H, W) -> (N, 2C)."""
    return torch.cat([z.mean((2, 3)), z.std((2, 3), correction=0)], 1)


z, z_source = embed_ids(ids[:4], codes), embed_ids(photo_ids[:4], codes)
error = channel_stats(adain(z, z_source, 0.5)) - torch.lerp(channel_stats(z), channel_stats(z_source), 0.5)
print(f"strength 0.5: channel means and stds differ from the interpolated ones by at most {error.abs().max():.1e}")

# %% [markdown]
# ## What it does to images
#
# {numref}`fig-coloradapt-grid` applies ColorAdapt at full strength to four content images (rows).
# The colour sources (columns) are two other Shapes images and three photo crops, shown in the top
# row as their tokens decode. Every cell is snapped to the nearest codes and decoded.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Four Shapes images (rows) recoloured by ColorAdapt towards five colour sources (columns, decoded in the top row), snapped to the codebook and decoded; the first column is the unchanged tokens.", "name": "fig-coloradapt-grid"}}
contents = [0, 1, 2, 3]
sources = torch.cat([ids[[4, 5]], photo_ids[[0, 1, 2]]])  # (5, 16, 16)
source_names = [f"Shapes {i}" for i in (4, 5)] + photo_names[:3]
blank = torch.ones(3, 64, 64)
rows = [torch.cat([blank[None], tokenizer.decode_many(sources)])]
for i in contents:
    grid = ids[[i]].expand(len(sources), -1, -1)
    rows.append(torch.cat([reference[[i]], tokenizer.decode_many(color_adapt(grid, sources))]))
fig = image_grid(rows, row_labels=["colour source"] + [f"Shapes {i}" for i in contents],
                 col_labels=["T(x) (no change)"] + [f"from {name}" for name in source_names], size=1.3,
                 blank=[(0, 0)])  # the top-left cell has no source

# %% [markdown]
# How many ids does that recolouring change?

# %%
changed = torch.stack([(color_adapt(ids[contents], sources[[j] * len(contents)]) != ids[contents]).float().mean()
                       for j in range(len(sources))])
print(f"ids changed by ColorAdapt at full strength: {changed.mean():.0%} on average "
      f"(from {changed.min():.0%} to {changed.max():.0%} across the colour sources)")

# %% [markdown]
# The object, its texture and the clutter stay where they were; background and object take on the
# source's overall colours. AdaIN moves every channel of every position the same way, so it cannot
# recolour the object differently from the background: a source with a bright object on a dark
# ground gives its brightness and spread, not its arrangement. Most ids change, which is the point:
# the snapped grid is a new, valid token grid of a recoloured image.
#
# ## How close to a real colour change?
#
# A pixel colour change $P$ has a ground truth in token space: $T(P(x))$, the tokens of the changed
# pixels. For each $P$ we compare with it (all decoded, so the tokenizer's own loss cancels out):
#
# - **nothing**: the unchanged tokens $T(x)$, all that chapter 2's naive approach can offer;
# - **ColorAdapt, target's statistics**: AdaIN of $T(x)$'s embeddings to the statistics of
#   $T(P(x))$'s embeddings. This needs the answer, so it is an oracle: it measures how much of the
#   colour change per-channel statistics can express at all;
# - **ColorAdapt from T(y)**: only for pixel AdaIN to another image $y$ (a Shapes image or a photo
#   crop): ColorAdapt to the statistics of $T(y)$, what training actually does.
#
# Three numbers: the share of ids equal to $T(P(x))$, the PSNR against $T(P(x))$ decoded, and a
# colour-statistic distance, the mean absolute difference of the six per-channel RGB means and
# standard deviations of the two decoded images, in grey levels (0 to 255).

# %%
def compare(candidate: torch.Tensor, truth: torch.Tensor, decoded_truth: torch.Tensor) -> dict:
    decoded = reference if candidate is ids else tokenizer.decode_many(candidate)  # "nothing" is decoded once
    return {"ids agree": float((candidate == truth).float().mean()),
            "PSNR": float(psnr(decoded, decoded_truth).mean()),
            "colour distance": float((channel_stats(decoded) - channel_stats(decoded_truth)).abs().mean() * 255)}


other_shapes = x.roll(1, 0)  # every image's colour source is its neighbour in the set
other_photos = photos[torch.arange(NUM_IMAGES) % len(photos)]
changes = {  # name -> (pixel change, tokens of the colour source or None)
    "brightness 0.6": (lambda im: TF.adjust_brightness(im, 0.6), None),
    "brightness 1.4": (lambda im: TF.adjust_brightness(im, 1.4), None),
    "saturation 0.3": (lambda im: TF.adjust_saturation(im, 0.3), None),
    "saturation 1.8": (lambda im: TF.adjust_saturation(im, 1.8), None),
    "hue +0.1": (lambda im: TF.adjust_hue(im, 0.1), None),
    "hue +0.3": (lambda im: TF.adjust_hue(im, 0.3), None),
    "AdaIN to Shapes": (lambda im: adain(im, other_shapes), ids.roll(1, 0)),
    "AdaIN to photo": (lambda im: adain(im, other_photos), photo_ids[torch.arange(NUM_IMAGES) % len(photos)]),
}
methods = ["nothing", "ColorAdapt, target's statistics", "ColorAdapt from T(y)"]
results = {}
for name, (pixel_fn, source_ids) in changes.items():
    truth = tokenizer.tokenize_many(pixel_fn(x).clamp(0, 1))  # T(P(x))
    decoded_truth = tokenizer.decode_many(truth)
    candidates = {"nothing": ids, "ColorAdapt, target's statistics": color_adapt(ids, truth)}
    if source_ids is not None:
        candidates["ColorAdapt from T(y)"] = color_adapt(ids, source_ids)
    results[name] = {m: compare(c, truth, decoded_truth) for m, c in candidates.items()}

display(format_table(["pixel change", "method", "ids agree", "PSNR (dB)", "colour dist"],
                     [[name, m, f"{r['ids agree']:.1%}", f"{r['PSNR']:.1f}", f"{r['colour distance']:.1f}"]
                      for name, by_method in results.items() for m, r in by_method.items()]))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "How close three token-space candidates come to the tokens of each pixel colour change P: colour-statistic distance (left, lower is closer) and PSNR (right, higher is closer) against T(P(x)) decoded.", "name": "fig-coloradapt-vs-pixels"}}
fig = vs_pixels_figure(results, methods)

# %%
def mean_over(names: list[str], method: str, key: str) -> float:
    return float(np.mean([results[n][method][key] for n in names]))


statistic_changes = [name for name in changes if not name.startswith("hue")]
for key in ("colour distance", "PSNR", "ids agree"):
    print(f"{key:>15}: nothing {mean_over(statistic_changes, 'nothing', key):.2f} -> ColorAdapt with the target's "
          f"statistics {mean_over(statistic_changes, methods[1], key):.2f} (brightness, saturation, AdaIN); "
          f"hue +0.3: {results['hue +0.3']['nothing'][key]:.2f} -> {results['hue +0.3'][methods[1]][key]:.2f}")
adain_rows = ["AdaIN to Shapes", "AdaIN to photo"]
before, after = (mean_over(adain_rows, m, "colour distance") for m in (methods[0], methods[2]))
psnr_before, psnr_after = (mean_over(adain_rows, m, "PSNR") for m in (methods[0], methods[2]))
print(f"ColorAdapt from T(y) on the AdaIN rows: colour distance {before:.1f} -> {after:.1f} grey levels, "
      f"PSNR {psnr_before:.1f} -> {psnr_after:.1f} dB")
for method, tag in [("nothing", "nothing"), (methods[1], "oracle")]:  # brightness, saturation and AdaIN rows
    glue(f"ch4_dist_{tag}", float(mean_over(statistic_changes, method, "colour distance")), display=False)
    glue(f"ch4_psnr_{tag}", float(mean_over(statistic_changes, method, "PSNR")), display=False)
    glue(f"ch4_hue_psnr_{tag}", float(results["hue +0.3"][method]["PSNR"]), display=False)
glue("ch4_adain_dist_before", float(before), display=False)
glue("ch4_adain_dist_after", float(after), display=False)
glue("ch4_adain_psnr_before", float(psnr_before), display=False)
glue("ch4_adain_psnr_after", float(psnr_after), display=False)

# %% [markdown]
# What the numbers say ({numref}`fig-coloradapt-vs-pixels` and the table above). Some
# changes act on each colour channel's level and spread: brightness, saturation, and AdaIN itself.
# For those, moving the embedding statistics gets most of the way. The colour-statistic distance
# to the true tokens drops to a fraction of doing nothing, from {glue:text}`ch4_dist_nothing:.1f` to
# {glue:text}`ch4_dist_oracle:.1f` grey levels on average over those rows, and the PSNR rises from
# {glue:text}`ch4_psnr_nothing:.1f` to {glue:text}`ch4_psnr_oracle:.1f` dB, most for the large
# changes (mild ones, such as saturation 1.8, start close and gain little). The realistic
# ColorAdapt, which only knows the source image's tokens, lands close to the oracle on the AdaIN
# rows (colour distance {glue:text}`ch4_adain_dist_before:.1f` to {glue:text}`ch4_adain_dist_after:.1f`
# grey levels, PSNR {glue:text}`ch4_adain_psnr_before:.1f` to {glue:text}`ch4_adain_psnr_after:.1f` dB):
# statistics of embeddings transfer like statistics of pixels.
#
# Two limits show as well. After a large hue rotation the channel statistics can be matched, but
# the PSNR stays the lowest of the ColorAdapt rows: for hue +0.3, {glue:text}`ch4_hue_psnr_oracle:.1f` dB
# with the target's statistics, from {glue:text}`ch4_hue_psnr_nothing:.1f` doing nothing. A hue
# rotation sends each colour somewhere different, mixing channels, and no per-channel scale and
# shift puts the right colour in the right place.
# And the ids themselves mostly do not match $T(P(x))$: ColorAdapt produces *a* plausible token
# grid of the recoloured image, not the one the tokenizer would have chosen.
#
# ## Emb-Noise
#
# SeiT++'s other embedding augmentation adds noise: one Gaussian offset per (sample, channel),
# times `scale`, plus Gaussian noise per element, times `std` (both 1.0 in the authors' release).
# Our embeddings have per-element RMS 1 (see `embed_ids`), so the scales are comparable with those
# on SeiT++'s LayerNorm'd embeddings. After noise the grid is snapped to the nearest codes, and small
# noise snaps straight back: how many ids change at each scale?

# %%
def emb_noise(grid: torch.Tensor, scale: float, std: float) -> torch.Tensor:
    """Emb-Noise on ids with a fixed draw (seed 0): between calls only the size of the noise changes."""
    return EmbNoise(scale, std, codebook=codes)(grid, torch.Generator().manual_seed(0))


noise_scales = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
variants = {"offset and per-element (scale = std)": (1.0, 1.0),  # name -> multipliers of (scale, std)
            "per-channel offset only": (1.0, 0.0), "per-element only": (0.0, 1.0)}
share_changed = {name: [float((emb_noise(ids, s * a, s * b) != ids).float().mean()) for s in noise_scales]
                 for name, (a, b) in variants.items()}
pixel_change = [float((tokenizer.decode_many(emb_noise(ids, s, s)) - reference).abs().mean() * 255)
                for s in noise_scales]  # mean absolute change of the decoded image, grey levels
for s, share, change in zip(noise_scales, share_changed["offset and per-element (scale = std)"], pixel_change):
    print(f"scale = std = {s}: {share:.0%} of ids changed, decoded image moves by {change:.1f} grey levels on average")
for name, (a, b) in variants.items():  # at the release's scale: how much of the change is a colour shift?
    change = (tokenizer.decode_many(emb_noise(ids, a, b)) - reference) * 255
    shift = change.mean((2, 3), keepdim=True)  # the same at every position: a colour shift
    print(f"{name:>36} at 1.0: colour shift {shift.abs().mean():4.1f}, "
          f"change left after removing it {(change - shift).abs().mean():4.1f} grey levels")
full_noise = share_changed["offset and per-element (scale = std)"]
glue("ch4_noise_small_scale", float(noise_scales[0]), display=False)
glue("ch4_noise_small_changed", float(100 * full_noise[0]), display=False)
glue("ch4_noise_release_changed", float(100 * full_noise[noise_scales.index(1.0)]), display=False)
glue("ch4_noise_release_pixels", float(pixel_change[noise_scales.index(1.0)]), display=False)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Emb-Noise at growing scales: the share of ids that change after snapping to the codebook, for the full noise and each of its two parts (left), and how far the decoded image moves from T(x) decoded (right).", "name": "fig-coloradapt-embnoise-curves"}}
fig = embnoise_curves(noise_scales, share_changed, pixel_change)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Three Shapes images after Emb-Noise at each scale (scale = std, one fixed draw), snapped to the codebook and decoded; the first column is T(x) decoded.", "name": "fig-coloradapt-embnoise-images"}}
show = [0, 1, 2]
columns = [tokenizer.decode_many(ids[show])] + [tokenizer.decode_many(emb_noise(ids[show], s, s)) for s in noise_scales]
rows = list(torch.stack(columns, 1))  # one row per image: (1 + scales, 3, 64, 64)
fig = image_grid(rows, row_labels=[f"Shapes {i}" for i in show],
                 col_labels=["T(x)"] + [f"noise {s}" for s in noise_scales], size=1.2)

# %% [markdown]
# Small noise is absorbed by snapping and almost nothing changes; beyond some scale the share of
# changed ids climbs steeply, and at the release's scale of 1.0 most ids are replaced
# ({numref}`fig-coloradapt-embnoise-curves`): {glue:text}`ch4_noise_small_changed:.0f`% of the ids
# change at scale {glue:text}`ch4_noise_small_scale:.1f`, {glue:text}`ch4_noise_release_changed:.0f`% at
# 1.0, where the decoded image moves by {glue:text}`ch4_noise_release_pixels:.1f` grey levels on
# average. The decoded images
# ({numref}`fig-coloradapt-embnoise-images`) show what kind of change that is. Even where most ids
# differ, the object and the layout survive, and the visible change is mostly a shift of the whole
# image's colour.
#
# The split at scale 1.0 says where the shift comes from. The per-channel offset moves every
# position the same way, like a ColorAdapt towards random statistics, and makes the colour shift.
# The per-element part replaces about as many ids but shifts the colour hardly at all. Both change
# local texture by about the same small amount. At these scales Emb-Noise acts as a second, random
# colour augmentation with some texture change, rather than as visible noise.
#
# ## Try it yourself
#
# Choose a content image, a colour source (or Emb-Noise) and a strength. For ColorAdapt the strength
# interpolates between the image's own statistics (0) and the source's (1); the ground truth is the
# same interpolation of AdaIN done on pixels, tokenized. For Emb-Noise the strength is the noise
# scale (scale = std) and the comparison is with $T(x)$; the noise draw is fixed, only its size
# changes.

# %%
content_images = torch.cat([x[:4], photos[3:5]])  # four Shapes images and two photo crops
content_ids = torch.cat([ids[:4], photo_ids[3:5]])
content_labels = ([f"Shapes {i} ({SHAPE_CLASSES[test.labels[i]]})" for i in range(4)]
                  + [f"photo: {n}" for n in photo_names[3:5]])
color_sources = {"Shapes 5": (x[5], ids[5]), "Shapes 6": (x[6], ids[6])} | {
    f"photo: {n}": (photos[k], photo_ids[k]) for k, n in enumerate(photo_names[:3])}


def render(i: int, augmentation: str, strength: float) -> list[Panel]:
    """Panels for content image i under ColorAdapt from a named source, or Emb-Noise, at one strength."""
    image, grid = content_images[i], content_ids[i:i + 1]
    if augmentation == "Emb-Noise":
        return token_panels(tokenizer, image, None, {"Emb-Noise": emb_noise(grid, strength, strength)[0]})
    source_image, source_grid = color_sources[augmentation.removeprefix("ColorAdapt from ")]
    augmented = adain(image[None], source_image[None], strength).clamp(0, 1)[0]  # AdaIN on pixels
    adapted = color_adapt(grid, source_grid[None], strength)[0]
    return token_panels(tokenizer, image, augmented, {"ColorAdapt": adapted}) + [Panel("colour source", source_image)]


strengths = [0.0, 0.25, 0.5, 0.75, 1.0]
widget_augmentations = {f"ColorAdapt from {name}": strengths for name in color_sources}
widget_augmentations["Emb-Noise"] = [0.0, 0.2, 0.4, 0.7, 1.0]
ComparisonWidget(render, content_labels, widget_augmentations)

# %% [markdown]
# The panel above needs a running kernel to redraw; in the static HTML book it shows only its saved
# figure. The same comparison, precomputed: a frame player (drag the slider or press play) for
# ColorAdapt of a Shapes image towards a photo's colours, and a static grid for Emb-Noise
# ({numref}`fig-coloradapt-embnoise-panels`).

# %%
comparison_player(render, 0, f"ColorAdapt from photo: {photo_names[0]}", strengths)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Emb-Noise on one Shapes image, one row per noise scale (scale = std): x, T(x) decoded and the noised tokens decoded, with their share of ids equal to T(x) and their PSNR.", "name": "fig-coloradapt-embnoise-panels"}}
fig = comparison_grid(render, 1, "Emb-Noise", widget_augmentations["Emb-Noise"])

# %% [markdown]
# ## Summary
#
# - Colour is carried by token statistics: ColorAdapt, AdaIN on the (B, C, H, W) embedding map
#   with another sample's per-channel mean and standard deviation, snapped back to the codebook,
#   recolours an image while its layout stays in place, and changes most of its ids.
# - Measured against the tokens of real pixel colour changes on held-out Shapes images, setting
#   the embedding statistics closes most of the colour gap for brightness, saturation and AdaIN
#   (on average over those rows, a colour-statistic distance of {glue:text}`ch4_dist_oracle:.1f` grey
#   levels instead of {glue:text}`ch4_dist_nothing:.1f`, and {glue:text}`ch4_psnr_oracle:.1f` dB
#   instead of {glue:text}`ch4_psnr_nothing:.1f`), and ColorAdapt driven only by another
#   image's tokens comes close to that. A large hue rotation stays furthest from its ground truth:
#   it mixes channels. The ids rarely equal the true ones; the colours come close.
# - Small Emb-Noise is absorbed by snapping, and at the release's scale of 1.0 it replaces most
#   ids, yet the decoded image keeps its layout: mostly its colour moves.
# - Colour is the easy half: geometry needed the learned detour of chapter 3, TokenAdapt. Chapter 5
#   turns from augmentation to pre-training: masked token modeling.
#
# ## Exercises
#
# Each exercise has a hint and the result to expect, folded away until you open them, and a
# solution where the exercise is code, written to run at the end of this page. The expected numbers
# were measured with the reference tokenizer on the 500 held-out images of full mode, with the
# "target's statistics" oracle of the table above; fast mode's 16 images move them by a dB or so.
#
# 1. Decode ColorAdapt's embeddings *without* snapping them to the codebook (normalise them and call
#    `tokenizer.decoder` on them). How much of the PSNR gap to $T(P(x))$ is the snapping?
#
#    :::{dropdown} Hint
#    The decoder reads unit-length code vectors (`tokenizer.codebook.embed` gives them), so
#    normalise the adapted map over its channels (`F.normalize(z, dim=1)`), and map the decoder's
#    output from its range of -1 to 1 back to pixels in 0 to 1, as `tokenizer.decode` does. Compare
#    both PSNRs against $T(P(x))$ decoded, and against what ColorAdapt gains over doing nothing.
#    :::
#
#    :::{dropdown} Expected result
#    The snapping costs 0.2 to 2.0 dB of PSNR against $T(P(x))$ decoded (brightness 0.6: 27.2 dB
#    snapped, 28.4 unsnapped; saturation 1.8: 24.5 and 26.4; hue +0.3: 20.1 and 20.3) and a grey
#    level or two of colour distance. For the large changes that is a small part of what ColorAdapt
#    gains over doing nothing (brightness 0.6 starts at 13.9 dB), for the mild ones (saturation
#    1.8, hue +0.1) nearly half of it. Unsnapped, the images are still 20 to 28 dB from the truth:
#    most of what is left is what per-channel statistics cannot say, not the snapping.
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    import torch.nn.functional as F
#
#    def decode_unsnapped(z: torch.Tensor) -> torch.Tensor:
#        """Embeddings (N, C, 16, 16) -> images, decoded as they are, without snapping to codes."""
#        with torch.no_grad():  # the decoder reads unit vectors and returns [-1, 1]
#            return torch.cat([(tokenizer.decoder(F.normalize(b, dim=1)).clamp(-1, 1) + 1) / 2 for b in z.split(32)])
#
#    for name, (pixel_fn, _) in changes.items():
#        truth = tokenizer.tokenize_many(pixel_fn(x).clamp(0, 1))
#        decoded_truth = tokenizer.decode_many(truth)
#        z_adapted = adain(embed_ids(ids, codes), embed_ids(truth, codes))  # the target's statistics
#        snapped = tokenizer.decode_many(nearest_ids(z_adapted, codes))
#        print(f"{name}: snapped {psnr(snapped, decoded_truth).mean():.2f} dB, "
#              f"unsnapped {psnr(decode_unsnapped(z_adapted), decoded_truth).mean():.2f} dB")
#    ```
#    :::
#
# 2. Replace AdaIN's per-channel statistics by a full 32 x 32 covariance (a whitening and colouring
#    transform). Does the hue rotation get closer to its ground truth?
#
#    :::{dropdown} Hint
#    Per image, with $\Sigma_x$ and $\Sigma_y$ the 32 x 32 covariances of the two maps over their
#    256 positions: $z' = \Sigma_y^{1/2}\,\Sigma_x^{-1/2}\,(z - \mu_x) + \mu_y$, the matrix powers
#    from `torch.linalg.eigh`. An image uses only a few dozen distinct codes, so its covariance is
#    singular: add a small multiple of the identity before whitening. Use the oracle's target, the
#    embeddings of $T(P(x))$, and compare with AdaIN's row of the table.
#    :::
#
#    :::{dropdown} Expected result
#    Closer, a little: for hue +0.3 the PSNR against the truth rises from 20.1 dB (AdaIN) to 20.9
#    and the colour distance falls from 7.2 to 5.6 grey levels (hue +0.1: 24.7 to 26.0 dB). A full
#    covariance can mix channels, which a hue rotation needs and a per-channel scale cannot do,
#    but the result stays the furthest from its truth of all the changes: the rotation is not one
#    linear map of the 32-d embeddings. (Measured with `eps` = 1e-3; the brightness and saturation
#    rows gain 0.1 to 1.6 dB too.)
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    def wct(z: torch.Tensor, source: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
#        """Each map of z (N, C, H, W) takes the mean and the full C x C covariance of its source map."""
#        f, s = z.flatten(2), source.flatten(2)  # (N, C, HW)
#        mf, ms = f.mean(2, keepdim=True), s.mean(2, keepdim=True)
#        eye = eps * torch.eye(z.shape[1])
#        cov = lambda a: a @ a.transpose(1, 2) / a.shape[2] + eye  # noqa: E731
#
#        def power(m: torch.Tensor, p: float) -> torch.Tensor:
#            e, v = torch.linalg.eigh(m)
#            return v @ torch.diag_embed(e.clamp_min(eps) ** p) @ v.transpose(1, 2)
#        return (power(cov(s - ms), 0.5) @ power(cov(f - mf), -0.5) @ (f - mf) + ms).view_as(z)
#
#    for name in ("hue +0.1", "hue +0.3"):
#        truth = tokenizer.tokenize_many(changes[name][0](x).clamp(0, 1))
#        decoded_truth = tokenizer.decode_many(truth)
#        whitened = tokenizer.decode_many(nearest_ids(wct(embed_ids(ids, codes), embed_ids(truth, codes)), codes))
#        print(f"{name}: AdaIN {results[name][methods[1]]['PSNR']:.2f} dB, "
#              f"whitening and colouring {psnr(whitened, decoded_truth).mean():.2f} dB")
#    ```
#    :::
#
# 3. SeiT++ pairs sample $i$ with sample $B-1-i$. With a batch sorted by class, what would that
#    pairing do, and why does `ColorAdapt(pairing="random")` exist?
#
#    :::{dropdown} Hint
#    Write down the labels of a sorted batch, say 48 samples, 4 of each of the 12 classes, and read
#    off whose statistics each sample takes (`ColorAdapt(pairing="reverse").partners(48, None,
#    torch.device("cpu"))`). Then ask whether this book's training loop hands ColorAdapt sorted
#    batches.
#    :::
#
#    :::{dropdown} Expected result
#    A reasoning exercise; the partners can be checked with the code. On a sorted batch the
#    reverse pairing is a fixed map between classes: every sample of class $c$ takes the colours of
#    class $11-c$, in every batch of every epoch, and no sample ever takes colours from its own or
#    any other class. Whatever those class pairs' colours have in common, the model sees it over and
#    over, and a class count that is not even would pair the middle class with itself. The pairing
#    is only as random as the order of the batch. This book's loop draws each batch in a fresh
#    random order, where reverse and random pairing are alike; `pairing="random"` (a random cycle,
#    never a sample with itself) makes ColorAdapt independent of the order, for a loader that
#    sorts, groups by class or reads a token store in order.
#    :::
#
#    :::{dropdown} Solution
#    ```python
#    labels = torch.arange(12).repeat_interleave(4)  # a batch of 48 sorted by class
#    for pairing, g in [("reverse", None), ("random", torch.Generator().manual_seed(0))]:
#        partner = ColorAdapt(pairing=pairing).partners(48, g, torch.device("cpu"))
#        print(pairing, "class -> class of the partner:", sorted({(int(labels[i]), int(labels[partner[i]]))
#                                                                 for i in range(48)})[:6], "...")
#    ```
#    :::
