#!/usr/bin/env python3
"""Mints what a workload identity issuer (Kubernetes, SPIFFE, a CI system)
writes to a token file: an RS256 JWT signed with joserfc.

usage: mint-jwt.py ISSUER_KEY_PEM ISS SUB AUD EXP_UNIX
Prints the compact JWS on stdout.
"""
import sys
import time

from joserfc import jwt
from joserfc.jwk import RSAKey

key_file, iss, sub, aud, exp = sys.argv[1:6]
key = RSAKey.import_key(open(key_file).read())
claims = {"iss": iss, "sub": sub, "aud": aud, "iat": int(time.time()), "exp": int(exp)}
print(jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, key))
