"""benchmarks/own_data.py's photo folder: one class per photo, train and val crops from disjoint regions."""
from pathlib import Path

from PIL import Image

from benchmarks.own_data import GREY_PHOTOS, PHOTOS, TRAIN_SHARE, load_photo, make_photo_folder

PHOTOS_4 = PHOTOS[:4]


def test_photo_folder_has_one_class_per_photo_and_disjoint_train_and_val_regions(tmp_path):
    crops = make_photo_folder(tmp_path, PHOTOS_4, train_per_class=6, val_per_class=3, seed=0)
    labels = [Path(p).stem for p in PHOTOS_4]
    for split, count in (("train", 6), ("val", 3)):
        assert sorted(d.name for d in (tmp_path / split).iterdir()) == sorted(labels)
        for label in labels:
            assert len(list((tmp_path / split / label).glob("*.jpg"))) == count
    assert len(crops) == 4 * (6 + 3)
    for name, label in zip(PHOTOS_4, labels):
        width, height = load_photo(name).size
        cut = round(TRAIN_SHARE * width)
        for crop in (c for c in crops if c.label == label):
            left, top, right, bottom = crop.box
            assert 0 <= top < bottom <= height and 0 <= left < right <= width
            if crop.split == "train":
                assert right <= cut  # every train pixel left of the cut ...
            else:
                assert left >= cut  # ... every val pixel right of it
            short = min(width, height)
            assert (right - left) * (bottom - top) <= (0.4 * short) ** 2 * 1.01
            with Image.open(crop.path) as image:
                assert image.format == "JPEG" and image.mode == "RGB"
                assert image.size == (right - left, bottom - top)


def test_photo_folder_is_deterministic_for_a_seed(tmp_path):
    first = make_photo_folder(tmp_path / "a", PHOTOS_4[:2], train_per_class=3, val_per_class=2, seed=1)
    again = make_photo_folder(tmp_path / "b", PHOTOS_4[:2], train_per_class=3, val_per_class=2, seed=1)
    other = make_photo_folder(tmp_path / "c", PHOTOS_4[:2], train_per_class=3, val_per_class=2, seed=2)
    assert [(c.box, c.flipped) for c in first] == [(c.box, c.flipped) for c in again]
    assert [c.box for c in first] != [c.box for c in other]
    for a, b in zip(first, again):
        assert a.path.read_bytes() == b.path.read_bytes()


def test_grey_task_cuts_top_from_bottom(tmp_path):
    crops = make_photo_folder(tmp_path, GREY_PHOTOS[:2], train_per_class=5, val_per_class=4, seed=0, axis="y")
    for name in GREY_PHOTOS[:2]:
        cut = round(TRAIN_SHARE * load_photo(name).size[1])
        for crop in (c for c in crops if c.label == Path(name).stem):
            _, top, _, bottom = crop.box
            assert (bottom <= cut) if crop.split == "train" else (top >= cut)


def test_pilot_folder_stays_inside_the_reported_training_region_cut_along_the_other_axis(tmp_path):
    for photos, axis in ((PHOTOS_4[:2], "x"), (GREY_PHOTOS[:2], "y")):
        crops = make_photo_folder(tmp_path / axis, photos, train_per_class=5, val_per_class=4, seed=0, pilot=True,
                                  axis=axis)
        for name in photos:
            width, height = load_photo(name).size
            along, across = (width, height) if axis == "x" else (height, width)
            for crop in (c for c in crops if c.label == Path(name).stem):
                left, top, right, bottom = crop.box
                (lo, hi), (side_lo, side_hi) = ((left, right), (top, bottom)) if axis == "x" else \
                    ((top, bottom), (left, right))
                assert hi <= round(TRAIN_SHARE * along)  # the reported validation region is never touched
                cut = round(TRAIN_SHARE * across)
                assert (side_hi <= cut) if crop.split == "train" else (side_lo >= cut)


def test_pilots_summary_reads_the_current_region_only_and_averages_seeds_and_tasks(tmp_path, monkeypatch):
    import benchmarks.own_data as own_data
    log = tmp_path / "pilots.csv"
    region = own_data.PILOT_REGION
    log.write_text("task,kind,sets,val_top1,pilot_val_region\n"
                   f"photos,token ViT,,0.90,{region}\ngrey,token ViT,,0.80,{region}\n"
                   f"photos,pixel CNN,,0.85,{region}\ngrey,pixel CNN,,0.85,{region}\n"
                   f"photos,token ViT,lr=5e-3,0.93,{region}\nphotos,token ViT,lr=5e-3,0.95,{region}\n"
                   f"grey,token ViT,lr=5e-3,0.83,{region}\n"
                   ",token ViT,epochs=30,0.99,40%-70%\n")
    monkeypatch.setattr(own_data, "PILOTS_CSV", log)
    text = own_data.pilots_summary(2.5)
    assert "3 model settings over 2 tasks" in text and "epochs=30" not in text  # the earlier region's run is not counted
    assert "| token ViT | lr=5e-3 | 2 | 94.0 | 83.0 | 88.5 |" in text  # two seeds of photos averaged, then the tasks
    assert "best token setting by its mean over the tasks (lr=5e-3) is +3.5 points" in text
    assert "spread of 2.5 points" in text and "more than that spread" in text
