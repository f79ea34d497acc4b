#ifndef TOKEND_CLIBFUZZER_H
#define TOKEND_CLIBFUZZER_H
// libFuzzer's driver entry point (LLVM 11+). SwiftPM gives every executable
// its own `main`, so a fuzz target calls the driver from there instead of
// linking libFuzzer's `main`. Only defined in a -sanitize=fuzzer build.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
