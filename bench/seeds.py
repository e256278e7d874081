"""Seed spread of the trained heads: the ``modalign train`` recipe under N seeds, cached features.

A single training run's test R@10 moves with the seed (initialisation, batch order, dropout) by
more than most of the ablations in the README; this prints how much. For each seed: val and test
R@10 in both directions; then their mean, standard deviation and range, and the figure of an
ensemble of all N heads (each item's N unit embeddings concatenated and scaled by 1/sqrt(N), so a
dot product is the mean of the N cosines). No default uses the ensemble (its vectors are N times
longer); it shows how much of the spread is variance an average removes. ``projected`` is the same
N heads as ``modalign train --members N`` builds them: the concatenation projected back to 256-d.

The ``mem_*`` columns are the same heads with the pair memory ``modalign train`` builds (the
training split's pairs, default ``MemorySpec``, changed by ``--memory-*``; at weight 0 they equal
the heads' columns), as ``modalign evaluate`` measures a model that has one.

``--set field=value`` (repeatable) changes one field of the recipe's ``TrainConfig``
(``spec.field`` for its ``HeadSpec``) and ``--views`` the training views, so an ablation is
measured the same way as the recipe: e.g. ``--set text_noise=0.5``, ``--set spec.embed_dim=512``,
``--views plain,flip,zoom``.

Prints a table, then as its LAST line one JSON object. Needs the demo set and cached features
(``make demo``). Run with ``nice``; each seed is one head training (about 1-2 min here).

    .venv/bin/python bench/seeds.py [--data-dir data] [--seeds 5] [--first-seed 0] [--set F=V ...]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from modalign.config import PathsSettings, Settings
from modalign.encoders.ensemble import HeadEnsemble
from modalign.encoders.features.extract import SplitFeatures
from modalign.encoders.features.source import FeatureSource
from modalign.encoders.fit import TrainConfig, recipe, train_heads
from modalign.encoders.heads import HeadSpec
from modalign.encoders.memory import MemorySpec, PairMemory
from modalign.encoders.metrics import image_to_text_ranks, recall_at, text_to_image_ranks
from modalign.encoders.training import head_embeddings, split_samples

HEADS_COLUMNS = ("val_t2i", "val_i2t", "test_t2i", "test_i2t")
COLUMNS = (*HEADS_COLUMNS, *(f"mem_{c}" for c in HEADS_COLUMNS))


def r10(images: np.ndarray, captions: np.ndarray, split: SplitFeatures) -> tuple[float, float]:
    """Text->image and image->text R@10 of unit embeddings of a split."""
    t2i = text_to_image_ranks(images, captions[split.first_caption])
    i2t = image_to_text_ranks(images, captions, split.caption_owner)
    return recall_at(t2i, 10), recall_at(i2t, 10)


def ensemble(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    scale = 1 / np.sqrt(len(parts))
    return (np.concatenate([p[0] for p in parts], axis=1) * scale,
            np.concatenate([p[1] for p in parts], axis=1) * scale)


def recalls(
    heads: torch.nn.Module, train: SplitFeatures, evals: dict[str, SplitFeatures], spec: MemorySpec
) -> list[float]:
    """R@10 of each eval split in both directions (``COLUMNS``): the heads alone, then with the
    pair memory of the training split."""
    embedded = {name: head_embeddings(heads, split) for name, split in evals.items()}
    row = [v for name, split in evals.items() for v in r10(*embedded[name], split)]
    memory = PairMemory.build(*head_embeddings(heads, train), train.caption_owner, spec)
    for name, split in evals.items():
        images, captions = embedded[name]
        row.extend(r10(memory.expand_images(images), memory.expand_texts(captions), split))
    return row


def override(config: TrainConfig, assignment: str) -> TrainConfig:
    """``config`` with one ``field=value`` (``spec.field=value``) changed; value parsed as JSON."""
    key, sep, text = assignment.partition("=")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    owner, name = (HeadSpec, key[5:]) if key.startswith("spec.") else (TrainConfig, key)
    if not sep or name not in {f.name for f in fields(owner)} or name == "spec":
        raise SystemExit(f"--set takes FIELD=VALUE with a field of {owner.__name__}, not {key!r}")
    if owner is HeadSpec:
        return config.with_spec(**{name: value})
    return replace(config, **{name: value})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds (N)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds S .. S+N-1")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one recipe field (spec.FIELD for the heads); repeatable")
    parser.add_argument("--views", default="plain,flip", help="training views (comma-separated)")
    parser.add_argument("--memory-neighbours", type=int, default=MemorySpec.neighbours)
    parser.add_argument("--memory-temperature", type=float, default=MemorySpec.temperature)
    parser.add_argument("--memory-weight", type=float, default=MemorySpec.weight)
    args = parser.parse_args()
    if args.seeds < 1 or args.first_seed < 0:
        parser.error("--seeds must be at least 1 and --first-seed at least 0")
    spec = MemorySpec(args.memory_neighbours, args.memory_temperature, args.memory_weight)
    settings = Settings().model_copy(update={"paths": PathsSettings(data_dir=args.data_dir)})
    torch.set_num_threads(settings.encoders.torch_threads)
    samples = split_samples(settings.paths.demo_dir / "manifest.jsonl")
    source = FeatureSource(settings)
    train = source.features(samples["train"], tuple(args.views.split(",")))
    evals = {name: source.features(samples[name]) for name in ("val", "test")}
    config = recipe(embed_dim=settings.encoders.embed_dim, kind=settings.encoders.head)
    config = config.with_spec(image_dim=train.images.shape[2], text_dim=train.captions.shape[1])
    for assignment in args.set:
        config = override(config, assignment)
    rows, embeddings, members = [], {name: [] for name in evals}, []
    print(f"{'seed':>5} {'epoch':>5} {'s':>5}  " + " ".join(f"{c:>12}" for c in COLUMNS))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        started = time.perf_counter()
        result = train_heads(train, evals["val"], replace(config, seed=seed))
        members.append(result.heads)
        row = recalls(result.heads, train, evals, spec)
        for name, split in evals.items():
            embeddings[name].append(head_embeddings(result.heads, split))
        rows.append(row)
        print(f"{seed:>5} {result.best_epoch:>5} {time.perf_counter() - started:>5.0f}  "
              + " ".join(f"{v:>12.1f}" for v in row), flush=True)
    table = np.asarray(rows)
    together = [v for name, split in evals.items() for v in r10(*ensemble(embeddings[name]), split)]
    projected = None
    if args.seeds > 1:
        joined = HeadEnsemble(config.with_spec(members=args.seeds).spec, members).eval()
        joined.fit_projection(train.images[:, 0], train.captions)
        projected = recalls(joined, train, evals, spec)
    summary = {
        "seeds": args.seeds, "first_seed": args.first_seed, "set": args.set, "views": args.views,
        "crop_to_content": settings.encoders.crop_to_content, "memory": spec.to_dict(),
        "mean": dict(zip(COLUMNS, table.mean(axis=0).round(2).tolist(), strict=True)),
        "sd": dict(zip(COLUMNS, table.std(axis=0, ddof=1).round(2).tolist(), strict=True))
        if args.seeds > 1 else None,
        "min": dict(zip(COLUMNS, table.min(axis=0).round(2).tolist(), strict=True)),
        "max": dict(zip(COLUMNS, table.max(axis=0).round(2).tolist(), strict=True)),
        "ensemble": dict(zip(HEADS_COLUMNS, np.round(together, 2).tolist(), strict=True)),
        "projected": dict(zip(COLUMNS, np.round(projected, 2).tolist(), strict=True))
        if projected else None,
        "per_seed": [dict(zip(COLUMNS, row, strict=True)) for row in table.round(2).tolist()],
    }
    for label in ("mean", "sd", "min", "max", "ensemble", "projected"):
        values = summary[label]
        if values:
            cells = [f"{values[c]:>12.1f}" for c in COLUMNS if c in values]
            print(f"{label:>17}  " + " ".join(cells))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
