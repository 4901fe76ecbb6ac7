"""Files that lmctui reads from a shared home or from a path typed on a command line.

Anyone who can write the home can put a FIFO, a symlink to `/dev/zero` or a 10 GB sparse
file where a config, a table or a weights file belongs. A plain `read_bytes()` then
blocks forever or reads until memory runs out. Every such read goes through here: the
path must name a regular file (checked before opening, and again on the opened
descriptor, so a swap in between is caught), no larger than what that kind of file can
sanely be, and the read itself stops at the limit even if the file grows meanwhile.
Opening uses O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lmctui import jsonio
from lmctui.errors import UserError

MIB = 1 << 20
# What each kind of file can sanely weigh; anything larger was not written by lmctui.
JSON_BYTES = 16 * MIB           # configs, cluster.json, permutations, progress files
METRICS_BYTES = 256 * MIB       # one line per epoch
TABLE_BYTES = 2048 * MIB        # a registry table at 10,000s of runs is a few tens of MiB
TENSOR_BYTES = 8192 * MIB       # weights, checkpoints, resume states of the small networks studied here


def _check(st: os.stat_result, path: Path, what: str, limit: int, error: type[UserError]) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {path} is not a regular file (a folder, a FIFO, a device or a link to one); "
                    "it was not read")
    if st.st_size > limit:
        raise error(f"{what} {path} is {st.st_size / MIB:,.0f} MiB, more than such a file can be "
                    f"({limit / MIB:,.0f} MiB); it was not read")


def read_regular_stat(path: str | os.PathLike, what: str, limit: int, offset: int = 0,
                      error: type[UserError] = UserError) -> tuple[bytes, os.stat_result]:
    """(the bytes of `path` from `offset`, its stat) if it is a regular file of at most `limit`
    bytes; otherwise `error` in one line. A missing file raises FileNotFoundError, other
    failures to open OSError, as `open` does."""
    path = Path(path)
    _check(os.stat(path), path, what, limit, error)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        _check(st, path, what, limit, error)
        if offset:
            os.lseek(fd, offset, os.SEEK_SET)
        chunks, left = [], limit + 1 - offset
        while left > 0:
            chunk = os.read(fd, min(left, 16 * MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:  # it grew past the limit while being read
        raise error(f"{what} {path} grew past {limit / MIB:,.0f} MiB while being read; it was not used")
    return b"".join(chunks), st


def read_regular(path: str | os.PathLike, what: str, limit: int, error: type[UserError] = UserError) -> bytes:
    """The bytes of `path`, refused (`error`) unless it is a regular file of at most `limit` bytes."""
    return read_regular_stat(path, what, limit, error=error)[0]


def read_json_file(path: str | os.PathLike, what: str, limit: int = JSON_BYTES) -> object:
    """One JSON document from a file a person wrote (a config, cluster settings): bounded in size
    and nesting. Every failure is a UserError naming `what` and the path."""
    path = Path(path)
    try:
        raw = read_regular(path, what, limit)
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except OSError as err:
        raise UserError(f"{what} {path} cannot be read ({err.strerror})") from None
    try:
        return jsonio.loads(raw, max_depth=jsonio.MAX_DEPTH)
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{what} {path}: cannot read it as JSON ({err})") from None
