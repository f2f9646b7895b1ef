#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A relay in front of a registry that stalls one blob part way.

usage: stall-relay.py PORTFILE UPSTREAM_PORT DIGEST NBYTES

Listens on a free loopback port (written to PORTFILE) and passes each
request to 127.0.0.1:UPSTREAM_PORT; the body of GET .../blobs/DIGEST is
cut after NBYTES and the connection then stalls (the client is killed by
the test), as a network that hangs in the middle of a pull; PORTFILE.stalled
is created once the NBYTES are sent.
"""
import http.client
import http.server
import os
import socketserver
import sys
import time

portfile, upstream, digest, nbytes = sys.argv[1], int(sys.argv[2]), \
    sys.argv[3], int(sys.argv[4])


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPConnection("127.0.0.1", upstream)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        c.request(method, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection"):
                self.send_header(k, v)
        self.end_headers()
        if method == "HEAD":
            return
        if method == "GET" and self.path.endswith("/blobs/" + digest):
            self.wfile.write(data[:nbytes])
            self.wfile.flush()
            open(portfile + ".stalled", "w").close()
            time.sleep(3600)
        self.wfile.write(data)

    def do_GET(self):
        self.relay("GET")

    def do_HEAD(self):
        self.relay("HEAD")

    def log_message(self, fmt, *args):
        pass


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = S(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
