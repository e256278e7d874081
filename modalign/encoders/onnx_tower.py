"""The fast image tower: EfficientNet-Lite0 exported to ONNX once and run by ONNX Runtime.

The export is cached under ``<cache_dir>/onnx/`` keyed by the tower id (weights hash + input
size, plus the fine-tuned weights' hash for a fine-tuned tower), so it happens once per machine
and model. Each export is checked against the eager network it came from (features within cosine
``MIN_COSINE``) before it is kept. ``quantize=True`` adds an int8 dynamic-quantised copy: faster on
some CPUs but lossy, hence opt-in (``image_backend="onnx-int8"``) with its own tower id.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modalign.encoders.towers import IMAGE_FEATURE_DIM, build_image_network, image_tower_id
from modalign.encoders.tuned import TunedTower
from modalign.errors import EncoderError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

INPUT_NAME = "pixels"
OUTPUT_NAME = "features"
MIN_COSINE = 0.999
CHECK_IMAGES = 4


def export_checked(
    path: Path, network: torch.nn.Module, sample: Mapping[str, torch.Tensor],
    dynamic_axes: dict[str, dict[int, str]], cosine: Callable[[Path], float], what: str,
    output: str = OUTPUT_NAME,
) -> Path:
    """Export ``network`` (named inputs like ``sample`` -> ``output``) to ``path``, atomically,
    and keep it only if ``cosine(exported file)`` (lowest cosine to eager) is >= ``MIN_COSINE``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network.eval(), tuple(sample.values()), tmp_name, input_names=list(sample),
            output_names=[output], dynamic_axes={**dynamic_axes, output: {0: "n"}},
            opset_version=17, dynamo=False,
        )
    min_cosine = cosine(Path(tmp_name))
    if not min_cosine >= MIN_COSINE:  # NaN fails too
        os.unlink(tmp_name)
        raise EncoderError(f"the ONNX export of {path.name} is off (cosine {min_cosine:.6f})")
    os.replace(tmp_name, path)
    log.info("exported the %s to %s (cosine %.7f to eager)", what, path, min_cosine)
    return path


def export_onnx(path: Path, network: torch.nn.Module, image_size: int) -> Path:
    """Export ``network`` (pixels -> one row per image) to ``path`` (dynamic batch axis); atomic."""
    import torch

    return export_checked(
        path, network, {INPUT_NAME: torch.zeros(2, 3, image_size, image_size)},
        {INPUT_NAME: {0: "n"}}, lambda exported: export_cosine(exported, network, image_size),
        "image tower",
    )


def export_cosine(path: Path, network: torch.nn.Module, image_size: int) -> float:
    """Lowest cosine between ONNX Runtime's and eager torch's outputs on a fixed random batch."""
    import torch

    rng = np.random.default_rng(0)
    pixels = rng.uniform(-1, 1, (CHECK_IMAGES, 3, image_size, image_size)).astype(np.float32)
    with torch.inference_mode():
        eager = network.eval()(torch.from_numpy(pixels)).numpy()
    fast = session(path, 1).run([OUTPUT_NAME], {INPUT_NAME: pixels})[0]
    return min_row_cosine(fast, eager)


def min_row_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Lowest cosine between the rows of ``a`` and the rows of ``b`` at the same index."""
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def quantize_onnx(source: Path, target: Path) -> Path:
    """An int8 dynamic-quantised copy of ``source`` at ``target``; atomic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    quantize_dynamic(str(source), tmp_name, weight_type=QuantType.QUInt8)
    os.replace(tmp_name, target)
    return target


def onnx_model_path(
    cache_dir: Path, image_size: int, quantize: bool = False, tuned: TunedTower | None = None
) -> Path:
    """Path of the (exported on first use) ONNX image tower in ``cache_dir``."""
    base = image_tower_id(image_size)
    tower_id = tuned.tower_id(base) if tuned else base
    exact = cache_dir / "onnx" / f"{tower_id}.onnx"
    if not exact.exists():
        export_onnx(exact, build_image_network(image_size, tuned), image_size)
    if not quantize:
        return exact
    int8 = cache_dir / "onnx" / f"{tower_id}-int8.onnx"
    if not int8.exists():
        quantize_onnx(exact, int8)
    return int8


def session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session of the model at ``path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EncoderError(f"cannot load the ONNX model {path}: {exc}") from exc


def run_session(runner: Any, pixels: np.ndarray, dim: int) -> np.ndarray:
    """One row of ``dim`` floats per image of ``pixels`` from an ONNX Runtime session."""
    if len(pixels) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    batch = np.ascontiguousarray(pixels, dtype=np.float32)
    return np.asarray(runner.run([OUTPUT_NAME], {INPUT_NAME: batch})[0], dtype=np.float32)


class OnnxImageTower:
    """EfficientNet-Lite0 pooled features (fine-tuned with ``tuned``) through ONNX Runtime."""

    feature_dim = IMAGE_FEATURE_DIM

    def __init__(
        self, cache_dir: Path, image_size: int = 224, threads: int = 2, quantize: bool = False,
        tuned: TunedTower | None = None,
    ) -> None:
        self.image_size = image_size
        base = image_tower_id(image_size)
        self.tower_id = (tuned.tower_id(base) if tuned else base) + ("-int8" if quantize else "")
        self.session = session(onnx_model_path(cache_dir, image_size, quantize, tuned), threads)

    def features(self, pixels: np.ndarray) -> np.ndarray:
        return run_session(self.session, pixels, self.feature_dim)
