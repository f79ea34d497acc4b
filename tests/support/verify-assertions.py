#!/usr/bin/env python3
"""Checks client assertions (RFC 7523) with joserfc, a JOSE library that is
not tokend's: for each entry of the JSON list in argv[1]
  {"assertion", "public_key" (PEM) or "secret", "key_type" (RSA, EC, OKP, oct),
   "alg", "client_id", "aud", "lifetime", "kid" (or null)}
the signature with the public key, every header field and claim, exp - iat,
and that no two jti are alike. Prints "ok N" or the first problems; exit 1 on any.
"""
import base64
import json
import sys

from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

KINDS = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]


def main():
    entries = json.load(open(sys.argv[1]))
    keys = {}
    problems = []
    jtis = set()
    for index, entry in enumerate(entries):
        def problem(text):
            problems.append(f"#{index}: {text}")
        marker = entry.get("public_key") or entry.get("secret")
        if marker not in keys:
            if entry["key_type"] == "oct":
                keys[marker] = OctKey.import_key(entry["secret"])
            else:
                keys[marker] = KINDS[entry["key_type"]].import_key(entry["public_key"])
        parts = entry["assertion"].split(".")
        if len(parts) != 3 or any("=" in p or "+" in p or "/" in p for p in parts):
            problem("not a compact JWS in base64url without padding")
            continue
        try:
            token = jws.deserialize_compact(entry["assertion"], keys[marker], algorithms=ALGORITHMS)
        except Exception as e:  # a bad signature, a wrong alg...
            problem(f"signature: {e!r}")
            continue
        header = token.protected
        expected = {"alg": entry["alg"], "typ": "JWT"}
        if entry.get("kid"):
            expected["kid"] = entry["kid"]
        if header != expected:
            problem(f"header {header} != {expected}")
        claims = json.loads(token.payload)
        if set(claims) != {"iss", "sub", "aud", "jti", "iat", "exp"}:
            problem(f"claims {sorted(claims)}")
        if claims.get("iss") != entry["client_id"] or claims.get("sub") != entry["client_id"]:
            problem("iss/sub is not the client id")
        if claims.get("aud") != entry["aud"]:
            problem(f"aud {claims.get('aud')!r} != {entry['aud']!r}")
        if not isinstance(claims.get("iat"), int) or claims.get("exp") - claims.get("iat") != entry["lifetime"]:
            problem(f"exp - iat != {entry['lifetime']}")
        jti = claims.get("jti", "")
        raw = base64.urlsafe_b64decode(jti + "=" * (-len(jti) % 4))
        if len(raw) != 16:
            problem(f"jti of {len(raw) * 8} bits")
        if jti in jtis:
            problem(f"jti {jti} used twice")
        jtis.add(jti)
    if problems:
        print("\n".join(problems[:10]))
        sys.exit(1)
    print(f"ok {len(entries)}")


if __name__ == "__main__":
    main()
