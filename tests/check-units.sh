#!/usr/bin/env bash
# Checks the files tokend puts on a host (SPEC §8) without installing anything
# and without a running systemd (works in a CI container with the `systemd`
# package installed but not running as PID 1):
#
#   1. systemd-analyze verify of tokend.socket + tokend.service, with
#      /usr/local/bin/tokend replaced by a real binary; any warning about
#      a tokend unit (unknown key, bad value, missing executable) fails.
#   2. systemd-analyze security --offline: exposure must be <= MAX_EXPOSURE (1.2).
#   3. sysusers.d and tmpfiles.d entries, applied to a scratch root directory.
#   4. config/tokend.toml passes `tokend --check` (dummy credentials), and every
#      client_secret_credential it names has a LoadCredential= in the service.
#
# Usage: tests/check-units.sh [PATH-TO-TOKEND]
#   default binary: $TOKEND_BIN, else .build/debug/tokend, .build-release/release/tokend,
#   .build/release/tokend; with none, steps 1-3 run against a stand-in and 4 is skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
MAX_EXPOSURE=${MAX_EXPOSURE:-1.2}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

if ! command -v systemd-analyze >/dev/null; then
    echo "check-units: systemd-analyze not found (Debian/Ubuntu: apt-get install -y systemd)" >&2
    exit 2
fi
echo "using $(systemd-analyze --version | head -n 1)"

binary=${1:-${TOKEND_BIN:-}}
if [[ -z $binary ]]; then
    for candidate in .build/debug/tokend .build-release/release/tokend .build/release/tokend; do
        if [[ -x $candidate ]]; then binary=$candidate; break; fi
    done
fi
real_binary=yes
if [[ -z $binary ]]; then
    echo "note: no tokend binary built; the units are verified against a stand-in and the configuration check is skipped"
    binary=$(type -P true)
    real_binary=no
fi
[[ -x $binary ]] || { echo "check-units: $binary is not an executable" >&2; exit 2; }
binary=$(realpath "$binary")
echo "tokend binary: $binary"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- 1. systemd-analyze verify -------------------------------------------
mkdir -p "$work/units"
for unit in tokend.socket tokend.service; do
    sed "s|/usr/local/bin/tokend|$binary|g" "systemd/$unit" > "$work/units/$unit"
done
grep -q "ExecStart=$binary " "$work/units/tokend.service" || fail "ExecStart= of tokend.service does not name /usr/local/bin/tokend"

set +e
verify_output=$(cd "$work/units" && systemd-analyze verify tokend.socket tokend.service 2>&1)
verify_status=$?
set -e
if [[ -n $verify_output ]]; then
    echo "systemd-analyze verify said:"
    sed 's/^/    /' <<<"$verify_output"
fi
if [[ $verify_status -ne 0 ]]; then
    fail "systemd-analyze verify exited $verify_status"
elif grep -q 'tokend' <<<"$verify_output"; then
    fail "systemd-analyze verify warned about a tokend unit"
else
    pass "systemd-analyze verify tokend.socket tokend.service"
fi

# ---- 2. systemd-analyze security -----------------------------------------
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 + 0.5 }')
set +e
security_output=$(systemd-analyze security --offline=true --threshold="$threshold" --no-pager "$work/units/tokend.service" 2>&1)
security_status=$?
set -e
overall=$(grep -o 'Overall exposure level for tokend.service: [0-9.]*' <<<"$security_output" | awk '{print $NF}' || true)
if [[ -z $overall ]]; then
    sed 's/^/    /' <<<"$security_output"
    fail "systemd-analyze security printed no exposure level"
else
    echo "directives counted against tokend.service:"
    grep -E '^✗' <<<"$security_output" | sed 's/^/    /' || true
    if [[ $security_status -ne 0 ]] || awk -v e="$overall" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
        fail "systemd-analyze security: exposure $overall is above $MAX_EXPOSURE"
    else
        pass "systemd-analyze security --offline=true: exposure $overall (at most $MAX_EXPOSURE)"
    fi
fi

# ---- 3. sysusers.d and tmpfiles.d, in a scratch root ---------------------
root="$work/root"
mkdir -p "$root/etc/tokend"
touch "$root/etc/tokend/tokend.toml" "$root/etc/tokend/usage-engine.secret"
chmod 0644 "$root/etc/tokend/tokend.toml" "$root/etc/tokend/usage-engine.secret"
if systemd-sysusers --root="$root" - < systemd/tokend.sysusers >/dev/null 2>&1 &&
   grep -q '^_tokend:' "$root/etc/passwd" && grep -q '^_tokend:' "$root/etc/group" && grep -q '^tokend:' "$root/etc/group"; then
    pass "sysusers: user and group _tokend ($(grep '^_tokend:' "$root/etc/passwd")), clients' group tokend"
else
    fail "systemd-sysusers did not create user _tokend and groups _tokend, tokend from systemd/tokend.sysusers"
