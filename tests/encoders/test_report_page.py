"""The evaluation page: rendered from a real evaluation of a small random model on the emoji set."""

from __future__ import annotations

import re
from pathlib import Path

from modalign.config import Settings
from modalign.encoders.evaluate import evaluate_model
from modalign.encoders.random_model import register_random_model
from modalign.encoders.report_page import write_page


def test_the_page_names_the_model_the_split_and_the_figures_and_shows_the_worst_queries(
    settings: Settings, emoji_dir: Path, tmp_path: Path
) -> None:
    register_random_model(settings, "rnd", memory_size=None)
    evaluation = evaluate_model(settings, emoji_dir / "manifest.jsonl", "train", "rnd", worst=5)
    page = write_page([evaluation.result], evaluation.samples, evaluation.worst,
                      tmp_path / "moved" / "eval.html", ["image backend: onnx"])
    html = page.read_text(encoding="utf-8")

    assert "model <code>rnd</code>, split <code>train</code>" in html
    metrics = evaluation.result.metrics()
    for direction in ("text_to_image", "image_to_text"):
        assert f"<td>{metrics[direction]['R@10']:.1f}</td>" in html
        assert f"<td>{metrics[direction]['median_rank']:g}</td>" in html
    assert html.count('src="data:image/png;base64,') == 1  # the recall@K curve
    assert "image backend: onnx" in html

    worst = re.findall(r'<tr class="worst">.*?</tr>', html, flags=re.S)
    assert len(worst) == 5 == len(evaluation.worst)
    ranks = [query.rank for query in evaluation.worst]
    assert ranks == sorted(ranks, reverse=True)
    for row, query in zip(worst, evaluation.worst, strict=True):
        assert evaluation.samples[query.image].captions[0] in row
        assert f"<td>{query.rank}</td>" in row
        assert row.count('src="data:image/jpeg;base64,') == 1 + 5  # its image, the top 5
    assert "file:" not in html and "<img src=\"/" not in html  # nothing outside the page
