"""The fast image tower: EfficientNet-Lite0 exported to ONNX once and run by ONNX Runtime.

The export is cached under ``<cache_dir>/onnx/`` keyed by the tower id (weights hash + input
size), so it happens once per machine. ``quantize=True`` adds an int8 dynamic-quantised copy:
faster on some CPUs but lossy, hence opt-in (``image_backend="onnx-int8"``) with its own tower id.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from modalign.encoders.towers import IMAGE_FEATURE_DIM, build_image_network, image_tower_id
from modalign.errors import EncoderError

log = logging.getLogger(__name__)

INPUT_NAME = "pixels"
OUTPUT_NAME = "features"


def export_onnx(path: Path, image_size: int) -> Path:
    """Export the pooled EfficientNet-Lite0 to ``path`` (dynamic batch axis); atomic."""
    import torch

    network = build_image_network(image_size)
    sample = torch.zeros(2, 3, image_size, image_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network, (sample,), tmp_name, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}}, opset_version=17,
            dynamo=False,
        )
    os.replace(tmp_name, path)
    log.info("exported the image tower to %s", path)
    return path


def quantize_onnx(source: Path, target: Path) -> Path:
    """An int8 dynamic-quantised copy of ``source`` at ``target``; atomic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    quantize_dynamic(str(source), tmp_name, weight_type=QuantType.QUInt8)
    os.replace(tmp_name, target)
    return target


def onnx_model_path(cache_dir: Path, image_size: int, quantize: bool = False) -> Path:
    """Path of the (exported on first use) ONNX image tower in ``cache_dir``."""
    tower_id = image_tower_id(image_size)
    exact = cache_dir / "onnx" / f"{tower_id}.onnx"
    if not exact.exists():
        export_onnx(exact, image_size)
    if not quantize:
        return exact
    int8 = cache_dir / "onnx" / f"{tower_id}-int8.onnx"
    if not int8.exists():
        quantize_onnx(exact, int8)
    return int8


class OnnxImageTower:
    """EfficientNet-Lite0 pooled features through ONNX Runtime on the CPU."""

    feature_dim = IMAGE_FEATURE_DIM

    def __init__(
        self, cache_dir: Path, image_size: int = 224, threads: int = 2, quantize: bool = False
    ) -> None:
        import onnxruntime as ort

        self.image_size = image_size
        self.tower_id = image_tower_id(image_size) + ("-int8" if quantize else "")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = onnx_model_path(cache_dir, image_size, quantize)
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EncoderError(f"cannot load the ONNX image tower {path}: {exc}") from exc

    def features(self, pixels: np.ndarray) -> np.ndarray:
        if len(pixels) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        batch = np.ascontiguousarray(pixels, dtype=np.float32)
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        return np.asarray(out, dtype=np.float32)
