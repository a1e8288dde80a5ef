"""Fetch the raw files from the official source, verifying each file's SHA-256.

This needs the internet; the offline path is `dvc pull data.dvc` from the repository's own
DVC remote. A file whose checksum differs from the one the source is known to serve is
refused and nothing is written in its place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 is not the expected one."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_verified(
    url: str,
    expected_sha256: str,
    dest: Path,
    timeout: float = 60,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download `url` to `dest` only if its SHA-256 matches; the old file stays otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                if progress:
                    progress(len(chunk))
        actual = digest.hexdigest()
        if actual != expected_sha256.lower():
            raise ChecksumError(
                f"{url}: SHA-256 mismatch, expected {expected_sha256}, got {actual}; "
                f"refusing the file ({dest} left as it was)"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download_all(
    base_url: str,
    checksums: dict[str, str],
    dest_dir: Path,
    timeout: float = 60,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Fetch every file named in `checksums` from `base_url` into `dest_dir`."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return [
        fetch_verified(base + name, sha, dest_dir / name, timeout, progress)
        for name, sha in checksums.items()
    ]
