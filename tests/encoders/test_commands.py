"""`modalign train`, `evaluate --json`, `models list/activate` end to end on the emoji manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modalign.cli import app
from modalign.config import Settings
from modalign.encoders.load import load_dual_encoder


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.paths.data_dir


def run(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_evaluate_and_switch_versions(
    data_dir: Path, emoji_dir: Path, settings: Settings
) -> None:
    manifest = str(emoji_dir / "manifest.jsonl")
    run(data_dir, "train", "--manifest", manifest, "--epochs", "3")
    card = json.loads((data_dir / "models" / "v1" / "card.json").read_text())
    assert card["name"] == "v1" and card["dims"]["embed"] == 256
    assert set(card["metrics"]) == {"val", "test"} and len(card["data_hash"]) == 64
    assert "finetune" not in card["towers"]["image"]
    assert not (data_dir / "models" / "v1" / "tower.safetensors").exists()
    assert (data_dir / "models" / "v1" / "training.png").stat().st_size > 0
    assert card["memory"] == {"neighbours": 10, "temperature": 0.1, "weight": 1.0,
                              "images": 12, "captions": 24}  # the emoji manifest's train split
    assert (data_dir / "models" / "v1" / "memory.safetensors").exists()

    out = json.loads(run(data_dir, "evaluate", "--manifest", manifest, "--split", "test", "--json"))
    assert out["model"] == "v1" and out["split"] == "test"
    assert out["text_to_image"]["queries"] == 4 and out["text_to_image"]["gallery"] == 4
    assert out["image_to_text"]["queries"] == 4 and out["image_to_text"]["gallery"] == 8
    for direction in ("text_to_image", "image_to_text"):
        assert out[direction] == card["metrics"]["test"][direction]
    assert (data_dir / "reports" / "eval-v1-test.md").exists()
    assert (data_dir / "reports" / "eval-v1-test-recall.png").exists()
    assert "model <code>v1</code>" in (data_dir / "reports" / "eval-v1-test.html").read_text()
    plain = json.loads(run(data_dir, "evaluate", "--manifest", manifest, "--json", "--heads-only"))
    for direction in ("text_to_image", "image_to_text"):
        assert plain[direction] == card["training"]["heads_only_metrics"]["test"][direction]
    assert "left out" in (data_dir / "reports" / "eval-v1-test-heads.md").read_text()

    run(data_dir, "train", "--manifest", manifest, "--epochs", "2", "--head", "linear",
        "--memory-weight", "0")
    assert json.loads((data_dir / "models" / "v2" / "card.json").read_text())["memory"] == {}
    assert not (data_dir / "models" / "v2" / "memory.safetensors").exists()
    listed = json.loads(run(data_dir, "models", "list", "--json"))
    assert [(v["name"], v["active"]) for v in listed] == [("v1", True), ("v2", False)]
    run(data_dir, "models", "activate", "v2")
    assert load_dual_encoder(settings).version == "v2"
    assert load_dual_encoder(settings, "v1").version == "v1"


def test_loaded_encoder_embeds_like_the_trained_heads(
    data_dir: Path, emoji_dir: Path, settings: Settings, emoji_images: list[object]
) -> None:
    run(data_dir, "train", "--manifest", str(emoji_dir / "manifest.jsonl"), "--epochs", "1")
    encoder = load_dual_encoder(settings)
    images = encoder.encode_images(emoji_images[:3])  # type: ignore[arg-type]
    again = load_dual_encoder(settings, "v1").encode_images(emoji_images[:3])  # type: ignore[arg-type]
    assert images.shape == (3, 256) and np.array_equal(images, again)


def test_a_model_keeps_the_image_preparation_it_was_trained_with(
    data_dir: Path, emoji_dir: Path, settings: Settings
) -> None:
    manifest = str(emoji_dir / "manifest.jsonl")
    run(data_dir, "train", "--manifest", manifest, "--epochs", "1", "--version", "crop")
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "train", "--manifest", manifest, "--epochs", "1",
              "--version", "plain"], env={"MODALIGN_ENCODERS__CROP_TO_CONTENT": "false"},
    )
    assert result.exit_code == 0, result.output
    cards = {v: json.loads((data_dir / "models" / v / "card.json").read_text())["towers"]["image"]
             for v in ("crop", "plain")}
    assert cards["crop"]["crop_to_content"] and cards["crop"]["id"].endswith("-crop4")
    assert not cards["plain"]["crop_to_content"] and "crop" not in cards["plain"]["id"]
    assert settings.encoders.crop_to_content  # the default; the models decide for themselves
    assert load_dual_encoder(settings, "crop").crop_to_content
    assert not load_dual_encoder(settings, "plain").crop_to_content
    plain_features = data_dir / "cache" / "features" / cards["plain"]["id"]
    assert plain_features.is_dir()
    shutil.rmtree(plain_features)  # evaluating the plain model must compute plain features again
    for version in ("crop", "plain"):  # evaluation prepares images as training did
        out = json.loads(run(data_dir, "evaluate", "--manifest", manifest, "--model", version,
                             "--split", "test", "--json"))
        card = json.loads((data_dir / "models" / version / "card.json").read_text())
        for direction in ("text_to_image", "image_to_text"):
            assert out[direction] == card["metrics"]["test"][direction]
    assert plain_features.is_dir()


def test_baseline_trains_and_appears_in_the_report(data_dir: Path, emoji_dir: Path) -> None:
    manifest = str(emoji_dir / "manifest.jsonl")
    run(data_dir, "train", "--manifest", manifest, "--baseline", "--seconds", "2")
    summary = json.loads((data_dir / "models" / "baseline-toy" / "summary.json").read_text())
    assert summary["epochs"] >= 1 and "test" in summary["metrics"]
    run(data_dir, "train", "--manifest", manifest, "--epochs", "1")
    run(data_dir, "evaluate", "--manifest", manifest)
    report = (data_dir / "reports" / "eval-v1-test.md").read_text()
    assert "| v1 |" in report and "| baseline-toy |" in report


def test_train_options_reach_the_card(data_dir: Path, emoji_dir: Path) -> None:
    manifest = str(emoji_dir / "manifest.jsonl")
    run(data_dir, "train", "--manifest", manifest, "--epochs", "1", "--version", "tuned",
        "--feature-noise", "0.5", "--text-noise", "0.7", "--weight-decay", "0.3",
        "--views", "plain,zoom", "--input-dropout", "0.2", "--first-caption-prob", "0.25")
    card = json.loads((data_dir / "models" / "tuned" / "card.json").read_text())
    config = card["training"]["config"]
    assert config["feature_noise"] == 0.5 and config["weight_decay"] == 0.3
    assert config["text_noise"] == 0.7
    assert config["first_caption_prob"] == 0.25
    assert card["training"]["views"] == ["plain", "zoom"]
    assert card["heads"]["input_dropout"] == 0.2
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "train", "--manifest", manifest, "--views", "tilt"]
    )
    assert result.exit_code != 0 and not (data_dir / "models" / "v1").exists()


def test_finetune_setting_and_flags_reach_the_card(
    data_dir: Path, emoji_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODALIGN_ENCODERS__FINETUNE_TOP", "1")
    manifest = str(emoji_dir / "manifest.jsonl")
    run(data_dir, "train", "--manifest", manifest, "--epochs", "1", "--version", "ft",
        "--tower-lr-scale", "0.5")
    card = json.loads((data_dir / "models" / "ft" / "card.json").read_text())
    assert card["towers"]["image"]["finetune"]["top_blocks"] == 1
    assert card["towers"]["image"]["finetune"]["lr_scale"] == 0.5
    assert (data_dir / "models" / "ft" / "tower.safetensors").exists()
    run(data_dir, "train", "--manifest", manifest, "--epochs", "1", "--version", "frozen",
        "--finetune-top", "0")
    assert not (data_dir / "models" / "frozen" / "tower.safetensors").exists()


def test_members_train_an_ensemble_that_loads_and_evaluates(
    data_dir: Path, emoji_dir: Path, settings: Settings
) -> None:
    manifest = str(emoji_dir / "manifest.jsonl")
    run(data_dir, "train", "--manifest", manifest, "--epochs", "2", "--version", "ens",
        "--members", "2")
    directory = data_dir / "models" / "ens"
    card = json.loads((directory / "card.json").read_text())
    assert card["heads"]["members"] == 2 and card["dims"]["embed"] == 256
    assert card["training"]["epochs_run"] == 4  # 2 epochs x 2 members, one curve
    assert not list(directory.glob("train_state*"))
    report = json.loads(run(data_dir, "evaluate", "--manifest", manifest, "--model", "ens",
                            "--split", "val", "--json"))
    assert report["model"] == "ens" and report["image_to_text"]["queries"] > 0
    vectors = load_dual_encoder(settings, "ens").encode_texts(["a red apple", "a dog"])
    assert vectors.shape == (2, 256) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "train", "--manifest",
                                      manifest, "--members", "2", "--finetune-top", "1"])
    assert result.exit_code == 1 and "ensemble" in result.output


def test_evaluate_without_a_model_fails_cleanly(data_dir: Path, emoji_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "evaluate", "--manifest",
              str(emoji_dir / "manifest.jsonl")],
    )
    assert result.exit_code == 1
    assert "error:" in result.output
