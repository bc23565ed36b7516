"""The comparison helpers in seitpp.viz: the HTML player, the static grid, the ipywidgets panel and
token_panels, on a tiny fake render function (and a tiny untrained tokenizer for token_panels);
chapter 2's and chapter 5's figures on tiny inputs, and chapters 1, 3, 4, 8, 9 and 90's on tiny rows."""
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from IPython.display import HTML  # noqa: E402
from matplotlib.category import UnitData  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from seitpp.tokenizers import TokenizerConfig, VQTokenizer  # noqa: E402
from seitpp.viz import mtm as mtm_viz  # noqa: E402
from seitpp.viz import (  # noqa: E402
    ComparisonWidget,
    Panel,
    agreement_panels,
    comparison_grid,
    comparison_player,
    disagreement_figure,
    flip_zoom_figure,
    token_panels,
)

AUGMENTATIONS = {"brighten": [0.0, 0.5, 1.0], "flip": [0.0, 1.0]}
CALLS: list[tuple[int, str, float]] = []


def render(image_index: int, augmentation: str, strength: float) -> list[Panel]:
    """Three panels: a float tensor, a uint8 array, and a float tensor whose brightness is `strength`."""
    CALLS.append((image_index, augmentation, strength))
    base = torch.full((3, 8, 8), image_index / 10)
    return [Panel("x", base),
            Panel("uint8", np.full((8, 8, 3), 40 * image_index, np.uint8), "no caption needed"),
            Panel("A(x)", torch.full((3, 8, 8), strength), f"strength {strength:g}")]


def failing_render(image_index: int, augmentation: str, strength: float) -> list[Panel]:
    if image_index == 1:
        raise RuntimeError("render failed on image 1")
    return render(image_index, augmentation, strength)


@pytest.fixture(autouse=True)
def _close_figures():
    CALLS.clear()
    yield
    plt.close("all")