fi
# The clients' group must grant nothing but the socket: no member, and not
# the group of the configuration.
if [[ -n $(awk -F: '$1 == "tokend" { print $4 }' "$root/etc/group") ]]; then
    fail "sysusers: group tokend (the clients' group) has members"
fi
# The daemon keeps its own group as a supplementary one: systemd gives a
# User= the groups that list it as a member.
if awk -F: '$1 == "_tokend" { print $4 }' "$root/etc/group" | grep -qx '_tokend'; then
    pass "sysusers: _tokend is a listed member of group _tokend (its supplementary group under Group=tokend)"
else
    fail "sysusers: _tokend is not listed as a member of group _tokend: under Group=tokend it could not read /etc/tokend"
fi
grep -q '^Group=tokend$' systemd/tokend.service && grep -q '^User=_tokend$' systemd/tokend.service \
    && pass "tokend.service: User=_tokend, Group=tokend" \
    || fail "tokend.service must run as User=_tokend with Group=tokend"
# After a reboot the wall clock places cached tokens and dates assertions:
# start once it is set (SPEC §9; docs/OPERATIONS.md "Start").
grep -Eq '^After=(.* )?time-sync\.target( |$)' systemd/tokend.service \
    && pass "tokend.service: After=time-sync.target" \
    || fail "tokend.service must order itself After=time-sync.target (a clock not yet set after a reboot)"
# ExecReload= must not read the credentials (systemd 252 does not give them
# to it under a private mount namespace) and must not need procps' kill.
if grep -q '^ExecReload=.*--check' systemd/tokend.service; then
    fail "tokend.service: ExecReload= runs tokend --check, which cannot read the credentials on systemd 252"
elif grep -q '^ExecReload=/bin/kill' systemd/tokend.service; then
    fail "tokend.service: ExecReload= needs /bin/kill (procps), missing on minimal systems"
else
    pass "tokend.service: ExecReload= only signals ($(grep '^ExecReload=' systemd/tokend.service | cut -d= -f2-))"
fi
grep -q '^SocketGroup=tokend$' systemd/tokend.socket && pass "tokend.socket: SocketGroup=tokend" || fail "tokend.socket: SocketGroup= is not tokend"
# Ownership is only checked when we may chown (root); the syntax always is.
if systemd-tmpfiles --root="$root" --create - < systemd/tokend.tmpfiles; then
    gid=$(awk -F: '$1 == "_tokend" { print $3 }' "$root/etc/group")
    clients=$(awk -F: '$1 == "tokend" { print $3 }' "$root/etc/group")
    describe() { stat -c '%a %u:%g' "$1"; }
    if [[ $(id -u) -ne 0 ]]; then
        pass "tmpfiles: systemd/tokend.tmpfiles applies (ownership not checked: not root)"
    elif [[ $gid != "$clients" &&
            $(describe "$root/etc/tokend") == "750 0:$gid" &&
            $(describe "$root/etc/tokend/tokend.toml") == "640 0:$gid" &&
            $(describe "$root/etc/tokend/usage-engine.secret") == "600 0:0" ]]; then
        pass "tmpfiles: /etc/tokend 0750 root:_tokend, tokend.toml 0640 root:_tokend, *.secret 0600 root:root (not the clients' group)"
    else
        fail "tmpfiles: unexpected modes: $(describe "$root/etc/tokend"), $(describe "$root/etc/tokend/tokend.toml"), $(describe "$root/etc/tokend/usage-engine.secret")"
    fi
else
    fail "systemd-tmpfiles refused systemd/tokend.tmpfiles"
fi

# ---- 4. the example configuration -----------------------------------------
credentials=$(sed -n 's/^[[:space:]]*client_secret_credential[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' config/tokend.toml)
mkdir -p "$work/credentials"
for name in $credentials; do
    if grep -q "^LoadCredential=$name:" systemd/tokend.service; then
        pass "credential $name: LoadCredential=$(grep "^LoadCredential=$name:" systemd/tokend.service | cut -d= -f2-)"
    else
        fail "config/tokend.toml names credential $name, but tokend.service has no LoadCredential=$name:..."
    fi
    printf 'dummy-secret\n' > "$work/credentials/$name"
done
if [[ $real_binary == yes ]]; then
    if check_output=$(CREDENTIALS_DIRECTORY="$work/credentials" "$binary" --check --config config/tokend.toml 2>&1); then
        pass "tokend --check config/tokend.toml: $check_output"
    else
        sed 's/^/    /' <<<"$check_output"
        fail "tokend --check rejects config/tokend.toml"
    fi
else
    echo "skip: tokend --check config/tokend.toml (no tokend binary)"
fi

if [[ $failures -ne 0 ]]; then
    echo "check-units: $failures check(s) failed" >&2
    exit 1
fi
echo "check-units: all checks passed"
