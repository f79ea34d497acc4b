#define _GNU_SOURCE
#include "CEarlySignals.h"
#include "CProcessShim.h"
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static int early_pipe = -1;
static const int handled[] = {SIGHUP, SIGTERM, SIGINT};

static void set_all(void (*disposition)(int)) {
    for (unsigned i = 0; i < sizeof handled / sizeof handled[0]; i++) signal(handled[i], disposition);
}

// Runs before main (an ELF constructor, before any of tokend's own code): from here on a
// SIGHUP, SIGTERM or SIGINT is a byte in the pipe, read once the daemon is
// ready for it (a SIGHUP during the first configuration load becomes a
// reload once it is loaded, a SIGTERM an orderly stop).
__attribute__((constructor(101))) static void tokend_early_signals(void) {
    early_pipe = tokend_signal_pipe_open();
}

int tokend_early_signal_pipe(void) {
    return early_pipe;
}

void tokend_early_signals_ignore(void) {
    set_all(SIG_IGN);
    if (early_pipe >= 0) close(early_pipe);
    early_pipe = -1;
}

void tokend_early_signals_release(void) {
    set_all(SIG_DFL);
    if (early_pipe < 0) return;
    int flags = fcntl(early_pipe, F_GETFL);
    if (flags >= 0) fcntl(early_pipe, F_SETFL, flags | O_NONBLOCK);
    int pending = 0;
    unsigned char byte;
    while (read(early_pipe, &byte, 1) == 1) {
        if (pending == 0) pending = byte;
    }
    close(early_pipe);
    early_pipe = -1;
    // kill, not raise: this may run on a Dispatch worker thread, which
    // blocks signals; a process-directed signal finds a thread that takes it.
    if (pending != 0) kill(getpid(), pending);
}
