"""mmseg's geometric rules, against sizes and pixels computed by hand from mmcv/mmseg's definitions."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from annkit.data import CatMaxRatioCrop, KeepRatioResize, PadTo, RandomKeepRatioResize, rescale_size, train_transforms
from annkit.data.geometric import resize_sample


def sample(height: int, width: int, mask: torch.Tensor | None = None) -> dict:
    image = torch.arange(3 * height * width, dtype=torch.int64).remainder(256).to(torch.uint8).view(3, height, width)
    mask = mask if mask is not None else torch.zeros(height, width, dtype=torch.uint8)
    return dict(image=tv_tensors.Image(image), mask=tv_tensors.Mask(mask), name="x")


@pytest.mark.parametrize(
    "size, scale, expected",
    [
        ((500, 375), (2048, 512), (683, 512)),  # portrait: short edge 375 → 512, factor 1.3653, 500 → 682.67 → 683
        ((375, 500), (2048, 512), (512, 683)),  # landscape
        ((512, 512), (2048, 512), (512, 512)),  # square: the short bound 512 binds
        ((333, 501), (2048, 512), (512, 770)),  # odd: 512/333 = 1.5375; 501 · 1.5375 = 770.3 → 770
        ((1024, 2048), (2048, 1024), (1024, 2048)),  # Cityscapes at its own scale: unchanged
        (
            (1024, 2048),
            (2049, 1025),
            (1025, 2049),
        ),  # the 769×769 configs' scale: 2048 · 2049/2048 = 2049, 1024.5 → 1025
        ((100, 3000), (2048, 512), (68, 2048)),  # very wide: the long bound binds; 100 · 2048/3000 = 68.27 → 68
        ((375, 500), (1024, 256), (256, 341)),  # ratio 0.5 of (2048, 512): 500 · 256/375 = 341.33 → 341
    ],
)
def test_rescale_size_matches_mmcv(size, scale, expected) -> None:
    assert rescale_size(*size, scale) == expected


def test_keep_ratio_resize_pixels() -> None:
    # 1×2 image row [0, 100] → scale bound (4, 2): factor min(4/2, 2/1) = 2 → 2×4. Bilinear with half-pixel
    # centres samples x = (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1 → 0, 25, 75, 100.
    image = torch.tensor([0, 100], dtype=torch.uint8).view(1, 1, 2).expand(3, 1, 2).contiguous()
    mask = torch.tensor([[3, 7]], dtype=torch.uint8)
    out = KeepRatioResize((4, 2))(dict(image=tv_tensors.Image(image), mask=tv_tensors.Mask(mask)))
    assert out["image"].shape == (3, 2, 4) and isinstance(out["image"], tv_tensors.Image)
    assert out["image"][0].tolist() == [[0, 25, 75, 100]] * 2
    assert out["mask"].tolist() == [[3, 3, 7, 7]] * 2 and isinstance(out["mask"], tv_tensors.Mask)


def test_nearest_mask_uses_floor_of_dst_times_ratio() -> None:
    # 1×3 mask [1, 2, 3] → width 5: source floor(x · 3/5) = 0, 0, 1, 1, 2 (OpenCV INTER_NEAREST)
    out = resize_sample(sample(1, 3, torch.tensor([[1, 2, 3]], dtype=torch.uint8)), (1, 5))
    assert out["mask"].tolist() == [[1, 1, 2, 2, 3]]
    # odd downscale 7 → 3: floor(x · 7/3) = 0, 2, 4
    out = resize_sample(sample(1, 7, torch.arange(7, dtype=torch.uint8).view(1, 7)), (1, 3))
    assert out["mask"].tolist() == [[0, 2, 4]]


def test_random_resize_draws_the_ratio_then_fits(monkeypatch) -> None:
    torch.manual_seed(0)
    ratio = float(torch.rand((), dtype=torch.float64)) * 1.5 + 0.5
    torch.manual_seed(0)
    out = RandomKeepRatioResize((2048, 512), (0.5, 2.0))(sample(50, 37))
    bound = (int(2048 * ratio), int(512 * ratio))
    assert out["image"].shape[-2:] == rescale_size(50, 37, bound)
    sizes = set()
    for seed in range(20):
        torch.manual_seed(seed)
        sizes.add(tuple(RandomKeepRatioResize((20, 10), (0.5, 2.0))(sample(10, 5))["mask"].shape))
    assert all(5 <= w <= 20 and h == 2 * w for h, w in sizes) and len(sizes) > 3  # portrait kept as portrait


def test_crop_smaller_image_keeps_size_and_pad_goes_bottom_right() -> None:
    cropped = CatMaxRatioCrop((8, 8), cat_max_ratio=1.0)(sample(5, 6))
    assert cropped["image"].shape == (3, 5, 6)  # nothing to crop; offsets are 0
    padded = PadTo((8, 8))(dict(cropped, image=tv_tensors.Image(cropped["image"].float() + 1)))
    assert padded["image"].shape == (3, 8, 8) and padded["mask"].shape == (8, 8)
    assert (padded["image"][:, 5:, :] == 0).all() and (padded["image"][:, :, 6:] == 0).all()
    assert (padded["image"][:, :5, :6] > 0).all()
    assert (
        (padded["mask"][5:] == 255).all()
        and (padded["mask"][:, 6:] == 255).all()
        and (padded["mask"][:5, :6] == 0).all()
    )


def test_cat_max_ratio_redraws_until_balanced() -> None:
    # left 90 columns all class 1, right 10 columns class 2: a 10-wide window is balanced (< 0.75) only if it
    # straddles column 90 with 3..7 columns of class 2 → it must end up there nearly always within 10 redraws.
    mask = torch.ones(4, 100, dtype=torch.uint8)
    mask[:, 90:] = 2
    crop = CatMaxRatioCrop((4, 10), cat_max_ratio=0.75)
    balanced = 0
    for seed in range(40):
        torch.manual_seed(seed)
        window = crop(sample(4, 100, mask))["mask"]
        share = (window == 2).float().mean()
        balanced += bool(0.25 < share < 0.75)
    assert balanced >= 5  # ~5/91 per draw, 10 draws: P(balanced) ≈ 0.43; without redraws ≈ 0.05 (2 of 40)
    torch.manual_seed(0)
    plain = [CatMaxRatioCrop((4, 10), cat_max_ratio=1.0)(sample(4, 100, mask))["mask"] for _ in range(40)]
    assert sum(bool(0.25 < (w == 2).float().mean() < 0.75) for w in plain) < balanced


def test_cat_max_ratio_ignores_255_and_gives_up_after_ten_checks() -> None:
    mask = torch.full((6, 6), 255, dtype=torch.uint8)
    mask[0, 0] = 4  # one label only: never balanced → 11 windows drawn, the last taken
    crop = CatMaxRatioCrop((3, 3), cat_max_ratio=0.75)
    torch.manual_seed(3)
    out = crop(sample(6, 6, mask))
    torch.manual_seed(3)
    offsets = [(int(torch.randint(0, 4, ())), int(torch.randint(0, 4, ()))) for _ in range(11)]
    top, left = offsets[-1]
    assert torch.equal(out["mask"], mask[top : top + 3, left : left + 3])


def test_train_transforms_portrait_follows_mmseg() -> None:
    # no crop: the output size is the keep-ratio rescale; portrait 50×37 at scale (40, 10) with ratio in [1, 1]
    out = train_transforms(
        crop_size=None, scale_range=(1.0, 1.0), scale_target=(40, 10), flip=False, photometric=False
    )(sample(50, 37))
    assert out["image"].shape == (3, 14, 10)  # factor min(40/50, 10/37) = 0.2703 → 13.5 → 14, 10
