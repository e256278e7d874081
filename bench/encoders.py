"""Encoder benchmark: tower throughput (eager vs ONNX Runtime), head training, full training.

Prints a table, then as its LAST line one JSON object. Images are the demo images when the demo
manifest exists (else rendered emoji). Run with ``nice``; the machine is shared.

    .venv/bin/python bench/encoders.py [--data-dir data] [--full-train]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from modalign.config import PathsSettings, Settings
from modalign.encoders.data import load_image, samples_from_manifest
from modalign.encoders.onnx_tower import min_row_cosine
from modalign.encoders.preprocess import batch_pixels
from modalign.encoders.shared_towers import image_tower, text_tower

BATCH = 64


def demo_images(settings: Settings, n: int) -> list[Image.Image]:
    manifest = settings.paths.demo_dir / "manifest.jsonl"
    if manifest.exists():
        return [load_image(s.path) for s in samples_from_manifest(manifest)[:n]]
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", 109)
    images = []
    for index in range(n):
        image = Image.new("RGBA", (136, 128), (255, 255, 255, 0))
        ImageDraw.Draw(image).text((0, 0), chr(0x1F600 + index % 80), font=font,
                                   embedded_color=True)
        images.append(image.convert("RGB"))
    return images


def rate(fn: Callable[[], Any], items: int, repeats: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return items * repeats / (time.perf_counter() - started)


def tower_rates(settings: Settings, images: list[Image.Image]) -> dict[str, float]:
    pixels = batch_pixels(images[:BATCH], settings.encoders.image_size)
    eager, fast = image_tower(settings, "eager"), image_tower(settings, "onnx")
    int8 = image_tower(settings, "onnx-int8")
    captions = [f"a drawing of item number {i} with some colour" for i in range(BATCH)]
    preprocess_rate = rate(lambda: batch_pixels(images[:BATCH], 224), BATCH, 3)
    crop_rate = rate(lambda: batch_pixels(images[:BATCH], 224, crop=True), BATCH, 3)
    return {
        "eager_images_per_s": rate(lambda: eager.features(pixels), BATCH, 2),
        "onnx_images_per_s": rate(lambda: fast.features(pixels), BATCH, 5),
        "onnx_int8_images_per_s": rate(lambda: int8.features(pixels), BATCH, 5),
        "preprocess_images_per_s": preprocess_rate,
        "preprocess_crop_images_per_s": crop_rate,  # cropped to content first (the default)
        "texts_per_s": rate(lambda: text_tower(settings).features(captions), BATCH, 5),
        "cosine_min": min_row_cosine(eager.features(pixels), fast.features(pixels)),
        "int8_cosine_min": min_row_cosine(eager.features(pixels), int8.features(pixels)),
    }


def demo_captions(settings: Settings, n: int) -> list[str]:
    """``n`` captions spread over the demo manifest (synthetic ones without it)."""
    manifest = settings.paths.demo_dir / "manifest.jsonl"
    if not manifest.exists():
        return [f"a drawing of item number {i} with some colour" for i in range(n)]
    captions = [c for line in manifest.read_text().splitlines() if line.strip()
                for c in json.loads(line)["captions"]]
    return captions[:: max(1, len(captions) // n)][:n]


def text_rates(settings: Settings) -> dict[str, float]:
    """Text tower eager (sentence-transformers) vs ONNX Runtime, batch BATCH, 1 thread."""
    import torch

    one = settings.model_copy(
        update={"encoders": settings.encoders.model_copy(update={"torch_threads": 1})})
    captions = demo_captions(settings, BATCH)
    eager, fast = text_tower(one, "torch"), text_tower(one, "onnx")
    result = {
        "text_eager_texts_per_s_1t": rate(lambda: eager.features(captions), BATCH, 5),
        "text_onnx_texts_per_s_1t": rate(lambda: fast.features(captions), BATCH, 5),
        "text_cosine_min": min_row_cosine(eager.features(captions), fast.features(captions)),
    }
    result["text_ratio_1t"] = result["text_onnx_texts_per_s_1t"] / result[
        "text_eager_texts_per_s_1t"]
    torch.set_num_threads(settings.encoders.torch_threads)  # the eager text tower set it to 1
    return result


def train_seconds(settings: Settings, manifest: Path) -> dict[str, float]:
    from modalign.encoders.fit import recipe
    from modalign.encoders.training import train_model

    config = recipe(settings.seed, settings.encoders.embed_dim, settings.encoders.head)
    outcome = train_model(settings, manifest, config, "bench")
    return {"features_s": outcome.timings["features_s"], "heads_s": outcome.timings["heads_s"],
            "total_s": outcome.timings["total_s"]}


def fresh_settings(settings: Settings, root: Path, keep_cache: bool) -> Settings:
    if keep_cache:
        (root / "cache").symlink_to(settings.paths.cache_dir.resolve(), target_is_directory=True)
    return settings.model_copy(update={"paths": PathsSettings(data_dir=root)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--full-train", action="store_true", help="also train from nothing")
    args = parser.parse_args()
    settings = Settings().model_copy(update={"paths": PathsSettings(data_dir=args.data_dir)})
    result: dict[str, Any] = tower_rates(settings, demo_images(settings, BATCH))
    result["ratio"] = result["onnx_images_per_s"] / result["eager_images_per_s"]
    result.update(text_rates(settings))
    manifest = settings.paths.demo_dir / "manifest.jsonl"
    if manifest.exists():
        with tempfile.TemporaryDirectory() as tmp:
            result["head_training_s"] = train_seconds(
                fresh_settings(settings, Path(tmp), keep_cache=True), manifest)["heads_s"]
        if args.full_train:
            with tempfile.TemporaryDirectory() as tmp:
                result["full_train"] = train_seconds(
                    fresh_settings(settings, Path(tmp), keep_cache=False), manifest)
    for key, value in result.items():
        print(f"{key:<26} {json.dumps(value) if isinstance(value, dict) else f'{value:,.3f}'}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
