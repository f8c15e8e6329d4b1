"""Finding the input files and rejecting unusable ones before any work starts.

Only regular files (or symlinks to them) are inputs. A FIFO, socket or
device whose name matches an extension is refused with one line naming it:
opening a FIFO blocks until someone writes to it (the job would hang with no
output), and a device or socket has no size to plan with. A dangling symlink
is refused the same way, like any unreadable file: silently skipping any of
them would change the count without telling.
"""
from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass

from wordcount.errors import UserError
from wordcount.tokenize import csv_texts


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute
    size: int


def _matches(path: str, extensions: tuple[str, ...]) -> bool:
    return path.lower().endswith(extensions)


def _unlistable(exc: OSError) -> None:
    """A directory we cannot list would silently drop its files from the count."""
    raise UserError(f"cannot list directory {exc.filename}: {exc.strerror}")


def _check_name(path: str) -> None:
    """Paths travel through Redis as UTF-8; an undecodable name cannot."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
        raise UserError(f"file name {shown} is not valid UTF-8; rename it") from None


def _candidates(data_path: str) -> list[str]:
    if os.path.isdir(data_path):
        found = []
        for root, dirs, files in os.walk(data_path, onerror=_unlistable):
            dirs.sort()
            found.extend(os.path.join(root, f) for f in files)
        return found
    if os.path.lexists(data_path) and not glob.has_magic(data_path):
        return [data_path]  # a single file, checked like any other
    if glob.has_magic(data_path):
        return [p for p in glob.glob(data_path, recursive=True) if not os.path.isdir(p)]
    raise UserError(
        f"data path {data_path!r} does not exist; pass --data DIR|GLOB or set data_path in config.json"
    )


def _check_csv_header(path: str, column: str) -> None:
    """Fail fast on a CSV without the text column instead of inside a worker."""
    with open(path, "rb") as fh:
        first = fh.read(1 << 16).decode("utf-8-sig", errors="replace")
    list(csv_texts(first.split("\n", 1)[0] + "\n", column, path))


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _regular_size(path: str) -> int:
    """The size of `path` if it is a regular file; without opening it (a FIFO would block)."""
    st = os.stat(path)  # follows symlinks; a dangling one raises FileNotFoundError
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise UserError(f"input {path} is {kind}, not a regular file; only regular files are inputs: "
                        "move it out of the data directory or narrow --data")
    return st.st_size


def find_inputs(data_path: str, extensions: tuple[str, ...], csv_column: str) -> list[InputFile]:
    """Every readable input file under `data_path`, sorted, with its size."""
    files = sorted({os.path.abspath(p) for p in _candidates(data_path) if _matches(p, extensions)})
    if not files:
        raise UserError(
            f"no input files ({', '.join(extensions)}) under {data_path!r}; "
            "check --data or the 'extensions' setting"
        )
    out = []
    for path in files:
        _check_name(path)
        try:
            size = _regular_size(path)
            with open(path, "rb"):
                pass
            if path.lower().endswith(".csv") and size > 0:
                _check_csv_header(path, csv_column)
            out.append(InputFile(path, size))
        except OSError as exc:
            raise UserError(f"cannot read input file {path}: {exc.strerror}") from None
    return out
