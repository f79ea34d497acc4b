#!/usr/bin/env python3
"""An independent OAuth 2.0 token endpoint for tokend's interoperability tests:
Authlib's AuthorizationServer (https://authlib.org) on Flask, not tokend's code.

usage: authlib-idp.py CLIENTS_JSON [CLOCK_OFFSET_SECONDS]

CLIENTS_JSON is a file holding a list of clients:
  [{"client_id": "...", "client_secret": "...", "auth_method": "client_secret_basic"}, ...]
auth_method is client_secret_basic, client_secret_post, client_secret_jwt,
private_key_jwt (RFC 7523; it names its public key as "public_key" (PEM) and
"key_type" (RSA, EC or OKP)) or federated_assertion (SPEC §13: an assertion
that a trusted issuer signed, not the client; it names "issuer", "subject",
"audience" and the issuer's "issuer_public_key" (PEM, RSA), and the client is
the form's client_id). Client assertions are verified by
Authlib's JWTBearerClientAssertion with joserfc: signature, iss = sub, aud =
the token URL, exp (leeway 0), and a jti seen once. CLOCK_OFFSET_SECONDS
shifts the server's clock (to test expired assertions).

Serves POST /token (client-credentials grant) on 127.0.0.1 at a free port,
printed on stdout as the first line; every token request is logged on stderr
as one JSON line {"client_id", "ok", "error"}. Authlib decodes the Basic
credentials with plain percent-decoding (urllib.parse.unquote: "+" stays
"+"), as several well-known servers do, and the body with form rules.
"""
import json
import sys
import threading
import time

LOG_LOCK = threading.Lock()

# The server's clock, shifted before joserfc reads it.
_OFFSET = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
_real_time = time.time
time.time = lambda: _real_time() + _OFFSET

from authlib.integrations.flask_oauth2 import AuthorizationServer  # noqa: E402
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion  # noqa: E402
from joserfc import jwt as jose_jwt  # noqa: E402
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey  # noqa: E402
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
        if method == Assertion.CLIENT_AUTH_METHOD:
            return self.entry["auth_method"] in ("private_key_jwt", "client_secret_jwt", "federated_assertion")
        return method == self.entry["auth_method"]

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "client_assertion_jwt"]


class Assertion(JWTBearerClientAssertion):
    """RFC 7523 client authentication, as Authlib verifies it."""

    ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]
    token_url = None
    seen = set()

    def get_audiences(self):
        return [Assertion.token_url]

    def __call__(self, query_client, request):
        # A federated assertion names the workload (sub) and its issuer (iss),
        # not the client: the client is the form's client_id, and the key is
        # the trusted issuer's (as Entra ID's federated credentials work).
        data = request.form
        client = query_client(data.get("client_id")) if data.get("client_id") else None
        if (client is None or client.entry["auth_method"] != "federated_assertion"
                or data.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE or not data.get("client_assertion")):
            return super().__call__(query_client, request)
        from authlib.oauth2.rfc6749 import InvalidClientError
        from joserfc.errors import JoseError
        entry = client.entry
        try:
            token = jose_jwt.decode(data["client_assertion"], RSAKey.import_key(entry["issuer_public_key"]), algorithms=["RS256"])
            jose_jwt.JWTClaimsRegistry(leeway=0, iss={"essential": True, "value": entry["issuer"]},
                                       sub={"essential": True, "value": entry["subject"]},
                                       aud={"essential": True, "value": entry["audience"]},
                                       exp={"essential": True}).validate(token.claims)
        except JoseError as e:
            raise InvalidClientError(description=e.description) from e
        request.client = client
        return self.authenticate_client(client)

    def validate_jti(self, claims, jti):
        key = (claims["sub"], jti)
        if key in Assertion.seen:
            return False
        Assertion.seen.add(key)
        return True

    def resolve_client_public_key(self, client):
        entry = client.entry
        if entry["auth_method"] == "client_secret_jwt":
            return OctKey.import_key(entry["client_secret"])
        kind = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[entry["key_type"]]
        return kind.import_key(entry["public_key"])

    def extract_assertion(self, assertion):
        # Authlib reads the header with joserfc's default 512-byte limit,
        # which an x5c chain exceeds; the same reading with a larger limit.
        from authlib.oauth2.rfc6749 import InvalidClientError
        from joserfc import jws
        from joserfc.jws import JWSRegistry
        registry = JWSRegistry(algorithms=self.ALGORITHMS)
        registry.max_header_length = 16384
        try:
            obj = jws.extract_compact(assertion.encode(), registry=registry)
            claims = json.loads(obj.payload)
        except Exception as e:
            raise InvalidClientError(description="Invalid JWT assertion.") from e
        if not isinstance(claims, dict):
            raise InvalidClientError(description="Invalid JWT payload.")
        return obj.headers(), claims

    def process_assertion_claims(self, assertion, resolve_key):
        # joserfc accepts only its "recommended" algorithms unless told: name all six.
        from authlib.oauth2.rfc6749 import InvalidClientError
        from joserfc.errors import JoseError
        # An x5c chain makes the header larger than joserfc's default 512 bytes.
        from joserfc.jws import JWSRegistry
        registry = JWSRegistry(algorithms=self.ALGORITHMS)
        registry.max_header_length = 16384
        try:
            token = jose_jwt.decode(assertion, resolve_key, algorithms=self.ALGORITHMS, registry=registry)
        except JoseError as e:
            raise InvalidClientError(description=e.description) from e
        self.verify_claims(token.claims)
        return token.claims


def main():
    with open(sys.argv[1]) as f:
        clients = {c["client_id"]: Client(c) for c in json.load(f)}
    app = Flask("authlib-idp")
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": 3600}
    server = AuthorizationServer(app, query_client=clients.get, save_token=lambda token, req: None)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(Assertion.CLIENT_AUTH_METHOD, Assertion(leeway=0))

    @app.route("/token", methods=["POST"])
    def token():
        response = server.create_token_response()
        body = response.get_json(silent=True) or {}
        record = {"ok": response.status_code == 200, "error": body.get("error"), "description": body.get("error_description"),
                  "form": dict(request.form), "authorization": request.headers.get("Authorization") is not None}
        record["form"].pop("client_secret", None)
        # One write per line under a lock: requests are served on several
        # threads, and print() writes the text and its newline separately.
        with LOG_LOCK:
            sys.stderr.write(json.dumps(record) + "\n")
            sys.stderr.flush()
        return response

    http = make_server("127.0.0.1", 0, app, threaded=True)
    Assertion.token_url = f"http://127.0.0.1:{http.server_port}/token"
    print(http.server_port, flush=True)
    http.serve_forever()


if __name__ == "__main__":
    main()
