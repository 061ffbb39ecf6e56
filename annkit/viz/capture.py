"""Capture: run a model once and keep, per attention block, where every pixel looks.

Builds on ``annkit.nn.record_attention``: for each block (AFNB, APNB, non-local) the (N, S) attention of one
image, the feature size, and every anchor's rectangle in feature *and* image coordinates — enough to answer
"where does this pixel look?" without running the model again. Tensors stay on the model's device; the plotting
functions move only what they draw to the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from annkit.nn import AnchorGeometry, record_attention
from annkit.viz.classes import default_class_names


@dataclass
class BlockAttention:
    """One block's attention for one image.

    ``weights`` (N, S): row n = query pixel (y·w + x) of the (h, w) query map, column s = anchor s.
    ``boxes`` (S, 4) int: anchor rectangles (y0, x0, y1, x1) on the key map; ``image_boxes`` (S, 4) float: the
    same rectangles in input-image pixels. ``levels`` (S,) and ``grids`` describe the pyramid.
    """

    name: str
    weights: Tensor  # (N, S)
    query_size: tuple[int, int]
    key_size: tuple[int, int]
    geometry: AnchorGeometry
    image_size: tuple[int, int]
    kind: str = "attention"  # the block's type: "AFNB", "APNB" or "NonLocal2d"

    @property
    def boxes(self) -> Tensor:
        return self.geometry.boxes  # (S, 4)

    @property
    def levels(self) -> Tensor:
        return self.geometry.level  # (S,)

    @property
    def image_boxes(self) -> Tensor:
        """Anchor rectangles in image pixels: feature rectangles scaled by image size / key-map size."""
        sy = self.image_size[0] / self.key_size[0]
        sx = self.image_size[1] / self.key_size[1]
        return self.boxes.double() * torch.tensor([sy, sx, sy, sx], dtype=torch.float64)  # (S, 4)

    def query_index(self, x: float, y: float) -> int:
        """Row of ``weights`` for image pixel (x, y): the query-map cell that covers it."""
        h, w = self.query_size
        fy = min(max(int(y * h / self.image_size[0]), 0), h - 1)
        fx = min(max(int(x * w / self.image_size[1]), 0), w - 1)
        return fy * w + fx

    def row(self, x: float, y: float) -> Tensor:
        """The (S,) attention of image pixel (x, y), on the CPU."""
        return self.weights[self.query_index(x, y)].detach().float().cpu()


@dataclass
class Capture:
    """A model's prediction for one image and the attention of each of its blocks.

    ``class_names`` name the prediction's class ids (``annkit.viz.classes``: VOC's 21 classes, the synthetic
    set's colours, or numbered classes); their colours come from ``class_palette(class_names)``.
    """

    image: Tensor  # (3, H, W) RGB in [0, 1], CPU
    prediction: Tensor  # (H, W) int64 class ids, CPU
    blocks: dict[str, BlockAttention]
    class_names: tuple[str, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.image.shape[-2:])


def capture_attention(
    model: nn.Module,
    image: Tensor,
    *,
    device: str | torch.device | None = None,
    class_names: Sequence[str] | None = None,
) -> Capture:
    """Run ``model`` (a Segmentor) on one RGB image, (3, H, W) uint8 as ``annkit.data.read_image`` gives it or
    floats in [0, 1], recording every attention block.

    The image is normalised with the model's own ``normalize``; the model runs in eval mode, without gradients.
    ``class_names`` (one per output class) default to ``default_class_names`` of the model's class count.
    """
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"capture_attention expects one RGB image of shape (3, H, W), got {tuple(image.shape)}")
    if image.dtype == torch.uint8:
        image = image.float() / 255
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.eval().to(device)
    batch = image[None].to(device)  # (1, 3, H, W)
    if hasattr(model, "normalize"):
        batch = model.normalize(batch)
    with torch.no_grad(), record_attention(model) as record:
        logits = model(batch)  # (1, K, H, W)
    size = tuple(image.shape[-2:])
    modules = dict(model.named_modules())
    blocks = {
        name: BlockAttention(
            name or type(model).__name__,
            calls[-1].weights[0],
            calls[-1].query_size,
            calls[-1].key_size,
            calls[-1].geometry,
            size,
            type(modules[name]).__name__,
        )
        for name, calls in record.items()
        if calls
    }
    num_classes = logits.shape[1]
    names = tuple(class_names) if class_names is not None else default_class_names(num_classes)
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names, the model predicts {num_classes} classes")
    return Capture(image.detach().float().cpu(), logits[0].argmax(0).cpu(), blocks, names)