def test_player_has_one_frame_per_strength_and_leaves_no_figure_open():
    html = comparison_player(render, 2, "brighten", [0.0, 0.25, 0.5, 0.75, 1.0])
    assert isinstance(html, HTML)
    frames = re.findall(r'frames\[(\d+)\] = "data:image/png;base64,', html.data)
    assert [int(f) for f in frames] == [0, 1, 2, 3, 4]
    assert CALLS == [(2, "brighten", s) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert plt.get_fignums() == []  # closed: the notebook shows the player only, no static copy
    assert len(html.data) < 150_000  # small figures: a few tens of KB per frame at most


def test_player_frames_differ_with_strength():
    frames = re.findall(r'"data:image/png;base64,([^"]+)"', comparison_player(render, 0, "brighten", [0.0, 1.0]).data)
    assert len(frames) == 2 and frames[0] != frames[1]


def test_grid_has_a_labelled_axis_per_strength_and_panel():
    fig = comparison_grid(render, 1, "brighten", [0.0, 0.5, 1.0])
    axes = np.array(fig.axes).reshape(3, 3)
    assert [ax.get_title() for ax in axes[0]] == ["x", "uint8", "A(x)"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["strength 0", "strength 0.5", "strength 1"]
    assert fig.get_suptitle() == "brighten"
    assert [ax.get_xlabel() for ax in axes[:, 2]] == ["strength 0", "strength 0.5", "strength 1"]
    assert all(len(ax.images) == 1 for ax in axes.flat)
    shown = axes[2, 2].images[0].get_array()
    assert shown.dtype == np.uint8 and shown.shape == (8, 8, 3) and shown.max() == 255  # strength 1 -> white


def test_render_that_changes_its_panel_count_is_an_error():
    def uneven(i: int, augmentation: str, strength: float) -> list[Panel]:
        return render(i, augmentation, strength)[: 2 if strength else 3]

    with pytest.raises(ValueError, match="different numbers of panels"):
        comparison_grid(uneven, 0, "brighten", [0.0, 1.0])


def test_render_errors_propagate_from_player_and_grid():
    with pytest.raises(RuntimeError, match="image 1"):
        comparison_player(failing_render, 1, "flip", [0.0, 1.0])
    with pytest.raises(RuntimeError, match="image 1"):
        comparison_grid(failing_render, 1, "flip", [0.0, 1.0])
    assert plt.get_fignums() == []


def shown_png(widget: ComparisonWidget) -> str:
    (output,) = widget.output.outputs
    return output["data"]["image/png"]


def test_widget_draws_at_construction_and_redraws_on_every_change():
    widget = ComparisonWidget(render, ["zero", "one", "two"], AUGMENTATIONS)
    assert CALLS == [(0, "brighten", 1.0)]  # first image, first augmentation, strongest setting
    first = shown_png(widget)

    widget.strength.value = 0.5
    assert CALLS[-1] == (0, "brighten", 0.5) and shown_png(widget) != first

    widget.image.value = 2
    assert CALLS[-1] == (2, "brighten", 0.5)

    calls_before = len(CALLS)
    widget.augmentation.value = "flip"  # new strengths on the slider, one redraw
    assert widget.strength.options == (("0", 0.0), ("1", 1.0)) and widget.strength.value == 1.0
    assert CALLS[calls_before:] == [(2, "flip", 1.0)]

    widget.update()
    assert CALLS[-1] == (2, "flip", 1.0)
    assert plt.get_fignums() == []


def test_widget_displays_as_its_ipywidgets_box():
    widget = ComparisonWidget(render, ["zero"], AUGMENTATIONS)
    bundle = widget._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.box.model_id
    assert widget.output in widget.box.children


def test_widget_render_errors_propagate_and_are_shown():
    widget = ComparisonWidget(failing_render, ["zero", "one"], AUGMENTATIONS)
    with pytest.raises(RuntimeError, match="image 1"):
        widget.image.value = 1
    (output,) = widget.output.outputs
    assert output["output_type"] == "stream" and "render failed on image 1" in output["text"]
    with pytest.raises(RuntimeError, match="image 1"):
        widget.update()
    widget.image.value = 0  # recovers: the figure is back
    assert "image/png" in widget.output.outputs[0]["data"]


def test_widget_needs_strengths():
    with pytest.raises(ValueError, match="at least one strength"):
        ComparisonWidget(render, ["zero"], {"flip": []})


def test_token_panels_compare_with_the_tokens_of_the_augmented_image():
    torch.manual_seed(0)
    tokenizer = VQTokenizer(TokenizerConfig(resolution=16, channels=(8, 8), codebook_size=16, code_dim=4)).eval()
    x = torch.rand(3, 16, 16)
    flipped = x.flip(-1)
    truth = tokenizer.tokenize(flipped[None])[0]
    naive = tokenizer.tokenize(x[None])[0].flip(-1)

    panels = token_panels(tokenizer, x, flipped, {"exact": truth, "naive": naive})
    assert [p.title for p in panels] == ["x", "A(x)", "T(A(x)) decoded", "exact decoded", "naive decoded"]
    assert panels[3].caption.startswith("ids agree 100%")
    agree = float((naive == truth).float().mean())
    assert panels[4].caption.startswith(f"ids agree {agree:.0%}")
    assert panels[2].caption.split("\n")[-1] == panels[3].caption.split("\n")[-1]  # same ids, same PSNR
    assert all(p.image.shape == (3, 16, 16) for p in panels)

    no_pixels = token_panels(tokenizer, x, None, {"same": tokenizer.tokenize(x[None])[0]})
    assert [p.title for p in no_pixels] == ["x", "T(x) decoded", "same decoded"]
    assert no_pixels[2].caption.startswith("ids agree 100%")


def test_token_panels_show_the_floor_beside_every_agreement():
    torch.manual_seed(0)
    tokenizer = VQTokenizer(TokenizerConfig(resolution=16, channels=(8, 8), codebook_size=16, code_dim=4)).eval()
    x = torch.rand(3, 16, 16)
    panels = token_panels(tokenizer, x, x.flip(-1), {"naive": tokenizer.tokenize(x[None])[0].flip(-1)}, floor=0.9)
    assert "(floor 90%)" in panels[-1].caption and "floor" not in panels[2].caption


def test_agreement_panels_put_the_floor_first_in_a_panel_per_family():
    results = {"flip": [(1, 0.5)], "rotation": [(5, 0.7), (10, 0.6), (20, 0.4)], "hue": [(0.05, 0.45), (0.1, 0.3)]}
    fig = agreement_panels(results, floor=0.9, strength_units={"rotation": "degrees"}, ncols=2)
    axes = fig.axes
    assert len(axes) == 4 and not axes[3].axison  # 3 families on a 2 x 2 grid: the last one empty
    for ax, (family, runs) in zip(axes, results.items()):
        assert ax.get_title() == family
        assert [t.get_text() for t in ax.get_xticklabels()] == ["floor"] + [f"{s:g}" for s, _ in runs]
        heights = [b.get_height() for b in ax.patches]
        assert heights == [0.9] + [v for _, v in runs]
        assert ax.patches[0].get_hatch() and not ax.patches[1].get_hatch()
        assert ax.get_xlim() == axes[1].get_xlim()  # equal room in every panel: bars equally wide
    assert [ax.get_xlabel() for ax in axes[:3]] == ["strength", "degrees", "strength"]  # each family its own units
    assert axes[0].get_ylabel() == "ids equal to T(A(x))"


def test_disagreement_figure_maps_the_cells_and_reads_the_agreement_off_them():
    image = torch.rand(3, 16, 16)
    one = torch.zeros(4, 4)
    one[0, :2] = 1  # 2 of 16 cells differ
    shares = {"a vs b": torch.full((4, 4), 0.25), "noise": torch.zeros(4, 4)}
    fig = disagreement_figure(image, "x", {"a vs b": one, "noise": torch.zeros(4, 4)}, shares,
                              {"flip": 0.75}, floor=0.95, num_images=10)
    top = fig.axes[:3]
    assert [ax.get_title() for ax in top] == ["x", "a vs b", "noise"]
    assert top[1].get_xlabel() == "this image: ids agree 88%" and top[2].get_xlabel() == "this image: ids agree 100%"
    red = top[1].images[1].get_array()
    assert red.shape == (4, 4, 4) and (red[..., 3] > 0).sum() == 2
    bars = fig.axes[3]
    assert bars.get_title() == "over 10 images" and [b.get_height() for b in bars.patches] == [0.95, 0.75]
    assert fig.axes[4].get_xlabel().endswith("ids agree 75%")
    with pytest.raises(ValueError, match="one share map per map"):
        disagreement_figure(image, "x", {"a": one}, {"a": one, "b": one}, {}, floor=1.0)


def test_flip_zoom_figure_outlines_the_token_and_enlarges_its_patch():
    from seitpp.augment import flip_zoom

    torch.manual_seed(0)
    tokenizer = VQTokenizer(TokenizerConfig(resolution=16, channels=(8, 8, 8), codebook_size=16, code_dim=4)).eval()
    zoom = flip_zoom(tokenizer, torch.rand(3, 16, 16), position=(2, 0))
    fig = flip_zoom_figure(zoom)
    axes = np.array(fig.axes).reshape(2, 5)
    assert axes[0, 0].get_title() == "x" and "the truth" in axes[0, 3].get_title() and "naive" in axes[0, 4].get_title()
    (box,) = axes[0, 0].patches
    assert box.get_xy() == (-0.5, 7.5)  # token (2, 0) of a 4 x 4 grid: pixels 8..11 down, 0..3 across
    assert axes[0, 4].patches[0].get_xy() == (11.5, 7.5)  # its mirrored place, (2, 3)
    assert all(ax.images[0].get_array().shape == (4, 4, 3) for ax in axes[1])
    assert axes[1, 4].get_xlabel().startswith(f"id {zoom.source_id}, moved")
    assert axes[1, 3].get_xlabel().startswith(f"id {zoom.truth_id}")


# ----------------------------------------------------------------------------------------------
# Chapter 5's figures (seitpp.viz.mtm), on a tiny tokenizer and a tiny untrained masked token model


def _mtm_figures() -> dict:
    """name -> a figure built by that public function of seitpp.viz.mtm, from tiny inputs."""
    from seitpp.models import create_model, truncated_normal

    torch.manual_seed(0)
    tokenizer = VQTokenizer(TokenizerConfig(resolution=32, channels=(8, 8, 8), codebook_size=16, code_dim=4)).eval()
    ids = tokenizer.tokenize(torch.rand(6, 3, 32, 32))  # (6, 8, 8)
    crops = ids[:, 1:7, 1:7]  # what centre_crop(ids, 6) gives: 3 x 3 patches
    model = create_model("mtm_micro", codebook_size=16, grid_size=6, embed_dim=16, depth=1, num_heads=2,
                         decoder_dim=16, decoder_depth=1, decoder_heads=2)
    mask, drop = model.random_masking(1, ratio=0.6, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    c = model.config
    draws = np.array([truncated_normal(c.mask_ratio_mean, c.mask_ratio_std, c.mask_ratio_min, c.mask_ratio_max, g)
                      for _ in range(200)])
    scores = {"loss": 2.0, "loss_uniform": 2.8, "loss_frequencies": 2.5, "top1": 0.2, "top5": 0.5,
              "top1_most_frequent": 0.1, "top1_most_frequent_visible": 0.15, "masked_tokens": 100}
    return {
        "paper_gain_figure": mtm_viz.paper_gain_figure({"SeiT -> SeiT + MTM": [1.1, 4.3, 6.7]}, [1.4, 0.8, 0.3]),
        "masking_figure": mtm_viz.masking_figure(tokenizer, np.zeros((32, 32, 3), np.uint8), "test image 0",
                                                 ids[0], 6, mask[0].view(3, 3), drop[0].view(3, 3), 0.6),
        "ratio_histogram": mtm_viz.ratio_histogram(draws, c),
        "prediction_figure": mtm_viz.prediction_figure(model, tokenizer, crops, "untrained"),
        "loss_figure": mtm_viz.loss_figure([{"step": 1, "loss": 2.9}, {"step": 2, "loss": 2.6}], 1, "mtm_micro", 16,
                                           2.5),
        "scores_figure": mtm_viz.scores_figure({r: {"untrained": scores} for r in (0.4, 0.6)}, "tiny"),
        "neighbours_figure": mtm_viz.neighbours_figure([0, 1, 2], [0.3, 0.3, 0.4], [0.1, 0.2, 0.3], "r = 0.6"),
    }


def test_every_mtm_figure_is_a_figure_with_labelled_axes():
    figures = _mtm_figures()
    public = {name for name, f in vars(mtm_viz).items()
              if callable(f) and not name.startswith("_") and getattr(f, "__module__", "") == mtm_viz.__name__}
    assert set(figures) == public  # a new figure function gets a line in _mtm_figures
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        for ax in fig.axes:
            if ax.get_xticks().size and ax.get_yticks().size:  # a chart (image panels have no ticks)
                assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: an axis without its label ({ax.get_title()!r})"
    grid = np.array(figures["prediction_figure"].axes).reshape(4, 3)  # (2 ratios x 2 images) x 3 columns
    assert [ax.get_title() for ax in grid[0]] == ["crop, decoded", "input (masked: grey)", "prediction, decoded"]
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["image 1\nr = 0.5", "image 5\nr = 0.5",
                                                      "image 1\nr = 0.75", "image 5\nr = 0.75"]
    assert all(ax.get_xlabel().endswith("masked tokens right") for ax in grid[:, 2])
    masked = figures["masking_figure"].axes[3]
    count = re.fullmatch(r"\(d\) one mask at r = 0.6: (\d+) of 9 patches masked", masked.get_title())
    assert count and len(masked.patches) == int(count[1])  # one shaded square per masked patch


# ----------------------------------------------------------------------------------------------
# Chapters 1, 3, 4, 8, 9 and 90's figures (seitpp.viz.tokenization, tokenadapt, coloradapt, cuda), on tiny rows


def _chapter_figures() -> dict:
    """module -> name -> a figure built by that public function of the module, from tiny inputs."""
    from seitpp.tokenizers import TokenizerReport
    from seitpp.viz import coloradapt, cuda, tokenadapt, tokenization

    report = TokenizerReport(psnr=20.0, codes_used=4, codebook_size=4, perplexity=3.2,
                             counts=torch.tensor([5, 3, 2, 1]))
    shrink = [{"method": m, "K": k, "bits/token": float(np.log2(k)), "PSNR dB": 20.0 + k / 8 - i}
              for i, m in enumerate(("most_used", "kmeans")) for k in (16, 8, 4)]
    route = [{"tokenadapt": 0.5, "naive": 0.4, "pixels": 0.6}, {"tokenadapt": 0.4, "naive": 0.3, "pixels": 0.5}]
    evals = [{"step": "10", "eval_tokenadapt": "0.5", "eval_naive": "0.4", "eval_pixels": "0.6"},
             {"step": "20", "eval_tokenadapt": "0.55", "eval_naive": "0.4", "eval_pixels": "0.6"}]
    colour = {"brightness 0.6": {"nothing": {"colour distance": 9.0, "PSNR": 20.0},
                                 "ColorAdapt": {"colour distance": 2.0, "PSNR": 25.0}},
              "AdaIN": {"nothing": {"colour distance": 12.0, "PSNR": 18.0},
                        "ColorAdapt": {"colour distance": 3.0, "PSNR": 24.0},
                        "from T(y)": {"colour distance": 4.0, "PSNR": 23.0}}}
    log = [{"step": s, "loss": 3.0 - s / 10} for s in (1, 2, 3, 4)]
    step_row = {"images_per_s": 1e4, "device": "H200", "num_images": 1_000, "date": "2025-01-01"}
    loaders = [{"policy": "none", "memory": "gpu", "images_per_s": 1e5},
               {"policy": "seit", "memory": "host", "images_per_s": 6e4}]
    return {
        tokenization: {
            "tokenizer_training_figure": tokenization.tokenizer_training_figure(
                [{"step": s, "rec_loss": 1 / s, "codes_in_batch": 10 + s} for s in (1, 2, 3)], 16),
            "code_use_figure": tokenization.code_use_figure({"K = 4": report}),
            "codebook_size_figure": tokenization.codebook_size_figure(shrink),
            "storage_bars": tokenization.storage_bars(["PNG", "tokens (store)"], [900.0, 60.0], "bytes per image",
                                                      highlight="token"),
            "classifier_figure": tokenization.classifier_figure(
                {"loss": [2.5, 2.4, 2.2, 2.0], "eval_step": [2, 4], "val_top1": [0.1, 0.3]}, 1 / 12, 2, 8),
        },
        tokenadapt: {
            "live_run_figure": tokenadapt.live_run_figure(np.arange(1, 4), np.array([0.3, 0.4, 0.5]),
                                                          np.array([0.3, 0.35, 0.4]), np.array([0.0, 5.0, 10.0])),
            "reference_log_figure": tokenadapt.reference_log_figure(np.linspace(3, 2, 30),
                                                                    [{"step": 1, "loss": 3.0}], evals, window=5),
            "strength_figure": tokenadapt.strength_figure({"zoom": [1.0, 0.5], "rotation (degrees)": [0, 10]},
                                                          {"zoom": route, "rotation (degrees)": route}),
        },
        coloradapt: {
            "vs_pixels_figure": coloradapt.vs_pixels_figure(colour, ["nothing", "ColorAdapt", "from T(y)"]),
            "embnoise_curves": coloradapt.embnoise_curves([0.1, 0.5], {"both": [0.0, 0.3], "offset": [0.0, 0.1]},
                                                          [1.0, 6.0]),
        },
        cuda: {
            "launched_runs_figure": cuda.launched_runs_figure({"mtm": log, "finetune": log}, "cpu-tiny",
                                                              {"finetune": 2}),
            "loader_figure": cuda.loader_figure(loaders, step_row),
            "gpu_curves_figure": cuda.gpu_curves_figure({"SeiT++": {0: log, 1: log}, "SeiT + MTM": {1: log}}, log, 16),
            "chapter_times_figure": cuda.chapter_times_figure(["01_tokenization", "02_why"],
                                                              {"fast": [10.0, np.nan], "full": [100.0, 200.0]}),
        },
    }


def test_every_chapter_figure_is_a_figure_with_labelled_axes():
    for module, figures in _chapter_figures().items():
        public = {name for name, f in vars(module).items()
                  if callable(f) and not name.startswith("_") and getattr(f, "__module__", "") == module.__name__}
        assert set(figures) == public, module.__name__  # a new figure function gets a line in _chapter_figures
        for name, fig in figures.items():
            assert isinstance(fig, Figure), name
            for ax in fig.axes:
                categories = isinstance(ax.yaxis.get_units(), UnitData)  # bars named on the axis
                assert ax.get_xlabel() and (ax.get_ylabel() or categories), f"{name}: an axis without its label"


def test_chapter_figures_draw_what_they_are_given():
    figures = {name: fig for by_name in _chapter_figures().values() for name, fig in by_name.items()}
    (ax,) = figures["codebook_size_figure"].axes
    assert [t.get_text() for t in ax.texts] == ["K=16", "K=8", "K=4"]  # the first method's points, annotated
    (ax,) = figures["storage_bars"].axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["PNG", "tokens (store)"] and ax.yaxis_inverted()
    assert [to_hex(b.get_facecolor()) for b in ax.patches] == ["#1f77b4", "#ff7f0e"]
    left, right = figures["reference_log_figure"].axes
    assert [line.get_label() for line in right.lines] == ["TokenAdapt", "naive warp", "via pixels"]
    assert list(right.lines[0].get_ydata()) == [0.5, 0.55]  # read from the csv's text
    assert [ax.get_xlabel() for ax in figures["strength_figure"].axes] == ["zoom", "rotation (degrees)"]
    bars = figures["vs_pixels_figure"].axes[0].patches
    assert len(bars) == 3 * 2 and np.isnan(bars[4].get_height())  # no "from T(y)" for the first change: a gap
    mtm, finetune = figures["launched_runs_figure"].axes
    assert mtm.get_legend() is None and finetune.lines[-1].get_xdata()[0] == 2
    finetune, pretrain = figures["gpu_curves_figure"].axes
    assert [t.get_text() for t in finetune.get_legend().get_texts()] == ["SeiT++"]  # seed 0 names its method
    assert len(finetune.lines) == 3
    (ax,) = figures["chapter_times_figure"].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["01", "02"]
    assert [round(b.get_x() + b.get_width() / 2, 6) for b in ax.patches] == [-0.2, 0.8, 0.2, 1.2]
