"""Opening a file with the system's opener (``xdg-open``, macOS ``open``), when there is one.

On a machine without a display or without an opener nothing is started and the caller prints
the link instead; a failing opener is not an error of the command.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping


def opener_command(platform: str, env: Mapping[str, str]) -> list[str] | None:
    """The command that opens a link on this system, or None (no display, or none installed)."""
    if platform == "darwin":
        name = "open"
    elif platform.startswith(("linux", "freebsd", "openbsd")):
        if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
            return None
        name = "xdg-open"
    else:
        return None
    found = shutil.which(name)
    return [found] if found else None


def open_link(link: str, platform: str, env: Mapping[str, str]) -> bool:
    """Start the system's opener on ``link`` (detached, silent); False when there is none or it
    cannot be started."""
    command = opener_command(platform, env)
    if command is None:
        return False
    try:
        subprocess.Popen(
            [*command, link], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError:
        return False
    return True
