"""Ceilings of the synthetic long-range sets: the best mIoU a model can reach from the information it has.

A predictor whose logit at an object pixel cannot see the evidence that decides the object's class can still
label background perfectly, but on object pixels its decision is independent of the class given what it *does*
know. Over a set of masks with per-class object pixel counts, the best such predictor picks, for each thing it
can tell apart (an image *type*), the fractions of object pixels it gives each class — and the mIoU of the
resulting confusion (dataset-level IoU, as ``annkit.engine.evaluate`` accumulates it) is maximised over those
fractions. Two cases (``annkit.data.synthetic``):

- **local only** (``local_ceiling``): the predictor sees no cue, so it knows nothing about the class — one type.
  Closed form (Lagrange, concave objective): q_j ∝ n_j / (S − n_j).
- **local + one global average** (``global_ceiling``): one global average of the image's features reveals which
  cue colours are present (their mean colour), not where they are; on the sides layout every ordered pair of
  colours is equally likely and objects are placed independently of the colours, so an object's class is one
  of the image's two cue classes with no way to tell which. Types are the sets of cue classes; the optimum
  over per-type fractions is found numerically (multi-start L-BFGS on logits; checked against a brute-force
  grid in tests/test_data_synthetic.py). On the band layout the set is the class itself, so the ceiling is 1.

What this assumes: a global average carries the *set* of colours. A network could in principle learn features
that fire on a colour *together with* what surrounds it (the stripes of its half) and average those; then S = 1
knows more and could pass this ceiling. The ablation (``annkit ablation``) measures whether it does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def local_ceiling(masks: list[np.ndarray], num_classes: int) -> float:
    """Best expected mIoU (over K+1 classes) of any predictor blind to the object class, on these masks.

    Such a predictor may label background perfectly, but on object pixels its decision cannot depend on the
    class, so over the set it predicts class j on a fraction q_j of the object pixels of *every* class.
    With n_j object pixels of class j and S = Σ n_j: IoU_j = n_j q_j / (n_j + (S − n_j) q_j), concave in
    q_j; maximising Σ IoU_j subject to Σ q_j = 1 (Lagrange) gives q_j ∝ n_j / (S − n_j). Predicting
    background on object pixels only lowers both IoUs, so q_0 = 0. For balanced classes this is
    (1 + K / (2K − 1)) / (K + 1): 0.314 for K = 4.
    """
    counts = np.bincount(np.concatenate([m.ravel() for m in masks]), minlength=num_classes + 1)
    n = counts[1 : num_classes + 1].astype(np.float64)  # object pixels per class
    present = n > 0
    total = n.sum()
    if num_classes == 1 or present.sum() <= 1:
        return 1.0
    n = n[present]
    q = (n / (total - n)) / (n / (total - n)).sum()
    iou = n * q / (n + (total - n) * q)
    return float((1.0 + iou.sum()) / (1 + present.sum()))


def type_counts(masks: list[np.ndarray], cue_sets: Sequence[Sequence[int]], num_classes: int) -> dict:
    """Object pixels per (type, class): {sorted tuple of cue classes: (K,) counts of classes 1..K}."""
    counts: dict[tuple[int, ...], np.ndarray] = {}
    for mask, cues in zip(masks, cue_sets, strict=True):
        kind = tuple(sorted(set(int(c) for c in cues)))
        per_class = np.bincount(mask.ravel(), minlength=num_classes + 1)[1 : num_classes + 1].astype(np.float64)
        counts[kind] = counts.get(kind, 0) + per_class
    return counts


def miou_of_fractions(counts: dict, fractions: dict, num_classes: int) -> float:
    """mIoU (background perfect, over background + the classes with object pixels) when a predictor gives
    class c to a fraction ``fractions[type][c]`` of every object pixel of that type, whatever its class."""
    n = sum(counts.values())  # (K,) object pixels per class
    tp, fp = np.zeros(num_classes), np.zeros(num_classes)
    for kind, m in counts.items():
        p = np.asarray(fractions[kind], dtype=np.float64)  # (K,)
        tp += p * m
        fp += p * (m.sum() - m)
    present = n > 0
    return float((1.0 + (tp[present] / (n[present] + fp[present])).sum()) / (1 + present.sum()))


def global_ceiling(
    masks: list[np.ndarray], cue_sets: Sequence[Sequence[int]], num_classes: int, starts: int = 4, seed: int = 0
) -> float:
    """Best mIoU of any predictor that knows, besides its local view, which cue classes an image holds (the set
    ``cue_sets[i]`` of image i) but not which cue is where: the maximum of ``miou_of_fractions`` over per-type
    fractions supported on the type's classes that have object pixels (multi-start L-BFGS on logits)."""
    counts = type_counts(masks, cue_sets, num_classes)
    n = sum(counts.values())
    kinds = list(counts)
    allowed = torch.full((len(kinds), num_classes), float("-inf"), dtype=torch.float64)
    for row, kind in enumerate(kinds):
        usable = [c - 1 for c in kind if n[c - 1] > 0] or [kind[0] - 1]
        allowed[row, usable] = 0.0
    m = torch.tensor(np.stack([counts[k] for k in kinds]))  # (T, K)
    n_t, present = torch.tensor(n), torch.tensor(n > 0)

    def miou(logits: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits + allowed, dim=1)  # (T, K), rows on each type's classes
        tp, fp = (p * m).sum(0), (p * (m.sum(1, keepdim=True) - m)).sum(0)  # (K,)
        return (1.0 + (tp[present] / (n_t[present] + fp[present])).sum()) / (1 + present.sum())

    generator = torch.Generator().manual_seed(seed)
    best = 0.0
    for start in range(starts):  # start 0: uniform over each type's classes; then random starts
        logits = (
            torch.randn(allowed.shape, generator=generator, dtype=torch.float64) * 2 * (start > 0)
        ).requires_grad_()
        optimizer = torch.optim.LBFGS([logits], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

        def closure(logits: torch.Tensor = logits, optimizer: torch.optim.Optimizer = optimizer) -> torch.Tensor:
            optimizer.zero_grad()
            loss = -miou(logits)
            loss.backward()
            return loss

        optimizer.step(closure)
        best = max(best, float(miou(logits.detach())))
    return best
