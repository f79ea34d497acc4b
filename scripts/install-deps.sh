#!/usr/bin/env bash
# Installs the Debian packages tokend builds and tests with, when missing.
set -euo pipefail
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libcurl 2>/dev/null || need+=(libcurl4-openssl-dev)
pkg-config --exists libcrypto 2>/dev/null && [[ -e /usr/include/openssl/evp.h ]] || need+=(libssl-dev)
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# The tests build tests/support/preload.c (an LD_PRELOAD library) with cc.
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
# The Debian package (make deb), its manual pages and its completions.
command -v dh >/dev/null 2>&1 || need+=(debhelper)
command -v dpkg-buildpackage >/dev/null 2>&1 || need+=(dpkg-dev)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v scdoc >/dev/null 2>&1 || need+=(scdoc)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# etcd for the fleet store's tests (SPEC §14): Debian's etcd-server and
# etcdctl, never its packaged service (the tests start their own members on
# free loopback ports): a policy-rc.d refuses the start during the install,
# and the unit is disabled where systemd runs.
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    echo "installing: etcd-server etcd-client (its service stays off)" >&2
    export DEBIAN_FRONTEND=noninteractive
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    ((${#need[@]})) || apt-get update -qq
    apt-get install -y -qq etcd-server etcd-client >/dev/null
    ((made_policy)) && rm -f "$policy"
    if [[ -d /run/systemd/system ]]; then systemctl disable --now etcd.service >/dev/null 2>&1 || true; fi
fi
# Independent implementations the interoperability tests run against
# (Authlib's OAuth 2.0 server on Flask), from PyPI.
if ! python3 -c 'import authlib, flask, cryptography, prometheus_client' >/dev/null 2>&1; then
    echo "installing from PyPI: authlib flask cryptography prometheus_client" >&2
    python3 -m pip install --quiet --disable-pip-version-check authlib flask cryptography prometheus_client 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages authlib flask cryptography prometheus_client
fi
