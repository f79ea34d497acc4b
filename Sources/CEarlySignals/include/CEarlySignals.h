#ifndef TOKEND_CEARLYSIGNALS_H
#define TOKEND_CEARLYSIGNALS_H
// tokend's signal handlers, installed by a constructor before any Swift code
// runs (SPEC §6: no signal systemd or an operator sends kills tokend without
// its orderly stop, from its first instruction). Linked into tokend only.

/// The read end of the self-pipe the handlers write to (one byte per
/// signal, SIGHUP, SIGTERM or SIGINT), or -1 when it could not be set up.
int tokend_early_signal_pipe(void);

/// For the modes that are not the daemon (`--check`, `--version`, the
/// parser child): back to the default dispositions, and a signal that came
/// in the meantime is raised again, so that it does what it would have done.
void tokend_early_signals_release(void);

/// For the parser child: SIGHUP, SIGTERM and SIGINT ignored. `systemctl
/// stop` signals every process of the unit, and a child killed by it would
/// read as a parser crash (a false "not valid TOML"); the parent bounds the
/// child with its deadline and SIGKILL.
void tokend_early_signals_ignore(void);

#endif
