"""The system opener: none on a headless machine, the installed one where there is a display."""

from __future__ import annotations

import shutil

from modalign.commands.opener import open_link, opener_command


def test_no_opener_without_a_display() -> None:
    assert opener_command("linux", {}) is None
    assert open_link("file:///tmp/x.png", "linux", {"TERM": "xterm"}) is False
    assert opener_command("win32", {"DISPLAY": ":0"}) is None


def test_xdg_open_where_there_is_a_display() -> None:
    found = shutil.which("xdg-open")
    assert opener_command("linux", {"DISPLAY": ":0"}) == ([found] if found else None)
    assert opener_command("linux", {"WAYLAND_DISPLAY": "wayland-0"}) == (
        [found] if found else None
    )
