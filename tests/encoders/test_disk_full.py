"""Training state and checkpoints on a disk that fills: a clear error, nothing half-written
that loads, and the run resumes once space is freed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from modalign.encoders.checkpoint import ModelCard, load_checkpoint, save_checkpoint
from modalign.encoders.fit import EpochRecord, train_heads
from modalign.encoders.heads import AlignmentHeads
from modalign.errors import DiskFullError, NotFoundError

from .test_fit import CONFIG, SPEC, same, weights
from .toy import toy_split

DISK_MB = 8


def _leftovers(folder: Path) -> list[str]:
    """Temporary files a cut-short write left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_full_disk_keeps_the_last_epochs_state_and_the_run_resumes(
    small_disk: Callable[[int], Any],
) -> None:
    disk = small_disk(DISK_MB)
    state, data = disk.path / "run" / "state.pt", toy_split(48, 1)

    def fill_after_second(record: EpochRecord) -> None:
        if record.epoch == 2:
            disk.fill()

    with pytest.raises(DiskFullError, match=f"no space left on the disk holding {state}"):
        train_heads(data, data, CONFIG, state, fill_after_second)
    assert _leftovers(state.parent) == []
    disk.free()
    seen: list[int] = []
    resumed = train_heads(data, data, CONFIG, state, lambda r: seen.append(r.epoch))
    assert seen == [3, 4, 5, 6]  # the state of epoch 2 was whole
    assert same(resumed.heads.state_dict(), weights(CONFIG))


def test_a_checkpoint_cut_short_by_a_full_disk_does_not_load(
    small_disk: Callable[[int], Any],
) -> None:
    disk = small_disk(DISK_MB)
    directory = disk.path / "models" / "v1"
    card = ModelCard(name="v1", towers={}, heads=SPEC.to_dict(), temperature=0.07, data_hash="x")
    torch.manual_seed(0)
    save_checkpoint(directory, AlignmentHeads(SPEC), card)
    newer = AlignmentHeads(SPEC)
    disk.fill()
    with pytest.raises(DiskFullError, match=f"holding {directory}"):
        save_checkpoint(directory, newer, replace(card, data_hash="y"))
    assert _leftovers(directory) == []
    with pytest.raises(NotFoundError, match="no model card"):  # never old card + new weights
        load_checkpoint(directory)
    disk.free()
    save_checkpoint(directory, newer, replace(card, data_hash="y"))
    heads, loaded = load_checkpoint(directory)
    assert loaded.data_hash == "y" and same(heads.state_dict(), newer.state_dict())
