#!/usr/bin/env python3
"""An independent reader and writer of tokend's sealed cache entries (SPEC §9),
with the AES-256-GCM of PyCA's `cryptography`, for the interoperability test.

    cache-entry.py open KEYHEX FILE PROFILE   prints the entry's JSON
    cache-entry.py seal KEYHEX PROFILE FINGERPRINT JSON   prints a sealed entry
"""
import base64
import os
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def aad(profile, fingerprint):
    return f"tokend-cache 1|{profile}|{fingerprint}".encode()


def main(argv):
    key = bytes.fromhex(argv[2])
    if argv[1] == "open":
        header, nonce, sealed = open(argv[3], "rb").read().split(b"\n")[:3]
        magic, version, protection, fingerprint = header.decode().split(" ")
        assert (magic, version, protection) == ("tokend-cache", "1", "aes-256-gcm"), header
        plain = AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(sealed), aad(argv[4], fingerprint))
        sys.stdout.write(plain.decode())
    elif argv[1] == "seal":
        profile, fingerprint, body = argv[3], argv[4], argv[5].encode()
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, body, aad(profile, fingerprint))
        sys.stdout.write(f"tokend-cache 1 aes-256-gcm {fingerprint}\n{base64.b64encode(nonce).decode()}\n{base64.b64encode(sealed).decode()}\n")
    else:
        raise SystemExit("usage: cache-entry.py open|seal ...")


if __name__ == "__main__":
    main(sys.argv)
