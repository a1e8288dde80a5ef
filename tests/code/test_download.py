"""The official download: checksums verified, a mismatch refused, nothing half-written."""

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from iot_anomaly.config import Params
from iot_anomaly.data.download import ChecksumError, download_all, sha256_of


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server serving a folder, standing in for the official source."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_verifies_and_writes(server, tmp_path: Path) -> None:
    url, served = server
    payload = gzip.compress(b"0,tcp,http,SF\n")
    (served / "a.gz").write_bytes(payload)
    sums = {"a.gz": hashlib.sha256(payload).hexdigest()}
    [path] = download_all(url, sums, tmp_path / "data")
    assert path.read_bytes() == payload
    assert sha256_of(path) == sums["a.gz"]


def test_mismatch_is_refused_and_old_file_kept(server, tmp_path: Path) -> None:
    url, served = server
    (served / "a.gz").write_bytes(b"tampered")
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "a.gz").write_bytes(b"the good old copy")
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        download_all(url.rstrip("/"), {"a.gz": "0" * 64}, dest)
    assert (dest / "a.gz").read_bytes() == b"the good old copy"
    assert [p.name for p in dest.iterdir()] == ["a.gz"]  # no partial file left


def test_params_name_the_official_checksums(params: Params) -> None:
    sums = params.data.sha256
    assert sums["kddcup.data_10_percent.gz"].startswith("8045aca0")
    assert sums["corrected.gz"].startswith("abd81655")  # as UCI serves it
    assert params.data.source_url.startswith("http://kdd.ics.uci.edu/")
