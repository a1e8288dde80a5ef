"""Atomic writes: an output is replaced only once its new version is complete, so a run
that fails half-way leaves the last good file in place."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs are not
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_files(*paths: Path) -> Iterator[list[IO[str]]]:
    """Text files opened for writing beside `paths`: all moved into place together when the
    block ends, all removed if it raises (a streamed output is never left half-written)."""
    tmps: list[Path] = []
    try:
        with ExitStack() as stack:
            files = []
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                tmps.append(Path(name))
                files.append(stack.enter_context(open(fd, "w", encoding="utf-8", newline="")))
            yield files
        for tmp, path in zip(tmps, paths, strict=True):
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp))


def json_text(data: Any) -> str:
    """The project's JSON files as text: indented, keys in their order, a final newline."""
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def write_json(data: Any, path: Path) -> Path:
    text = json_text(data)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_text(text: str, path: Path) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
