#!/usr/bin/env python3
"""Checks the certificate members of client assertions' JWS headers (SPEC
§13) with libraries that are not tokend's: `cryptography` reads the PEM
certificates and computes the digests of their DER, joserfc verifies the
signature with the leaf certificate's public key. For each entry of the JSON
list in argv[1]
  {"assertion", "certificate_file", "x5t": "sha1" | "sha256" | "both", "x5c": bool}
x5t = base64url(SHA-1(DER)) and x5t#S256 = base64url(SHA-256(DER)) of the
first certificate, present exactly as chosen; x5c the chain in standard
base64, in file order, present exactly when asked. Prints "ok N" or the
problems; exit 1 on any.
"""
import base64
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from joserfc import jws
from joserfc.jws import JWSRegistry
from joserfc.jwk import RSAKey, ECKey


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    problems = []
    entries = json.load(open(sys.argv[1]))
    for index, entry in enumerate(entries):
        certificates = x509.load_pem_x509_certificates(open(entry["certificate_file"], "rb").read())
        ders = [c.public_bytes(serialization.Encoding.DER) for c in certificates]
        leaf = certificates[0]
        public_pem = leaf.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        kind = RSAKey if "RSA" in type(leaf.public_key()).__name__ else ECKey
        # An x5c chain makes the header larger than joserfc's default 512 bytes.
        registry = JWSRegistry(algorithms=["RS256", "PS256", "ES256", "ES384"])
        registry.max_header_length = 16384
        try:
            token = jws.deserialize_compact(entry["assertion"], kind.import_key(public_pem), registry=registry)
        except Exception as e:
            problems.append(f"#{index}: signature with the certificate's key: {e!r}")
            continue
        header = token.protected
        expected = {}
        if entry["x5t"] in ("sha1", "both"):
            digest = hashes.Hash(hashes.SHA1())
            digest.update(ders[0])
            expected["x5t"] = b64url(digest.finalize())
        if entry["x5t"] in ("sha256", "both"):
            expected["x5t#S256"] = b64url(leaf.fingerprint(hashes.SHA256()))
        if entry["x5c"]:
            expected["x5c"] = [base64.b64encode(d).decode() for d in ders]
        for name in ("x5t", "x5t#S256", "x5c"):
            if header.get(name) != expected.get(name):
                problems.append(f"#{index}: {name} {header.get(name)!r} != {expected.get(name)!r}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok {len(entries)}")


if __name__ == "__main__":
    main()
