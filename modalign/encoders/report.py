"""Figures and the Markdown evaluation report (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modalign.encoders.evaluate import EvalResult
from modalign.encoders.fit import EpochRecord
from modalign.encoders.metrics import recall_curve

MAX_K = 50


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training(history: Sequence[EpochRecord], path: Path, title: str = "") -> Path:
    """Training loss and validation R@10 (both directions) per epoch, as a PNG."""
    plt = _pyplot()
    epochs = [r.epoch for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r.loss for r in history], marker=".")
    left.set(xlabel="epoch", ylabel="InfoNCE loss", title="training loss")
    right.plot(epochs, [r.val_t2i_r10 for r in history], marker=".", label="text->image")
    right.plot(epochs, [r.val_i2t_r10 for r in history], marker=".", label="image->text")
    right.set(xlabel="epoch", ylabel="R@10 (%)", title="validation recall@10")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_recall(results: Sequence[EvalResult], path: Path) -> Path:
    """Recall@K (K = 1..50) of each result in both directions, as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(recall_png(results))
    return path


def recall_png(results: Sequence[EvalResult]) -> bytes:
    """The bytes of :func:`plot_recall`'s PNG."""
    plt = _pyplot()
    ks = list(range(1, MAX_K + 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for result in results:
        axes[0].plot(ks, recall_curve(result.t2i_ranks, MAX_K), label=result.model)
        axes[1].plot(ks, recall_curve(result.i2t_ranks, MAX_K), label=result.model)
    for axis, name in zip(axes, ("text -> image", "image -> text"), strict=True):
        axis.set(xlabel="K", ylabel="recall@K (%)", title=name, ylim=(0, 100))
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _table(results: Sequence[EvalResult]) -> list[str]:
    lines = [
        "| model | direction | R@1 | R@5 | R@10 | median rank | mean rank | queries | gallery |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        metrics = result.metrics()
        for direction in ("text_to_image", "image_to_text"):
            m = metrics[direction]
            lines.append(
                f"| {result.model} | {direction.replace('_', ' ')} | {m['R@1']:.1f} | "
                f"{m['R@5']:.1f} | {m['R@10']:.1f} | {m['median_rank']:g} | "
                f"{m['mean_rank']:.1f} | {m['queries']} | {m['gallery']} |"
            )
    return lines


def write_report(
    results: Sequence[EvalResult], path: Path, plot: Path | None = None, notes: Sequence[str] = ()
) -> Path:
    """A Markdown report of ``results`` (all on the same split), with the recall plot linked."""
    split = results[0].split if results else "?"
    lines = [
        f"# Retrieval evaluation — split `{split}`",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}. Exact ranks (full "
        "similarity matrix). text->image: each image's first caption queries all images; "
        "image->text: each image queries all captions, a hit is any of its own captions.",
        "",
        *_table(results),
        "",
    ]
    if plot is not None:
        lines += [f"![recall@K]({plot.name})", ""]
    lines += [f"- {note}" for note in notes]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
