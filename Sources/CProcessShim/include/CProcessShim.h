#ifndef TOKEND_CPROCESSSHIM_H
#define TOKEND_CPROCESSSHIM_H
// Process-hardening calls whose headers Swift's Glibc module does not export.
#include <stddef.h>
#include <spawn.h>
#include <sys/types.h>

/// prctl(PR_SET_DUMPABLE, 0): no core file, no same-user ptrace. Returns 0 on success.
int tokend_set_nondumpable(void);
/// Non-dumpable and RLIMIT_CORE 0: a crash leaves no core file. Returns 0 on success.
int tokend_forbid_core_files(void);
/// Fills `buffer` with `length` bytes from the kernel's CSPRNG. Returns 0 on success.
int tokend_random_bytes(void *buffer, size_t length);
/// posix_spawn_file_actions_addclosefrom_np: the child keeps no descriptor from `lowest` up.
int tokend_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int lowest);
/// pidfd_open(2): a descriptor that becomes readable when the child exits; -1 with errno.
int tokend_pidfd_open(pid_t pid);
/// Opens the directory `path` (read-only, close-on-exec) without following a
/// symbolic link in any component (openat2 RESOLVE_NO_SYMLINKS): a link
/// planted in a writable ancestor cannot redirect what is written below it.
/// Where openat2 is missing or filtered, only the last component is checked.
/// Returns the descriptor, or -1 with errno (ELOOP for a link).
int tokend_open_directory_nofollow(const char *path);

/// Whether `capability` (a CAP_* number) is in this process's effective set.
int tokend_has_effective_capability(int capability);
/// Whether a system-call filter refuses fchown(2) to this process (probed on
/// a memfd it owns, so nothing on disk is touched). 1 refused, 0 allowed.
int tokend_fchown_refused(void);

/// Installs handlers for SIGHUP, SIGTERM and SIGINT that write the signal's
/// number as one byte to a pipe (all a handler does; async-signal-safe), and
/// ignores SIGPIPE. Returns the pipe's read end, or -1 with errno.
int tokend_signal_pipe_open(void);
/// Blocks until a signal arrives through the pipe; returns its number, or -1.
int tokend_signal_pipe_next(int fd);

#endif
