"""`modalign train`, `modalign evaluate`, `modalign models ...`: the dual encoder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modalign.commands import fail, settings_of
from modalign.commands.console import progress_display, stderr_console
from modalign.config import Settings
from modalign.encoders import defaults
from modalign.errors import ModalignError

if TYPE_CHECKING:
    from rich.console import Console

    from modalign.encoders.evaluate import EvalResult, ModelEvaluation
    from modalign.encoders.fit import EpochRecord, TrainConfig
    from modalign.encoders.memory import MemorySpec
    from modalign.progress import ProgressDisplay, Tracker

models_app = typer.Typer(help="Model versions: list, activate.", no_args_is_help=True)

BASELINE_DIR = "baseline-toy"
VIEWS = ("plain", "flip", "zoom")
WORST_QUERIES = 20  # shown on the evaluation page


class EpochProgress:
    """``on_epoch`` of a training run: one task over every head's epochs (an ensemble's heads
    counted on from each other), opened at the first epoch (after the features), its note the
    last epoch's loss and validation R@10."""

    def __init__(self, display: ProgressDisplay, epochs: int, members: int) -> None:
        self.display, self.epochs, self.members = display, epochs, members
        self.tracker: Tracker | None = None
        self.member, self.last = 0, 0

    def __call__(self, record: EpochRecord) -> None:
        if self.tracker is None:
            self.tracker = self.display.open("training epochs", self.epochs * self.members)
        if record.epoch <= self.last:
            self.member += 1
        self.last = record.epoch
        note = (f"loss {record.loss:.3f}, val R@10 t2i {record.val_t2i_r10:.1f} "
                f"i2t {record.val_i2t_r10:.1f}")
        if self.members > 1:
            note = f"head {self.member + 1}/{self.members}, {note}"
        self.tracker.update(self.member * self.epochs + record.epoch, None, note)


def _manifest(settings: Settings, manifest: Path | None) -> Path:
    from modalign.encoders.training import default_manifest

    path = manifest or default_manifest(settings)
    if not path.exists():
        raise fail(f"manifest {path} does not exist (build it with `modalign data build-demo`)")
    return path


def _metrics_table(results: list[EvalResult], console: Console) -> None:
    from rich import box
    from rich.table import Table

    table = Table("model", "split", "direction", "R@1", "R@5", "R@10", "median", "mean",
                  box=box.SIMPLE_HEAD, show_edge=False)
    for result in results:
        metrics = result.metrics()
        for direction in ("text_to_image", "image_to_text"):
            m = metrics[direction]
            table.add_row(
                result.model, result.split, direction, f"{m['R@1']:.1f}", f"{m['R@5']:.1f}",
                f"{m['R@10']:.1f}", f"{m['median_rank']:g}", f"{m['mean_rank']:.1f}",
            )
    console.print(table)


def _train_config(
    settings: Settings, head: str, input_dropout: float, members: int, **changes: Any
) -> TrainConfig:
    """The recipe with the command's options: the heads' input dropout and member count, and
    ``changes`` to the other ``TrainConfig`` fields."""
    from modalign.encoders.fit import recipe

    config = recipe(settings.seed, settings.encoders.embed_dim, head)  # type: ignore[arg-type]
    return replace(config.with_spec(input_dropout=input_dropout, members=members), **changes)


def _views(text: str) -> tuple[str, ...]:
    """The augmented views to train on, from a comma-separated list."""
    views = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        raise fail(f"--views takes a comma-separated subset of {', '.join(VIEWS)}, not {text!r}")
    return views


def _run_training(
    settings: Settings, manifest: Path, version: str | None, config: TrainConfig,
    views: tuple[str, ...], memory: MemorySpec,
) -> None:
    from modalign.encoders.model_versions import register_checkpoint
    from modalign.encoders.training import train_model

    console = stderr_console()
    with progress_display(console) as display:
        epochs = EpochProgress(display, config.epochs, config.spec.members)
        outcome = train_model(
            settings, manifest, config, version, views, sink=display, on_epoch=epochs,
            memory_spec=memory,
        )
    activated = register_checkpoint(settings, outcome.directory, outcome.card)
    _metrics_table(list(outcome.evals.values()), console)
    timings = ", ".join(f"{k} {v:.1f}" for k, v in outcome.timings.items())
    console.print(
        f"model {outcome.card.name} written to {outcome.directory} ({timings}); "
        f"best epoch {outcome.result.best_epoch}; "
        + ("activated" if activated else "activate it with `modalign models activate`"),
        soft_wrap=True,
    )


