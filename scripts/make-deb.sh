#!/usr/bin/env bash
# make deb: builds dist/tokend_VERSION_amd64.deb with Debian's tools
# (debhelper compat 13, dpkg-buildpackage -b), then runs lintian on it.
# The version is the one of Sources/TokendCore/TokendVersion.swift (what
# `tokend --version` prints); TOKEND_DEB_VERSION overrides it (the systemd
# stage builds a higher one to test an upgrade). debian/changelog is written
# here, from that version; it is not kept in git. TOKEND_DEB_LINTIAN=0 skips
# lintian.
#
#   scripts/make-deb.sh            (SCRATCH_PATH: the release build directory, default .build-release)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
version=${TOKEND_DEB_VERSION:-$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/TokendCore/TokendVersion.swift)}
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "make-deb: no usable version ('$version')" >&2; exit 1; }
cat > debian/changelog <<END
tokend ($version) unstable; urgency=medium

  * Version $version, built from the tokend repository.

 -- tokend maintainers <tokend@example.org>  $(date -R)
END
started=$(date +%s)
export SCRATCH=${SCRATCH_PATH:-$PWD/.build-release}
[[ $SCRATCH == /* ]] || SCRATCH=$PWD/$SCRATCH
dpkg-buildpackage -b -us -uc --no-sign
mkdir -p dist
for f in ../tokend_"${version}"_amd64.deb ../tokend_"${version}"_amd64.buildinfo ../tokend_"${version}"_amd64.changes; do
    [[ -e $f ]] && mv -f "$f" dist/
done
deb=dist/tokend_${version}_amd64.deb
echo "make-deb: $deb ($(du -k "$deb" | cut -f1) KiB) in $(( $(date +%s) - started )) s"
dpkg-deb --info "$deb" | sed -n 's/^ \(Depends\|Installed-Size\|Version\):/  \1:/p'
if [[ ${TOKEND_DEB_LINTIAN:-1} == 1 ]]; then
    echo "== lintian"
    lintian --info --no-tag-display-limit "$deb" || { echo "make-deb: lintian reports an error" >&2; exit 1; }
fi
