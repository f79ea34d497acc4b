#ifndef TOKEND_CPROCESSSHIM_H
#define TOKEND_CPROCESSSHIM_H
// Process-hardening calls whose headers Swift's Glibc module does not export.
#include <stddef.h>

/// prctl(PR_SET_DUMPABLE, 0): no core file, no same-user ptrace. Returns 0 on success.
int tokend_set_nondumpable(void);
/// Whether the process is dumpable (for tests).
int tokend_is_dumpable(void);
/// Fills `buffer` with `length` bytes from the kernel's CSPRNG. Returns 0 on success.
int tokend_random_bytes(void *buffer, size_t length);

#endif
