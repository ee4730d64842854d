"""hooksink.py - a web-hook receiver for the integration tests: an HTTP
server in the test process that records every POST and answers per path
prefix with a scripted sequence of statuses, optionally after a delay."""

import http.server
import threading
import time


class Sink:
    """Records (path, headers, body, time) of every POST.

    script(prefix, statuses, delay): requests whose path starts with prefix
    get statuses[0], statuses[1], ... and then the last one forever, each
    after delay seconds.  Unscripted paths get 200 at once."""

    def __init__(self, ssl_context=None):
        self.requests = []
        self.scripts = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                code, delay = sink._next(self.path)
                if delay:
                    time.sleep(delay)
                with sink.cond:
                    sink.requests.append((self.path, dict(self.headers),
                                          body, time.monotonic(), code))
                    sink.cond.notify_all()
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:  # an https hook
            self.server.socket = ssl_context.wrap_socket(
                self.server.socket, server_side=True)
        self.scheme = "https" if ssl_context is not None else "http"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def _next(self, path):
        with self.lock:
            for prefix, s in self.scripts.items():
                if path.startswith(prefix):
                    code = s["statuses"][0]
                    if len(s["statuses"]) > 1:
                        s["statuses"].pop(0)
                    return code, s["delay"]
        return 200, 0

    def script(self, prefix, statuses, delay=0):
        with self.lock:
            self.scripts[prefix] = {"statuses": list(statuses),
                                    "delay": delay}

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def received(self, path):
        """(path, headers, body, time, status) of every POST to path."""
        with self.lock:
            return [r for r in self.requests if r[0] == path]

    def wait_count(self, path, n, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([r for r in self.requests if r[0] == path]) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "sink: %d POSTs to %s, expected %d" % (
                            len([r for r in self.requests
                                 if r[0] == path]), path, n))
                self.cond.wait(left)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
