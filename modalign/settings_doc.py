"""The configuration reference: every Settings field as a Markdown table row.

The README's configuration table is this function's output; a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterator

from modalign.config import setting_fields


def _rows() -> Iterator[tuple[str, str, str]]:
    for env, field in setting_fields():
        default = field.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else f"`{default}`"
        yield f"`{env}`", shown, field.description or ""


def settings_table() -> str:
    """A Markdown table of every setting: environment variable, default, meaning."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows = _rows()
    lines += [f"| {env} | {default} | {meaning} |" for env, default, meaning in rows]
    return "\n".join(lines)
