"""One source of training defaults: the dataclasses, ``recipe()`` and ``modalign train`` agree."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from modalign.cli import app
from modalign.encoders.fit import TrainConfig, recipe
from modalign.encoders.heads import HeadSpec
from modalign.encoders.memory import MemorySpec


def _train_option_defaults() -> dict[str, Any]:
    command: Any = typer.main.get_command(app)
    return {param.name: param.default for param in command.commands["train"].params}


def test_the_dataclass_defaults_are_the_recipe() -> None:
    assert TrainConfig() == recipe()
    assert HeadSpec() == recipe().spec
    assert recipe().spec.hidden_dim == 2048 and recipe().lr == 2e-3  # what was measured best


def test_the_train_command_defaults_are_the_recipe() -> None:
    options = _train_option_defaults()
    config, spec = asdict(TrainConfig()), asdict(HeadSpec())
    for name in ("epochs", "feature_noise", "text_noise", "weight_decay", "tower_lr_scale",
                 "first_caption_prob"):
        assert options[name] == config[name], name
    assert options["input_dropout"] == spec["input_dropout"]
    assert options["members"] == spec["members"]
    memory = MemorySpec()
    assert (options["memory_neighbours"], options["memory_temperature"], options["memory_weight"]) \
        == (memory.neighbours, memory.temperature, memory.weight)
