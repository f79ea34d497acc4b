# tokend: build, test and install.
#
#   make                  debug build
#   make release          release build, Swift standard library linked statically
#   make test             ./scripts/test.sh
#   make dev              ./scripts/dev.sh (tokend --dev: a local demonstration)
#   make check-units      tests/check-units.sh (systemd-analyze verify + security)
#   make check-install    make install into a scratch DESTDIR and check the tree
#   sudo make check-systemd  tests/systemd-stage.sh: the installed units under a
#                         real systemd booted in a container (systemd-nspawn)
#   make deb              dist/tokend_VERSION_amd64.deb with debhelper, checked by lintian
#   sudo make install     release build + binaries, units, sysusers, tmpfiles, config
#   sudo make uninstall   removes what install put (never /etc/tokend/tokend.toml)
#   make bench | chaos | chaos-fleet | abuse   release build, then tokend-bench (Benchmarks/)
#   make fuzz | test-sanitize
#
# Variables (make VAR=value): PREFIX DESTDIR BINDIR DOCDIR UNITDIR SYSUSERSDIR
# TMPFILESDIR SYSCONFDIR SCRATCH_PATH SWIFT. See docs/OPERATIONS.md.

SWIFT        ?= swift
# SwiftPM's build directory; e.g. SCRATCH_PATH=.build-release keeps release
# artefacts apart from a debug build running in .build.
SCRATCH_PATH ?= .build

PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
DOCDIR       ?= $(PREFIX)/share/doc/tokend
SYSCONFDIR   ?= /etc
# Units of a locally built program go to /etc/systemd/system (the
# administrator's directory); a distribution package would use
# UNITDIR=/usr/lib/systemd/system with PREFIX=/usr.
UNITDIR      ?= /etc/systemd/system
SYSUSERSDIR  ?= /usr/lib/sysusers.d
TMPFILESDIR  ?= /usr/lib/tmpfiles.d
DESTDIR      ?=

INSTALL      ?= install
SWIFT_RELEASE_FLAGS = -c release --static-swift-stdlib --scratch-path $(SCRATCH_PATH)

# The units in systemd/ name the default paths (PREFIX=/usr/local) so that
# they can be verified as they are; install rewrites them for other prefixes.
UNIT_SED = -e 's|/usr/local/bin/|$(BINDIR)/|g' \
           -e 's|/usr/local/share/doc/tokend/|$(DOCDIR)/|g'

.PHONY: all debug release release-binaries deb test dev check-units check-install check-systemd install uninstall bench chaos chaos-fleet abuse fuzz test-sanitize

all: debug

debug:
	$(SWIFT) build --scratch-path $(SCRATCH_PATH)

release:
	$(SWIFT) build $(SWIFT_RELEASE_FLAGS)

# Only what install puts on a host (no bench, fuzz targets or tests).
release-binaries:
	$(SWIFT) build $(SWIFT_RELEASE_FLAGS) --product tokend
	$(SWIFT) build $(SWIFT_RELEASE_FLAGS) --product tokenctl

test:
	./scripts/test.sh

# dist/tokend_VERSION_amd64.deb (debhelper; scripts/make-deb.sh), then lintian.
deb:
	SCRATCH_PATH=$(SCRATCH_PATH) ./scripts/make-deb.sh

dev:
	./scripts/dev.sh

# TOKEND_BIN: the tokend binary whose path the verified units name (default:
# the first of .build/debug, .build-release/release, .build/release).
check-units:
	tests/check-units.sh $(TOKEND_BIN)

# make install into a scratch DESTDIR and check the tree (needs a release build).
check-install:
	tests/check-install.sh

check-systemd:
	bash tests/systemd-stage.sh

bench:
	./scripts/bench.sh perf

chaos:
	./scripts/bench.sh chaos

# SPEC §14: 8 instances through a real etcd cluster, then the same without the fleet store.
chaos-fleet:
	./scripts/bench.sh chaos --fleet 8 --duration 120
	./scripts/bench.sh chaos --fleet 8 --duration 120 --without-fleet-store

abuse:
	./scripts/bench.sh abuse

fuzz:
	./scripts/fuzz.sh

test-sanitize:
	./scripts/test-sanitize.sh

