"""The configuration reference: every Settings field as a Markdown table row.

The README's configuration table is this function's output; a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from modalign.config import Settings


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _rows(annotation, f"{prefix}{name.upper()}__")
            continue
        default = field.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else f"`{default}`"
        yield f"`{prefix}{name.upper()}`", shown, field.description or ""


def settings_table() -> str:
    """A Markdown table of every setting: environment variable, default, meaning."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows = _rows(Settings, "MODALIGN_")
    lines += [f"| {env} | {default} | {meaning} |" for env, default, meaning in rows]
    return "\n".join(lines)
