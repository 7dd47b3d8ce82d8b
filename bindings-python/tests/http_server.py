"""A scripted HTTP server of one's own on a free loopback port, for the
HTTP client tests: each path answers statuses (with headers), hangs, or
drops the connection, as a test scripts it, and counts its requests."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple, Union

# An action of the server: a status (with headers), "hang" (answer 200 only
# when the test ends or releases it) or "drop" (close without answering).
Action = Union[int, Tuple[int, Dict[str, str]], str]


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out reset their connections


class Server:
    """A ThreadingHTTPServer on a free loopback port. Each path answers
    the actions scripted for it in order, then 200 (503 while ``down``);
    ``hits`` counts the requests each path received."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.script: Dict[str, List[Action]] = {}
        self.down = False
        self.release = threading.Event()
        self.hanging = threading.Event()
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                path = self.path.split("?")[0]
                with owner.lock:
                    owner.hits[path] += 1
                    queued = owner.script.get(path)
                    action: Action = queued.pop(0) if queued else (503 if owner.down else 200)
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "hang":
                    owner.hanging.set()
                    owner.release.wait(30)
                    action = 200
                status, headers = action if isinstance(action, tuple) else (action, {})
                assert isinstance(status, int)
                body = b"ok" if status == 200 else b"failed"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = serve

        self.httpd = _Quiet(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def breaker_name(self) -> str:
        return f"http:127.0.0.1:{self.port}"

    def then(self, path: str, *actions: Action) -> None:
        with self.lock:
            self.script.setdefault(path, []).extend(actions)

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
