#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A small docker token server for the registry tests (Debian ships none).

usage: token-server.py PORTFILE KEY CERT ISSUER SERVICE USER PASSWORD

Listens on a free loopback port (written to PORTFILE), answers
GET /token?service=..&scope=.. with HTTP basic auth USER:PASSWORD by a
JWT (RS256, signed with `openssl dgst`, the certificate in x5c) granting
the scopes asked for; 401 for other credentials.  Each request is logged
on stderr without its credentials.
"""
import base64
import http.server
import json
import subprocess
import sys
import time
import urllib.parse

portfile, key, cert, issuer, service, user, password = sys.argv[1:8]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     check=True, capture_output=True).stdout


def token(sub, scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) == 3:
            access.append({"type": parts[0], "name": parts[1],
                           "actions": parts[2].split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256",
              "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": issuer, "sub": sub, "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": str(now) + sub,
              "access": access}
    signing = (b64url(json.dumps(header).encode()) + "." +
               b64url(json.dumps(claims).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=signing.encode(), check=True,
                         capture_output=True).stdout
    return signing + "." + b64url(sig)


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        ok = False
        if auth.startswith("Basic "):
            try:
                u_, p_ = base64.b64decode(auth[6:]).decode().split(":", 1)
                ok = (u_, p_) == (user, password)
            except Exception:
                ok = False
        if u.path != "/token" or not ok:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"token": token(user, q.get("scope", [])),
                           "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("token: %s\n" % (self.path,))


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
