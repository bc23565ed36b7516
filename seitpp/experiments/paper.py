"""The paper's numbers (SeiT++, ECCV 2024; ImageNet-1k with ViT-B/16, the ablation ViT-S on
ImageNet-100), top-1 in %, in one place: the chapters print them beside ours and the findings
compare differences with them."""
from __future__ import annotations

# the paper's budgets in GB of tokens; the sweeps keep the same fractions of their images
PAPER_BUDGET_GB = (1.4, 0.8, 0.3)
BUDGETS = tuple(gb / PAPER_BUDGET_GB[0] for gb in PAPER_BUDGET_GB)  # (1, 0.8 / 1.4, 0.3 / 1.4)
PAPER_BUDGETS = {
    "SeiT": (74.0, 66.3, 47.2),
    "SeiT + MTM": (75.1, 70.6, 53.9),
    "SeiT++ without MTM": (75.5, 69.1, 51.2),
    "SeiT++": (77.8, 74.1, 60.6),
}
PAPER_ABLATION = {"baseline": 77.3, "+ ColorAdapt": 78.3, "+ TokenAdapt": 80.4, "+ both": 81.4}
PAPER_ROBUSTNESS = {  # ViT-B without MTM; "sketch" is ImageNet-Sketch
    "SeiT": {"clean": 74.0, "noise": 50.7, "blur": 62.6, "sketch": 22.6},
    "SeiT++ without MTM": {"clean": 75.5, "noise": 58.6, "blur": 66.8, "sketch": 27.7},
}
PAPER_PIXELS = {"full pixels": (140.0, 81.8), "JPEG quality 5": (11.0, 74.6), "downsampled x0.2": (9.6, 75.2),
                "SeiT tokens": (1.4, 74.0), "SeiT++ tokens": (1.4, 77.8)}  # (GB, top-1)


def paper_budget(method: str, budget: float) -> float | None:
    """The paper's top-1 of `method` at the budget that is `budget` of the full one (BUDGETS), or None."""
    i = next((i for i, b in enumerate(BUDGETS) if abs(b - budget) < 1e-3), None)
    return PAPER_BUDGETS[method][i] if method in PAPER_BUDGETS and i is not None else None


def paper_drop(method: str, shift: str) -> float | None:
    """Points the paper's `method` loses from clean accuracy under `shift`, or None."""
    top1 = PAPER_ROBUSTNESS.get(method, {})
    return round(top1["clean"] - top1[shift], 1) if shift in top1 else None
