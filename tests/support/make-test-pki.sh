#!/usr/bin/env bash
# Creates a throw-away PKI in DIR for the TLS tests: a CA, a server
# certificate for 127.0.0.1 and a client certificate, all signed by the CA.
# usage: make-test-pki.sh DIR [CA_NAME]  (CAs that must be told apart need
# different names: OpenSSL finds an issuer by its subject name)
set -euo pipefail
dir=$1
name=${2:-tokend test CA}
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$name" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=tokend client" -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem 2>/dev/null
chmod 600 ./*.key
