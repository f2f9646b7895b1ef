#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""static-registry.py LAYOUT: serve an OCI layout read-only as a registry
(distribution API GET/HEAD only: /v2/, manifests by tag or digest, blobs)
on a free loopback port, printed on stdout, for unit-alloc's pull walk.
Every request gets a complete answer with Content-Length (keep-alive)."""
import hashlib
import http.server
import json
import os
import socket
import sys

LAYOUT = sys.argv[1]
TAG = "org.opencontainers.image.ref.name"


def blob(digest):
    if not digest.startswith("sha256:") or "/" in digest:
        return None
    p = os.path.join(LAYOUT, "blobs", "sha256", digest[7:])
    return open(p, "rb").read() if os.path.isfile(p) else None


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # one write per answer, sent at once (no 40 ms delayed-ACK stalls)
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def handle(self):
        # a TLS ClientHello (the client tries https first): close at once,
        # so that it falls back to plain http without waiting
        try:
            if self.request.recv(1, socket.MSG_PEEK) == b"\x16":
                return
        except OSError:
            return
        super().handle()

    def answer(self, code, body, ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def unknown(self, code):
        self.answer(404, json.dumps({"errors": [{"code": code, "message": "unknown"}]}).encode())

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")
        if self.path.split("?")[0] in ("/v2", "/v2/"):
            return self.answer(200, b"{}")
        if len(parts) < 5 or parts[1] != "v2":
            return self.unknown("NAME_UNKNOWN")
        kind, ref = parts[-2], parts[-1]
        if kind == "blobs":
            b = blob(ref)
            if b is None:
                return self.unknown("BLOB_UNKNOWN")
            return self.answer(200, b, "application/octet-stream",
                               {"Docker-Content-Digest": ref})
        if kind == "manifests":
            if not ref.startswith("sha256:"):
                idx = json.load(open(os.path.join(LAYOUT, "index.json")))
                d = [m["digest"] for m in idx["manifests"]
                     if m.get("annotations", {}).get(TAG) == ref]
                ref = d[0] if d else ""
            b = blob(ref)
            if b is None:
                return self.unknown("MANIFEST_UNKNOWN")
            mt = json.loads(b).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            return self.answer(200, b, mt, {"Docker-Content-Digest":
                                            "sha256:" + hashlib.sha256(b).hexdigest()})
        return self.unknown("UNSUPPORTED")

    do_HEAD = do_GET


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
