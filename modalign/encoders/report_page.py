"""The evaluation report as one self-contained HTML page (no server, nothing beside it).

It shows the model version and split, the recall figures of both directions (with any models
compared), the recall@K curve as an embedded PNG, and the worst-ranked text->image queries: the
caption, the rank of its image, that image and the images retrieved first, as small embedded
JPEG thumbnails, so the page still shows everything once moved or mailed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from modalign.encoders.data import Sample, load_image
from modalign.encoders.evaluate import EvalResult, HardQuery
from modalign.encoders.report import recall_png
from modalign.errors import InvalidInputError

THUMB_SIDE = 96
DIRECTIONS = (("text_to_image", "text → image"), ("image_to_text", "image → text"))
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td.text { text-align: left; }
td.text { max-width: 260px; }
td.thumbs { white-space: nowrap; text-align: left; }
figure { margin: 0 2px; display: inline-block; text-align: center; font-size: 11px; width: 104px;
         white-space: normal; vertical-align: top; }
figure img { border: 1px solid #ccc; background: #fff; }
figure.hit img { border: 2px solid #2a2; }
.meta { color: #555; }
"""


def thumbnail(path: Path, side: int = THUMB_SIDE) -> str:
    """A ``data:`` URL of the image at ``path`` as a JPEG at most ``side`` pixels a side ("" if
    it cannot be read)."""
    try:
        image = load_image(path)
    except InvalidInputError:
        return ""
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Thumbnails:
    """Thumbnails of a split's images by index, each made once."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = samples
        self.made: dict[int, str] = {}

    def figure(self, index: int, label: str, hit: bool = False) -> str:
        if index not in self.made:
            self.made[index] = thumbnail(self.samples[index].path)
        caption = escape(self.samples[index].captions[0])
        return (f'<figure class="{"hit" if hit else ""}"><img src="{self.made[index]}" '
                f'alt="{caption}" title="{caption}"><figcaption>{escape(label)}</figcaption>'
                "</figure>")


def _metrics_rows(results: Sequence[EvalResult]) -> list[str]:
    rows = ["<tr><th>model</th><th>direction</th><th>R@1</th><th>R@5</th><th>R@10</th>"
            "<th>median rank</th><th>mean rank</th><th>queries</th><th>gallery</th></tr>"]
    for result in results:
        metrics = result.metrics()
        for key, name in DIRECTIONS:
            m = metrics[key]
            rows.append(
                f"<tr><td class=text>{escape(result.model)}</td><td class=text>{name}</td>"
                f"<td>{m['R@1']:.1f}</td><td>{m['R@5']:.1f}</td><td>{m['R@10']:.1f}</td>"
                f"<td>{m['median_rank']:g}</td><td>{m['mean_rank']:.1f}</td>"
                f"<td>{m['queries']}</td><td>{m['gallery']}</td></tr>"
            )
    return rows


def _worst_rows(worst: Sequence[HardQuery], thumbs: Thumbnails) -> list[str]:
    rows = ["<tr><th>#</th><th>caption (query)</th><th>rank of its image</th><th>its image</th>"
            "<th>retrieved first</th></tr>"]
    for number, query in enumerate(worst, start=1):
        retrieved = "".join(
            thumbs.figure(j, f"{k}. {thumbs.samples[j].captions[0]}", hit=j == query.image)
            for k, j in enumerate(query.top, start=1)
        )
        rows.append(
            f'<tr class="worst"><td>{number}</td>'
            f"<td class=text>{escape(thumbs.samples[query.image].captions[0])}</td>"
            f"<td>{query.rank}</td><td>{thumbs.figure(query.image, 'true image')}</td>"
            f"<td class=thumbs>{retrieved}</td></tr>"
        )
    return rows


def render_page(
    results: Sequence[EvalResult], samples: Sequence[Sample], worst: Sequence[HardQuery],
    notes: Sequence[str] = (),
) -> str:
    """The page's HTML: ``results[0]`` is the model evaluated (on ``samples``, with its
    ``worst`` queries); the other results are shown beside it."""
    main = results[0]
    curve = base64.b64encode(recall_png(results)).decode("ascii")
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>modalign evaluation: model {escape(main.model)}, split {escape(main.split)}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>Retrieval evaluation: model <code>{escape(main.model)}</code>, split "
        f"<code>{escape(main.split)}</code></h1>",
        f'<p class="meta">Generated {generated}. {main.images} images, {main.captions} '
        "captions. Exact ranks over the whole split. text → image: each image's first caption "
        "queries all images; image → text: each image queries all captions, a hit is any of "
        "its own.</p>",
        *[f'<p class="meta">{escape(note)}</p>' for note in notes],
        "<h2>Recall</h2><table>", *_metrics_rows(results), "</table>",
        f'<img alt="recall@K for K = 1..50" src="data:image/png;base64,{curve}">',
        f"<h2>The {len(worst)} worst text → image queries</h2>",
        "<p>Each caption with the rank of its own image, that image, and the images the model "
        "retrieved first (a green border marks its own image).</p>",
        "<table>", *_worst_rows(worst, Thumbnails(samples)), "</table>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_page(
    results: Sequence[EvalResult], samples: Sequence[Sample], worst: Sequence[HardQuery],
    path: Path, notes: Sequence[str] = (),
) -> Path:
    """Write :func:`render_page` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(results, samples, worst, notes), encoding="utf-8")
    return path