install: release-binaries
	@set -e; \
	bin="$$($(SWIFT) build $(SWIFT_RELEASE_FLAGS) --show-bin-path)"; \
	for f in tokend tokenctl; do test -x "$$bin/$$f" || { echo "make install: $$bin/$$f is missing" >&2; exit 1; }; done; \
	echo "installing from $$bin"; \
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(SYSUSERSDIR)" \
		"$(DESTDIR)$(TMPFILESDIR)" "$(DESTDIR)$(DOCDIR)"; \
	$(INSTALL) -s -m 0755 "$$bin/tokend" "$$bin/tokenctl" "$(DESTDIR)$(BINDIR)/"; \
	for u in tokend.service tokend.socket; do \
		sed $(UNIT_SED) "systemd/$$u" > "$(DESTDIR)$(UNITDIR)/$$u.tmp"; \
		chmod 0644 "$(DESTDIR)$(UNITDIR)/$$u.tmp"; \
		mv -f "$(DESTDIR)$(UNITDIR)/$$u.tmp" "$(DESTDIR)$(UNITDIR)/$$u"; \
	done; \
	$(INSTALL) -m 0644 systemd/tokend.sysusers "$(DESTDIR)$(SYSUSERSDIR)/tokend.conf"; \
	$(INSTALL) -m 0644 systemd/tokend.tmpfiles "$(DESTDIR)$(TMPFILESDIR)/tokend.conf"; \
	$(INSTALL) -m 0644 docs/OPERATIONS.md "$(DESTDIR)$(DOCDIR)/OPERATIONS.md"; \
	$(INSTALL) -m 0644 config/tokend.toml "$(DESTDIR)$(DOCDIR)/tokend.toml.example"; \
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(DOCDIR)/monitoring"; \
	$(INSTALL) -m 0644 docs/monitoring/tokend-rules.yml docs/monitoring/grafana-dashboard.json "$(DESTDIR)$(DOCDIR)/monitoring/"; \
	$(INSTALL) -d -m 0750 "$(DESTDIR)$(SYSCONFDIR)/tokend"; \
	if [ -e "$(DESTDIR)$(SYSCONFDIR)/tokend/tokend.toml" ]; then \
		echo "kept the existing $(DESTDIR)$(SYSCONFDIR)/tokend/tokend.toml (example: $(DOCDIR)/tokend.toml.example)"; \
	else \
		$(INSTALL) -m 0640 config/tokend.toml "$(DESTDIR)$(SYSCONFDIR)/tokend/tokend.toml"; \
		echo "installed the example configuration $(DESTDIR)$(SYSCONFDIR)/tokend/tokend.toml"; \
	fi; \
	if command -v systemd-analyze >/dev/null 2>&1; then \
		check="$$(mktemp -d)"; \
		for u in tokend.service tokend.socket; do \
			sed -e 's|/usr/local/bin/|$(DESTDIR)$(BINDIR)/|g' "systemd/$$u" > "$$check/$$u"; \
		done; \
		if (cd "$$check" && systemd-analyze verify tokend.socket tokend.service); then \
			echo "systemd-analyze verify: the installed units load"; \
		else \
			rm -rf "$$check"; echo "make install: systemd-analyze verify failed on the installed units" >&2; exit 1; \
		fi; \
		rm -rf "$$check"; \
	fi; \
	if [ -z "$(DESTDIR)" ] && getent group _tokend >/dev/null 2>&1; then \
		chgrp _tokend "$(SYSCONFDIR)/tokend" "$(SYSCONFDIR)/tokend/tokend.toml"; \
	fi; \
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		echo; \
		echo "Installed. Next (see $(DOCDIR)/OPERATIONS.md):"; \
		echo "  systemd-sysusers $(SYSUSERSDIR)/tokend.conf"; \
		echo "  systemd-tmpfiles --create $(TMPFILESDIR)/tokend.conf"; \
		echo "  install -m 0600 -o root -g root /dev/stdin $(SYSCONFDIR)/tokend/usage-engine.secret   # paste the secret, then Ctrl-D"; \
		echo "  \$$EDITOR $(SYSCONFDIR)/tokend/tokend.toml"; \
		echo "  systemctl daemon-reload"; \
		echo "  systemctl enable --now tokend.socket tokend.service"; \
		echo "  tokenctl status"; \
	fi

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && \
	    { systemctl -q is-enabled tokend.service tokend.socket 2>/dev/null || \
	      systemctl -q is-active tokend.service tokend.socket 2>/dev/null; }; then \
		echo "make uninstall: tokend is enabled or running; first: systemctl disable --now tokend.service tokend.socket" >&2; \
		exit 1; \
	fi
	rm -f "$(DESTDIR)$(BINDIR)/tokend" "$(DESTDIR)$(BINDIR)/tokenctl" \
		"$(DESTDIR)$(UNITDIR)/tokend.service" "$(DESTDIR)$(UNITDIR)/tokend.socket" \
		"$(DESTDIR)$(SYSUSERSDIR)/tokend.conf" "$(DESTDIR)$(TMPFILESDIR)/tokend.conf" \
		"$(DESTDIR)$(DOCDIR)/OPERATIONS.md" "$(DESTDIR)$(DOCDIR)/tokend.toml.example" \
		"$(DESTDIR)$(DOCDIR)/monitoring/tokend-rules.yml" "$(DESTDIR)$(DOCDIR)/monitoring/grafana-dashboard.json"
	-rmdir "$(DESTDIR)$(DOCDIR)/monitoring" 2>/dev/null
	-rmdir "$(DESTDIR)$(DOCDIR)" 2>/dev/null
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/tokend (configuration and secrets), the user _tokend and the groups tokend and _tokend."
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
