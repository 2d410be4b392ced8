#!/usr/bin/env python3
"""Writes 12-megapixel test JPEGs that cost a decoder what a phone photo costs, for scripts/bench-http.sh.

    scripts/make-phone-photo.py OUT_DIR        (needs numpy, Pillow and scikit-image: pip install scikit-image)

- phone.jpg: 4032×3024 as displayed, like a 12 MP iPhone/Android photo: a natural scene (scikit-image's
  motorcycle_left.png, a real 741×500 photo) upscaled, with real texture at full resolution (the grass, gravel and
  brick photos tiled in as high-pass detail, the way a sharp lens records surfaces), mild sensor noise, quality 92,
  4:2:0 chroma, stored sideways (3024×4032) with EXIF orientation 6 as phones hold them in portrait. 3–6 MB.
- phone-landscape.jpg: the same scene stored as shown (orientation 1).
- phone-soft.jpg: the scene with half the texture and less noise (orientation 6), about 3 MB: a phone photo of a
  less detailed scene, or one from a phone that denoises harder.
- noisy.jpg: the worst case, 4032×3024 of strong per-pixel noise over the scene, quality 95 (about 9 MB): nearly
  every DCT coefficient is nonzero, so the entropy decoding is as slow as a photo can make it.

Deterministic (fixed seeds): the same files on every run with the same library versions. Prints each file's size.
"""
import os
import sys

import numpy as np
from PIL import Image, ImageFilter
from skimage import data

W, H = 4032, 3024


def scene() -> np.ndarray:
    base = Image.open(os.path.join(os.path.dirname(data.__file__), "motorcycle_left.png")).convert("RGB")
    scale = max(W / base.width, H / base.height)
    size = (round(base.width * scale), round(base.height * scale))
    big = base.resize(size, Image.LANCZOS)
    left, top = (size[0] - W) // 2, (size[1] - H) // 2
    return np.asarray(big.crop((left, top, left + W, top + H)), np.float32)


def texture(rng: np.random.Generator) -> np.ndarray:
    """Full-resolution surface detail: real texture photos, high-passed, tiled with random flips, mixed."""
    out = np.zeros((H, W), np.float32)
    for name, weight in (("grass", 0.5), ("gravel", 0.35), ("brick", 0.25)):
        gray = Image.open(os.path.join(os.path.dirname(data.__file__), name + ".png")).convert("L")
        tile = np.asarray(gray, np.float32)
        blur = np.asarray(gray.filter(ImageFilter.GaussianBlur(6)), np.float32)
        detail = tile - blur
        reps = (H // tile.shape[0] + 1, W // tile.shape[1] + 1)
        rows = []
        for _ in range(reps[0]):
            row = [detail[:, ::-1] if rng.random() < 0.5 else detail for _ in range(reps[1])]
            rows.append(np.concatenate(row, axis=1))
        out += weight * np.concatenate(rows, axis=0)[:H, :W]
    return out


def save(pixels: np.ndarray, path: str, quality: int, orientation: int) -> None:
    image = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "Sequent"  # Make
    exif[0x0110] = "bench phone"  # Model
    if orientation == 6:  # displayed = stored rotated 90° clockwise, so store it rotated counter-clockwise
        image = image.transpose(Image.ROTATE_90)
    exif[0x0112] = orientation
    image.save(path, "JPEG", quality=quality, subsampling="4:2:0", exif=exif.tobytes())
    print(f"{path}: {image.width}×{image.height} stored, orientation {orientation}, {os.path.getsize(path)} bytes")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(12)
    base = scene()
    luma = base.mean(axis=2, keepdims=True)
    # Texture shows most in mid-tones (none in blown highlights or crushed shadows).
    strength = 0.9 * np.clip(1.2 - np.abs(luma - 128) / 128, 0.2, 1.0)
    detail = strength * texture(rng)[..., None]
    rgb = base + detail
    sensor = rng.normal(0, 2.2, (H, W, 1)).astype(np.float32) + rng.normal(0, 1.0, (H, W, 3)).astype(np.float32)
    save(rgb + sensor, os.path.join(out, "phone.jpg"), 92, 6)
    save(rgb + sensor, os.path.join(out, "phone-landscape.jpg"), 92, 1)
    save(base + 0.5 * detail + 0.5 * sensor, os.path.join(out, "phone-soft.jpg"), 92, 6)
    noise = rng.normal(0, 28, (H, W, 3)).astype(np.float32)
    save(rgb + noise, os.path.join(out, "noisy.jpg"), 95, 1)


if __name__ == "__main__":
    main()
