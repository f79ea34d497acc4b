#!/usr/bin/env python3
"""A minimal HTTPS token endpoint for tokend's TLS tests.

usage: https-idp.py CERT KEY [CLIENT_CA]

Serves POST /token on 127.0.0.1 (a free port, printed on stdout as the first
line) with the client-credentials grant for client "demo" / "demo-secret",
authenticated by HTTP Basic (RFC 6749 2.3.1) or in the form body.
With CLIENT_CA, a client certificate signed by it is required (mutual TLS).
"""
import base64
import json
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        client = (form.get("client_id", [None])[0], form.get("client_secret", [None])[0])
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            client = (urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password))
        ok = (self.path == "/token" and form.get("grant_type") == ["client_credentials"]
              and client == ("demo", "demo-secret"))
        body = json.dumps({"access_token": "tls-token-123", "token_type": "Bearer", "expires_in": 3600} if ok
                          else {"error": "invalid_client"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TLSServer(ThreadingHTTPServer):
    """Each connection's TLS handshake runs in its own thread: a client that
    stalls or fails the handshake cannot hold up the others."""
    daemon_threads = True
    context = None

    def finish_request(self, request, client_address):
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def main():
    cert, key = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if len(sys.argv) > 3:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[3])
    server = TLSServer(("127.0.0.1", 0), TokenHandler)
    server.context = context
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
