"""The confinement rule: names resolve, and opened files lie, under the source root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from modalign.errors import InvalidInputError
from modalign.ingest.sources.paths import (
    printable_name,
    read_optional_under,
    read_under,
    resolve_under,
)

from .conftest import SECRET, as_nobody


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return root.resolve()


def test_a_symlink_swapped_in_after_planning_is_refused_when_read(
    tmp_path: Path, secret_dir: Path
) -> None:
    root = _root(tmp_path)
    (root / "a.txt").write_text("a caption")
    planned = resolve_under(root, "a.txt")
    (root / "a.txt").unlink()
    (root / "a.txt").symlink_to(secret_dir / "secret.txt")
    with pytest.raises(InvalidInputError, match="outside the source root"):
        read_under(root, planned, max_bytes=1000)


def test_a_symlinked_folder_leading_out_is_refused(tmp_path: Path, secret_dir: Path) -> None:
    root = _root(tmp_path)
    (root / "sub").symlink_to(secret_dir, target_is_directory=True)
    with pytest.raises(InvalidInputError, match="outside the source root"):
        read_under(root, root / "sub/secret.txt", max_bytes=1000)
    with pytest.raises(InvalidInputError, match="outside the source root"):
        resolve_under(root, "sub/secret.txt")


def test_symlinks_that_stay_inside_are_followed(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "real").mkdir()
    (root / "real/a.txt").write_text("inside")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert read_under(root, root / "alias/a.txt", max_bytes=100) == b"inside"


def test_a_proc_file_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "env.txt").symlink_to("/proc/self/environ")
    with pytest.raises(InvalidInputError, match="outside the source root"):
        read_optional_under(root, root / "env.txt", max_bytes=1 << 20)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    root = _root(tmp_path)
    os.mkfifo(root / "pipe.txt")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_optional_under(root, root / "pipe.txt", max_bytes=100, what="sidecar pipe.txt")


def test_a_device_and_a_folder_are_refused(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "dir.txt").mkdir()
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_under(root, root / "dir.txt", max_bytes=100)
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_under(None, Path("/dev/zero"), max_bytes=100)


def test_the_byte_limit_is_checked_before_reading(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "big.txt").write_bytes(b"x" * 101)
    with pytest.raises(InvalidInputError, match="101 bytes, above the limit of 100"):
        read_under(root, root / "big.txt", max_bytes=100, what="sidecar big.txt")
    assert read_under(root, root / "big.txt", max_bytes=101) == b"x" * 101


def test_absent_and_unnameable_optional_files_are_none(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert read_optional_under(root, root / "nothing.txt", max_bytes=10) is None
    assert read_optional_under(root, root / ("x" * 300 + ".txt"), max_bytes=10) is None
    assert read_optional_under(root, root / "nothing/deeper.txt", max_bytes=10) is None
    with pytest.raises(InvalidInputError, match="not found"):
        read_under(root, root / "nothing.txt", max_bytes=10)


def test_names_the_file_system_refuses_are_item_errors(tmp_path: Path) -> None:
    root = _root(tmp_path)
    with pytest.raises(InvalidInputError, match="too long"):
        resolve_under(root, "x" * 300 + ".png")
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    with pytest.raises(InvalidInputError, match="symlink loop"):
        resolve_under(root, "a/x.png")


def test_undecodable_names_are_refused_and_printed_with_escapes(tmp_path: Path) -> None:
    root = _root(tmp_path)
    name = os.fsdecode(b"caf\xe9.png")
    Image.new("RGB", (8, 8)).save(os.fsencode(root) + b"/caf\xe9.png", format="PNG")
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        resolve_under(root, name)
    assert printable_name(name) == "caf\\xe9.png"
    assert printable_name("bad\ud800") == "bad\ufffd"


def test_permission_denied_is_an_item_error(open_tree: Path) -> None:
    root = open_tree.resolve()
    (root / "locked.txt").write_text(SECRET)
    (root / "locked.txt").chmod(0)
    with as_nobody(), pytest.raises(InvalidInputError, match="Permission denied"):
        read_under(root, root / "locked.txt", max_bytes=100)
