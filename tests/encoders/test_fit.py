"""Head training: deterministic under a seed, and an interrupted run resumes to the same weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from modalign.encoders.fit import EpochRecord, TrainConfig, train_heads
from modalign.encoders.heads import HeadSpec
from modalign.encoders.schedule import warmup_cosine

from .toy import toy_split

SPEC = HeadSpec(image_dim=16, text_dim=12, embed_dim=8, kind="mlp", hidden_dim=16, dropout=0.1)
CONFIG = TrainConfig(spec=SPEC, epochs=6, batch_size=16, lr=5e-3, patience=100, seed=7)


def weights(config: TrainConfig, state: Path | None = None) -> dict[str, torch.Tensor]:
    data = toy_split(48, 1)
    return train_heads(data, data, config, state).heads.state_dict()


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_is_deterministic_under_a_seed() -> None:
    assert same(weights(CONFIG), weights(CONFIG))
    from dataclasses import replace

    assert not same(weights(CONFIG), weights(replace(CONFIG, seed=8)))


def test_text_noise_is_seeded_and_changes_only_what_it_should() -> None:
    from dataclasses import replace

    noisy = replace(CONFIG, text_noise=0.5)
    assert same(weights(noisy), weights(noisy))
    assert not same(weights(noisy), weights(CONFIG))
    assert noisy.fingerprint() != CONFIG.fingerprint()
    # configurations without it keep the fingerprint they had before it existed
    data = CONFIG.to_dict()
    del data["text_noise"], data["finetune_top"], data["tower_lr_scale"], data["image_features"]
    import hashlib
    import json

    old = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    assert CONFIG.fingerprint() == old


class StopTrainingError(Exception):
    pass


def interrupt_after(epochs: int, config: TrainConfig, state: Path) -> None:
    """Train on the toy split with a state file, stopping the run after ``epochs`` epochs."""

    def stop(record: EpochRecord) -> None:
        if record.epoch == epochs:
            raise StopTrainingError

    data = toy_split(48, 1)
    with pytest.raises(StopTrainingError):
        train_heads(data, data, config, state, stop)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path: Path, ema: float) -> None:
    from dataclasses import replace

    config = replace(CONFIG, ema_decay=ema)
    data = toy_split(48, 1)
    state = tmp_path / "state.pt"
    interrupt_after(3, config, state)
    seen: list[int] = []
    resumed = train_heads(data, data, config, state, lambda r: seen.append(r.epoch))
    assert seen == [4, 5, 6] and len(resumed.history) == 6
    assert same(resumed.heads.state_dict(), weights(config))


def test_a_run_on_other_image_features_starts_over(tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(CONFIG, image_features="lite0-224px")
    state = tmp_path / "state.pt"
    interrupt_after(2, config, state)
    seen: list[int] = []
    cropped = replace(config, image_features="lite0-224px-crop4")
    assert cropped.fingerprint() != config.fingerprint()
    data = toy_split(48, 1)
    train_heads(data, data, cropped, state, lambda r: seen.append(r.epoch))
    assert seen == [1, 2, 3, 4, 5, 6]


def test_early_stopping_keeps_the_best_epoch() -> None:
    data = toy_split(48, 1)
    result = train_heads(data, data, TrainConfig(spec=SPEC, epochs=50, batch_size=16, patience=2))
    assert len(result.history) < 50
    assert result.best_epoch == max(result.history, key=lambda r: r.score).epoch


Weights = dict[str, torch.Tensor]


def tower_run(config: TrainConfig, state: Path | None = None,
              on_epoch: Callable[[EpochRecord], None] | None = None) -> tuple[Weights, Weights]:
    torch.manual_seed(1)
    tower = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU())
    data = toy_split(48, 1)
    result = train_heads(data, data, config, state, on_epoch, tower=tower)
    assert result.tower is tower
    return result.heads.state_dict(), tower.state_dict()


def test_a_tower_is_trained_with_the_heads_at_its_own_rate(tmp_path: Path) -> None:
    from dataclasses import replace

    torch.manual_seed(1)
    initial = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU()).state_dict()
    config = replace(CONFIG, finetune_top=1, tower_lr_scale=0.5, ema_decay=0.9)
    heads, tower = tower_run(config)
    assert not same(tower, initial)
    assert same(tower_run(config)[1], tower)
    assert same(tower_run(replace(config, tower_lr_scale=0.0))[1], initial)

    def stop_after_two(record: EpochRecord) -> None:
        if record.epoch == 2:
            raise StopTrainingError

    with pytest.raises(StopTrainingError):
        tower_run(config, tmp_path / "state.pt", stop_after_two)
    resumed_heads, resumed_tower = tower_run(config, tmp_path / "state.pt")
    assert same(resumed_heads, heads) and same(resumed_tower, tower)


def test_warmup_then_cosine() -> None:
    assert warmup_cosine(0, 10, 100) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(55, 10, 100) == pytest.approx(0.5)
    assert warmup_cosine(100, 10, 100) == pytest.approx(0.0)


def test_recipe_is_what_modalign_train_uses_without_options() -> None:
    import inspect

    from modalign.commands.train import train as train_command
    from modalign.encoders.fit import recipe

    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(train_command).parameters.items()
    }
    config = recipe(seed=3, embed_dim=64, kind="linear")
    assert (config.seed, config.spec.embed_dim, config.spec.kind) == (3, 64, "linear")
    assert config.spec.input_dropout == defaults["input_dropout"]
    assert config.feature_noise == defaults["feature_noise"]
    assert config.text_noise == defaults["text_noise"]
    assert config.weight_decay == defaults["weight_decay"]
    assert config.first_caption_prob == defaults["first_caption_prob"]
    assert config.epochs == defaults["epochs"]
    assert config.finetune_top == 0 and config.spec.members == defaults["members"] == 1
