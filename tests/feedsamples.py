"""Upstream feed samples from the corpus (``feeds/upstream-samples/*.zip``) and a static
mirror to serve them from, for the distro feed tests (``db update`` against 127.0.0.1)."""

from __future__ import annotations

import threading
import zipfile
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

SAMPLES = "feeds/upstream-samples"


def sample_bytes(corpus: Path, archive: str, member: str) -> bytes:
    with zipfile.ZipFile(corpus / SAMPLES / archive) as zf:
        return zf.read(member)


def sample(corpus: Path, archive: str, member: str, dest: Path) -> Path:
    """``member`` of the sample ``archive`` written to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(sample_bytes(corpus, archive, member))
    return dest


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """``root`` over HTTP on a free 127.0.0.1 port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
