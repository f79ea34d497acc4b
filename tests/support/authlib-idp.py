#!/usr/bin/env python3
"""An independent OAuth 2.0 token endpoint for tokend's interoperability tests:
Authlib's AuthorizationServer (https://authlib.org) on Flask, not tokend's code.

usage: authlib-idp.py CLIENTS_JSON

CLIENTS_JSON is a file holding a list of clients:
  [{"client_id": "...", "client_secret": "...", "auth_method": "client_secret_basic"}, ...]
auth_method is client_secret_basic or client_secret_post.

Serves POST /token (client-credentials grant) on 127.0.0.1 at a free port,
printed on stdout as the first line; every token request is logged on stderr
as one JSON line {"client_id", "ok", "error"}. Authlib decodes the Basic
credentials with plain percent-decoding (urllib.parse.unquote: "+" stays
"+"), as several well-known servers do, and the body with form rules.
"""
import json
import sys

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from flask import Flask, request
from werkzeug.serving import make_server


class Client(ClientMixin):
    def __init__(self, entry):
        self.entry = entry

    def get_client_id(self):
        return self.entry["client_id"]

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return scope or ""

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return client_secret == self.entry.get("client_secret")

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.entry["auth_method"]

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def main():
    with open(sys.argv[1]) as f:
        clients = {c["client_id"]: Client(c) for c in json.load(f)}
    app = Flask("authlib-idp")
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": 3600}
    server = AuthorizationServer(app, query_client=clients.get, save_token=lambda token, req: None)
    server.register_grant(ClientCredentialsGrant)

    @app.route("/token", methods=["POST"])
    def token():
        response = server.create_token_response()
        body = response.get_json(silent=True) or {}
        record = {"ok": response.status_code == 200, "error": body.get("error"), "form": dict(request.form)}
        record["form"].pop("client_secret", None)
        print(json.dumps(record), file=sys.stderr, flush=True)
        return response

    http = make_server("127.0.0.1", 0, app, threaded=True)
    print(http.server_port, flush=True)
    http.serve_forever()


if __name__ == "__main__":
    main()
