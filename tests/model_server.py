"""A loopback HTTP server for the model-download tests: serves a mirror directory laid out as
FaceFusion's releases (``<release>/<file>``, ``<release>/<stem>.hash``), honours ``Range``,
and plays injected faults per path, one per request, in order."""
from __future__ import annotations

import os
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Dict, Iterable, Iterator, List, Tuple

from facefuse.inference.registry import lookup


def write_mirror(root: Path, names: Iterable[str]) -> Dict[str, Path]:
    """Stand-in models (facefuse.testing) at their release paths under ``root``, each with its
    ``.hash`` companion; returns model name -> the served file."""
    from facefuse.testing import builders

    table = builders()
    out = {}
    for name in names:
        entry = lookup(name)
        d = root / entry.release
        d.mkdir(parents=True, exist_ok=True)
        path = table[name](d)
        assert path.name == entry.file_name, (path, entry.file_name)
        (d / entry.hash_name).write_text(format(zlib.crc32(path.read_bytes()) & 0xFFFFFFFF, "08x"))
        out[name] = path
    return out


class ModelServer:
    """``faults[url_path]``: a list of actions used up one per request of that path:
    ``"404"``, ``"500"``, ``"cut"`` (send half the body, then close), ``"corrupt"`` (one byte
    flipped), ``"stall"`` (send a little, then hang until the server stops), ``"norange"``
    (ignore Range: the whole file with 200), ``"slow"`` (the body in small pieces, slowly)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.faults: Dict[str, List[str]] = {}
        self.requests: List[Tuple[str, str]] = []  # (path, Range header or "")
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a cut connection is the point, not news
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def gets(self, suffix: str) -> List[str]:
        """The Range headers of the requests whose path ends with ``suffix``."""
        return [r for p, r in self.requests if p.endswith(suffix)]

    def __enter__(self) -> "ModelServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        rng = h.headers.get("Range", "")
        self.requests.append((path, rng))
        queue = self.faults.get(path) or []
        fault = queue.pop(0) if queue else ""
        if fault in ("404", "500"):
            body = f"fault {fault}".encode()
            h.send_response(int(fault))
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        file = (self.root / path.lstrip("/")).resolve()
        if not str(file).startswith(str(self.root.resolve())) or not file.is_file():
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        data = file.read_bytes()
        if fault == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        start = 0
        m = re.match(r"bytes=(\d+)-$", rng)
        if m and fault != "norange":
            start = int(m.group(1))
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if fault == "cut":
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)  # the peer sees the body end early
            return
        if fault == "stall":
            h.wfile.write(body[:16])
            h.wfile.flush()
            self._stop.wait(30)
            h.close_connection = True
            return
        if fault == "slow":
            step = max(1, len(body) // 20)
            for i in range(0, len(body), step):
                h.wfile.write(body[i:i + step])
                h.wfile.flush()
                if self._stop.wait(0.02):
                    return
            return
        h.wfile.write(body)


def file_crc(path: os.PathLike) -> str:
    return format(zlib.crc32(Path(path).read_bytes()) & 0xFFFFFFFF, "08x")


@contextmanager
def serving(root: Path, monkeypatch: Any) -> Iterator["ModelServer"]:
    """A :class:`ModelServer` of ``root`` as the package's mirror (``FACEFUSE_MODEL_URL``), with
    downloads allowed (the suite's conftest sets ``FACEFUSE_OFFLINE``)."""
    with ModelServer(root) as s:
        monkeypatch.setenv("FACEFUSE_MODEL_URL", s.url)
        monkeypatch.delenv("FACEFUSE_OFFLINE", raising=False)
        yield s
