"""Where an export may be written: a regular file it creates or replaces, never the registry's own.

The registry home is shared, so its `exports/` folder (or any folder an export names) may
hold links and special files that someone else put there. An export therefore never
writes through or replaces a symlink, a FIFO, a device or a folder, and decides whether
a path is inside the home after resolving every link: `HOME/exports` pointing at
`tables/` or at the home itself must not let an export overwrite the journal or the
manifest. `HOME/exports/` itself is created when missing (it is where the refusal of
other home paths sends people).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from lmctui.errors import FieldError

EXPORTS_DIR = "exports"


def export_target(out: str | os.PathLike, home: str | os.PathLike | None) -> Path:
    """The path an export to `out` may write, checked (FieldError on `out` otherwise)."""
    path = Path(out).expanduser()
    if not str(out).strip():
        raise FieldError("out", "must name a file, got an empty string")
    try:
        if home is not None:
            _make_exports_dir(path, Path(home))
        target = path.parent.resolve() / path.name  # every link above the file resolved; the file's own below
        if home is not None:
            _refuse_inside_home(path, target, Path(home).resolve())
        _refuse_special(path)
        parent_exists = path.parent.is_dir()
    except OSError as err:  # a name too long for the file system, a loop of links
        raise FieldError("out", f"cannot write {str(path)[:80]}: {err.strerror}") from None
    if not parent_exists:
        raise FieldError("out", f"{path}: folder {path.parent} does not exist")
    return path


def _make_exports_dir(path: Path, home: Path) -> None:
    exports = home.resolve() / EXPORTS_DIR
    if not os.path.lexists(path.parent) and path.parent.resolve() == exports and home.is_dir():
        exports.mkdir(exist_ok=True)


def _refuse_inside_home(path: Path, target: Path, real_home: Path) -> None:
    if target.is_relative_to(real_home) and not target.parent.is_relative_to(real_home / EXPORTS_DIR):
        raise FieldError("out", f"{path} is inside the registry home {real_home} (links resolved); write exports "
                                f"elsewhere or under {real_home / EXPORTS_DIR}")


def _refuse_special(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise FieldError("out", f"{path} is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise FieldError("out", f"{path} is not a regular file (a link, a FIFO or a device); an export "
                                "never replaces one")


def write_export(path: Path, write) -> Path:
    """Call `write(file)` on a fresh temporary file beside `path`, then rename it over `path`
    (checked again just before: still not a link or special file). Nothing is left on failure."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise FieldError("out", f"{path}: cannot write there ({err.strerror})") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            write(f)
        _refuse_special(path)
        os.replace(tmp, path)
    except OSError as err:
        raise FieldError("out", f"{path}: cannot write there ({err.strerror})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
