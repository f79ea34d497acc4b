#!/usr/bin/python3
"""A token endpoint for tests/systemd-stage.sh (python3 standard library only).

POST /token   client-credentials grant: answers
              {"access_token": "stage-N-RANDOM", "token_type": "Bearer",
               "expires_in": EXPIRES_IN, "scope": ""}
              when the client secret (Basic or in the body) is --secret's;
              else 401 {"error": "invalid_client"}. Every POST counts.
GET /count    the number of POST /token so far, as a decimal line;
              /count?client_id=ID: those of that client only.
GET /last     the last access token issued (empty before the first).
POST /expires_in?value=N   sets the expires_in of the next tokens.

Listens on 127.0.0.1 only. Usage:
  test-idp.py [--port 8780] [--expires-in 3600] [--secret-file PATH]
"""
import argparse
import base64
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"count": 0, "by_client": {}, "serial": 0, "last": "", "expires_in": 3600, "secret": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # to the journal, without tokens
        print("%s %s" % (self.command, self.path), flush=True)

    def reply(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        with lock:
            if url.path == "/count":
                if "client_id" in query:
                    n = state["by_client"].get(query["client_id"][0], 0)
                else:
                    n = state["count"]
                return self.reply(200, "%d\n" % n, "text/plain")
            if url.path == "/last":
                return self.reply(200, state["last"], "text/plain")
        self.reply(404, "not found\n", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/expires_in":
            with lock:
                state["expires_in"] = int(query["value"][0])
            return self.reply(200, "ok\n", "text/plain")
        if url.path != "/token":
            return self.reply(404, "not found\n", "text/plain")
        form = urllib.parse.parse_qs(raw, keep_blank_values=True)
        client = secret = None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                pair = base64.b64decode(auth[6:]).decode().split(":", 1)
                client, secret = urllib.parse.unquote(pair[0]), urllib.parse.unquote(pair[1])
            except Exception:
                pass
        elif "client_secret" in form:
            client = form.get("client_id", [None])[0]
            secret = form["client_secret"][0]
        with lock:
            state["count"] += 1
            state["by_client"][client] = state["by_client"].get(client, 0) + 1
            if form.get("grant_type") != ["client_credentials"]:
                return self.reply(400, json.dumps({"error": "unsupported_grant_type"}))
            if state["secret"] is not None and secret != state["secret"]:
                return self.reply(401, json.dumps({"error": "invalid_client",
                                                   "error_description": "bad client secret"}))
            state["serial"] += 1
            token = "stage-%d-%s" % (state["serial"], secrets.token_hex(12))
            state["last"] = token
            body = {"access_token": token, "token_type": "Bearer",
                    "expires_in": state["expires_in"], "scope": ""}
        self.reply(200, json.dumps(body))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--secret-file")
    args = parser.parse_args()
    state["expires_in"] = args.expires_in
    if args.secret_file:
        with open(args.secret_file) as f:
            value = f.read()
        state["secret"] = value[:-1] if value.endswith("\n") else value
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("test IdP on 127.0.0.1:%d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