def _run_baseline(settings: Settings, manifest: Path, seconds: float, seed: int) -> None:
    from modalign.encoders.baseline import train_baseline
    from modalign.encoders.evaluate import ranks_file, save_ranks
    from modalign.encoders.training import split_samples

    console = stderr_console()
    with progress_display(console) as display:
        tracker = display.open("toy baseline (s)", round(seconds))

        def on_epoch(epochs: int, elapsed: float) -> None:
            tracker.update(min(round(elapsed), round(seconds)), None, f"{epochs} epochs")

        outcome = train_baseline(split_samples(manifest), seconds, seed, on_epoch=on_epoch)
    directory = settings.paths.models_dir / BASELINE_DIR
    for split, result in outcome.evals.items():
        save_ranks(result, ranks_file(directory, split))
    metrics = {split: result.metrics() for split, result in outcome.evals.items()}
    summary = {"epochs": outcome.epochs, "seconds": round(outcome.seconds, 1), "metrics": metrics}
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    r10 = ", ".join(
        f"{split} {m['text_to_image']['R@10']:.1f} / {m['image_to_text']['R@10']:.1f}"
        for split, m in metrics.items()
    )
    console.print(f"baseline: {outcome.epochs} epochs in {outcome.seconds:.0f} s, R@10 t2i / i2t "
                  f"{r10} -> {directory}", soft_wrap=True)


def train(
    ctx: typer.Context,
    manifest: Annotated[Path | None, typer.Option(help="JSONL manifest (default: demo).")] = None,
    version: Annotated[
        str | None, typer.Option(help="Model version name (default: resume or next v<N>).")
    ] = None,
    epochs: Annotated[
        int, typer.Option(min=1, help="Maximum epochs (early stop on val).")
    ] = defaults.EPOCHS,
    head: Annotated[
        str | None, typer.Option(help="Head kind: linear or mlp (default from settings).")
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Train the toy baseline instead.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Baseline CPU-time budget (s).")] = 120.0,
    input_dropout: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Dropout on the heads' normalised inputs.")
    ] = defaults.INPUT_DROPOUT,
    feature_noise: Annotated[float, typer.Option(
        min=0.0, help="Gaussian noise on image features while training (x their std).")
    ] = defaults.FEATURE_NOISE,
    text_noise: Annotated[float, typer.Option(
        min=0.0, help="Gaussian noise on caption features while training (x their std).")
    ] = defaults.TEXT_NOISE,
    weight_decay: Annotated[
        float, typer.Option(min=0.0, help="AdamW weight decay.")
    ] = defaults.WEIGHT_DECAY,
    views: Annotated[str, typer.Option(
        help="Augmented views of training images: plain, flip, zoom.")
    ] = ",".join(defaults.TRAINING_VIEWS),
    finetune_top: Annotated[int | None, typer.Option(
        min=0, max=16, help="Fine-tune the image tower's last N blocks (default from settings; "
        "0: frozen tower).")] = None,
    tower_lr_scale: Annotated[float, typer.Option(
        min=0.0, help="Fine-tuned tower's learning rate relative to the heads'.")
    ] = defaults.TOWER_LR_SCALE,
    first_caption_prob: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Chance that a training step pairs an image with its name "
        "caption rather than one of its other captions.")] = defaults.FIRST_CAPTION_PROB,
    members: Annotated[int, typer.Option(
        min=1, max=16, help="Train this many heads (seeds seed, seed+1, ...) and use them as one "
        "ensemble projected back to embed_dim.")] = 1,
    memory_weight: Annotated[float, typer.Option(
        min=0.0, help="Weight of the pair memory: embeddings get the weighted mean of their "
        "nearest training pairs' other modality (0: no memory).")] = defaults.MEMORY_WEIGHT,
    memory_neighbours: Annotated[int, typer.Option(
        min=1, help="Nearest training pairs the memory mixes in.")] = defaults.MEMORY_NEIGHBOURS,
    memory_temperature: Annotated[float, typer.Option(
        min=0.001, help="Softmax temperature over the neighbours' cosines.")
    ] = defaults.MEMORY_TEMPERATURE,
) -> None:
    """Train the projection heads of the dual encoder (or, with --baseline, the toy model)."""
    settings = settings_of(ctx)
    path = _manifest(settings, manifest)
    kind = head or settings.encoders.head
    if kind not in ("linear", "mlp"):
        raise fail(f"--head must be linear or mlp, not {kind!r}")
    try:
        if baseline:
            _run_baseline(settings, path, seconds, settings.seed)
        else:
            top = settings.encoders.finetune_top if finetune_top is None else finetune_top
            config = _train_config(
                settings, kind, input_dropout, members, epochs=epochs,
                feature_noise=feature_noise, text_noise=text_noise, weight_decay=weight_decay,
                finetune_top=top, tower_lr_scale=tower_lr_scale,
                first_caption_prob=first_caption_prob,
            )
            from modalign.encoders.memory import MemorySpec

            memory = MemorySpec(memory_neighbours, memory_temperature, memory_weight)
            _run_training(settings, path, version, config, _views(views), memory)
    except ModalignError as exc:
        raise fail(str(exc)) from exc


