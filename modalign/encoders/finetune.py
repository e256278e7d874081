"""Fine-tuning the image tower's last blocks on cached activations (``--finetune-top N``).

The frozen bottom of EfficientNet-Lite0 (stem and every block before the last N) runs once per
image view, exported to ONNX like the tower, and its rows (``image_net.BottomFeatures``: the
activation at the input of the first trained block plus the earlier stage means) are cached on
disk under the tower id ``<base id>-in<split>``, keyed by file content and view like the tower
features. Training then only runs the last N blocks, ``conv_head`` and ``bn1``
(``image_net.TopFeatures``) with the heads, which keeps it fast on a couple of CPU cores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modalign.config import Settings
from modalign.encoders.data import Sample
from modalign.encoders.features.extract import SplitFeatures
from modalign.encoders.features.source import FeatureSource
from modalign.encoders.image_net import BottomFeatures, PooledFeatures, TopFeatures, split_network
from modalign.encoders.onnx_tower import export_onnx, run_session, session
from modalign.encoders.shared_towers import crop_suffix
from modalign.encoders.towers import build_image_network, image_tower_id
from modalign.progress import ProgressSink


def bottom_cache_id(image_size: int, split: int) -> str:
    """Tower id of the cached bottom rows (activations at the input of block ``split``)."""
    return f"{image_tower_id(image_size)}-in{split}"


class OnnxBottomTower:
    """The frozen bottom of the image tower through ONNX Runtime (an ``ImageTower``)."""

    def __init__(self, cache_dir: Path, bottom: BottomFeatures, image_size: int, threads: int):
        self.image_size = image_size
        self.feature_dim = bottom.dim
        self.tower_id = bottom_cache_id(image_size, bottom.split)
        path = cache_dir / "onnx" / f"{self.tower_id}.onnx"
        if not path.exists():
            export_onnx(path, bottom, image_size)
        self.session = session(path, threads)

    def features(self, pixels: np.ndarray) -> np.ndarray:
        return run_session(self.session, pixels, self.feature_dim)


@dataclass
class FineTuneData:
    """Bottom rows of every split (as ``SplitFeatures.images``) and the network being tuned."""

    features: dict[str, SplitFeatures]
    network: PooledFeatures
    top: TopFeatures
    top_blocks: int


def finetune_data(
    settings: Settings,
    samples: Mapping[str, Sequence[Sample]],
    views: Sequence[str],
    top_blocks: int,
    sink: ProgressSink | None = None,
) -> FineTuneData:
    """Cache (once) and load the bottom rows of every split; train gets every view."""
    size = settings.encoders.image_size
    network = build_image_network(size)
    bottom, top = split_network(network, top_blocks, size)
    cache_dir = settings.paths.cache_dir
    threads = settings.encoders.torch_threads
    source = FeatureSource(settings, sink, image=(
        bottom_cache_id(size, bottom.split) + crop_suffix(settings), bottom.dim,
        lambda: OnnxBottomTower(cache_dir, bottom, size, threads),
    ))
    features = {
        name: source.features(items, views if name == "train" else ("plain",))
        for name, items in samples.items() if items
    }
    return FineTuneData(features, network, top, top_blocks)

