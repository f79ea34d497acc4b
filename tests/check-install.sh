#!/usr/bin/env bash
# make check-install: `make install` into a scratch DESTDIR, then checks the
# tree: every file in place, binaries that link no Swift library and
# run with the Swift toolchain hidden, an operator's configuration kept by a
# second install and by uninstall.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mktemp -d /tmp/tokend-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }
scratch=${SCRATCH_PATH:-.build-release}

make --no-print-directory install DESTDIR="$dest" SCRATCH_PATH="$scratch" >/dev/null
for f in usr/local/bin/tokend usr/local/bin/tokenctl \
         etc/systemd/system/tokend.service etc/systemd/system/tokend.socket \
         usr/lib/sysusers.d/tokend.conf usr/lib/tmpfiles.d/tokend.conf \
         etc/tokend/tokend.toml usr/local/share/doc/tokend/OPERATIONS.md; do
    [ -e "$dest/$f" ] || fail "$f is missing"
done
[ "$(stat -c %a "$dest/etc/tokend/tokend.toml")" = 640 ] || fail "tokend.toml is not mode 0640"

for b in tokend tokenctl; do
    bin="$dest/usr/local/bin/$b"
    links=$(ldd "$bin" 2>/dev/null | awk '/=>|ld-linux/ {print $1}' | tr '\n' ' ' || true)
    case "$links" in *swift*|*Swift*) fail "$b links a Swift library: $links" ;; esac
    echo "$b: $(du -h "$bin" | cut -f1), links: ${links:-nothing (static executable)}"
done

# Run both with the toolchain out of sight (a tmpfs over its directory, in a
# private mount namespace) and an empty environment.
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
run_hidden() {
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        unshare -m sh -c "mount -t tmpfs none '$toolchain' && exec env -i PATH=/usr/bin:/bin \"\$@\"" sh "$@"
    else
        env -i PATH=/usr/bin:/bin "$@"
    fi
}
run_hidden "$dest/usr/local/bin/tokend" --version | grep -q '^tokend ' || fail "tokend --version does not run"
run_hidden "$dest/usr/local/bin/tokenctl" --help | grep -q 'tokenctl' || fail "tokenctl --help does not run"
status=0
run_hidden "$dest/usr/local/bin/tokenctl" --socket /nonexistent/tokend.sock ping 2>/dev/null || status=$?
[ "$status" = 69 ] || fail "tokenctl ping on no daemon exited $status, not 69"

# An operator's edit survives a second install and the uninstall.
echo "# edited by the operator" >> "$dest/etc/tokend/tokend.toml"
make --no-print-directory install DESTDIR="$dest" SCRATCH_PATH="$scratch" >/dev/null
grep -q "edited by the operator" "$dest/etc/tokend/tokend.toml" || fail "install replaced the operator's configuration"
make --no-print-directory uninstall DESTDIR="$dest" >/dev/null
[ ! -e "$dest/usr/local/bin/tokend" ] || fail "uninstall left tokend"
[ ! -e "$dest/etc/systemd/system/tokend.service" ] || fail "uninstall left the unit"
grep -q "edited by the operator" "$dest/etc/tokend/tokend.toml" || fail "uninstall removed the operator's configuration"
echo "check-install: ok ($dest)"