def _write_reports(
    settings: Settings, evaluation: ModelEvaluation, results: list[EvalResult], heads_only: bool
) -> tuple[Path, Path]:
    """The Markdown report (with its recall plot) and the self-contained HTML page."""
    from modalign.encoders.report import plot_recall, write_report
    from modalign.encoders.report_page import write_page

    out = settings.paths.reports_dir
    backend = settings.encoders.image_backend
    suffix = ("" if backend == "onnx" else f"-{backend}") + ("-heads" if heads_only else "")
    stem = f"eval-{results[0].model}-{results[0].split}{suffix}"
    plot = plot_recall(results, out / f"{stem}-recall.png")
    notes = [f"image backend: {settings.encoders.image_backend}",
             "pair memory: " + ("left out (--heads-only)" if heads_only else "the model's, if any")]
    page = write_page(results, evaluation.samples, evaluation.worst, out / f"{stem}.html", notes)
    return write_report(results, out / f"{stem}.md", plot, [*notes, f"page: {page.name}"]), page


def _with_baseline(settings: Settings, result: EvalResult) -> list[EvalResult]:
    from modalign.encoders.evaluate import load_ranks, ranks_file

    saved = ranks_file(settings.paths.models_dir / BASELINE_DIR, result.split)
    return [result, load_ranks(saved, result.split)] if saved.exists() else [result]


def evaluate(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Model version (default: active).")] = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    manifest: Annotated[Path | None, typer.Option(help="JSONL manifest (default: demo).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    heads_only: Annotated[bool, typer.Option(
        "--heads-only", help="Leave the model's pair memory out (the heads alone).")] = False,
) -> None:
    """Evaluate a model version on a split: exact R@1/5/10, median and mean rank."""
    from modalign.encoders.evaluate import evaluate_model

    settings = settings_of(ctx)
    path = _manifest(settings, manifest)
    console = stderr_console()
    try:
        with progress_display(console) as display:
            evaluation = evaluate_model(
                settings, path, split, model, display, heads_only, WORST_QUERIES
            )
        results = _with_baseline(settings, evaluation.result)
        report, page = _write_reports(settings, evaluation, results, heads_only)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(evaluation.result.metrics()))
        return
    _metrics_table(results, console)
    console.print(f"report: {report} (and {page.name})", soft_wrap=True)


def _version_dict(info: Any) -> dict[str, Any]:
    test = info.metrics.get("test", {})
    return {
        "name": info.name, "dims": info.dims, "active": info.active,
        "created_at": info.created_at.isoformat(), "checkpoint": info.checkpoint_path,
        "test_t2i_R@10": test.get("text_to_image", {}).get("R@10"),
        "test_i2t_R@10": test.get("image_to_text", {}).get("R@10"),
    }


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered model versions (* marks the active one)."""
    from modalign.encoders.model_versions import list_versions

    try:
        rows = [_version_dict(info) for info in list_versions(settings_of(ctx))]
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        mark = "*" if row["active"] else " "
        typer.echo(
            f"{mark} {row['name']:<16} dims={row['dims']} created={row['created_at']} "
            f"test R@10 t2i={row['test_t2i_R@10']} i2t={row['test_i2t_R@10']}"
        )


@models_app.command("activate")
def models_activate(
    ctx: typer.Context, version: Annotated[str, typer.Argument(help="Model version name.")]
) -> None:
    """Make a model version the active one."""
    from modalign.encoders.model_versions import activate_version

    try:
        info = activate_version(settings_of(ctx), version)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"active model: {info.name}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.add_typer(models_app, name="models")


