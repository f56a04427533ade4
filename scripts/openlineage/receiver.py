#!/usr/bin/env python3
"""A test OpenLineage HTTP receiver that validates what it is sent.

Usage: receiver.py SPEC_DIR PORT_FILE EVENTS_FILE [--fail-first N]

Listens on 127.0.0.1 on a free port and writes the port to PORT_FILE once listening
(written to a temporary file and renamed, so a reader never sees it half-written).
Runs until killed.

  POST /api/v1/lineage   JSON body. The first N such requests (--fail-first, default 0)
                         are answered 503 and not stored, to test a sender's retries.
                         Then the body is validated with olschema (SPEC_DIR is what
                         fetch_spec.sh made): valid -> appended to EVENTS_FILE as one
                         line, 201; invalid -> 400 with {"errors": [...]}, and the line
                         {"invalid": true, "errors": [...]} appended to EVENTS_FILE so
                         validate.py reports it. A body that is not JSON -> 400.
  GET /health            200.
  anything else          404 (405 for another method on /api/v1/lineage).

EVENTS_FILE is flushed after each line, so a test can read it while the receiver runs.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import olschema  # noqa: E402

LINEAGE_PATH = "/api/v1/lineage"


class State:
    def __init__(self, registry, events_file, fail_first):
        self.registry = registry
        self.events = open(events_file, "a", encoding="utf-8")
        self.fail_left = fail_first
        self.lock = threading.Lock()

    def take_failure(self):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return True
            return False

    def append(self, record):
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        with self.lock:
            self.events.write(line + "\n")
            self.events.flush()


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps a client's connection open between events, as a pooled client
    # (reqwest) expects; every answer below carries a Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "medlake-openlineage-receiver"

    def log_message(self, fmt, *args):
        sys.stderr.write("[receiver] %s %s\n" % (self.address_string(), fmt % args))

    def answer(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def path_only(self):
        return self.path.split("?", 1)[0]

    def do_GET(self):
        if self.path_only() == "/health":
            self.answer(200, {"status": "ok"})
        elif self.path_only() == LINEAGE_PATH:
            self.answer(405, {"error": "use POST"})
        else:
            self.answer(404, {"error": "not found: %s" % self.path_only()})

    def do_POST(self):
        # Read the body whatever the answer, so the connection stays usable.
        body = self.read_body()
        if self.path_only() != LINEAGE_PATH:
            self.answer(404, {"error": "not found: %s" % self.path_only()})
            return
        state = self.server.state
        if state.take_failure():
            self.answer(503, {"error": "failing on purpose (--fail-first)"})
            return
        try:
            event = json.loads(body)
        except ValueError as e:
            self.answer(400, {"errors": ["not JSON: %s" % e]})
            return
        errors = olschema.validate_event(event, state.registry)
        if errors:
            state.append({"invalid": True, "errors": errors})
            self.answer(400, {"errors": errors})
        else:
            state.append(event)
            self.answer(201)


class Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a sender posting many events at once
    # would see connections reset.
    request_queue_size = 128
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("spec_dir")
    parser.add_argument("port_file")
    parser.add_argument("events_file")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N")
    args = parser.parse_args()

    registry = olschema.load_registry(args.spec_dir)
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(registry, args.events_file, args.fail_first)
    port = server.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)
    sys.stderr.write("[receiver] listening on 127.0.0.1:%d, events to %s\n" % (port, args.events_file))
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
