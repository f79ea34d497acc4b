#ifndef TOKEND_CCRYPTOSHIM_H
#define TOKEND_CCRYPTOSHIM_H
// The few primitives tokend needs from OpenSSL's libcrypto (already on every
// host through libcurl), behind plain C types so that no OpenSSL header
// reaches Swift. Every function returns 0 on success.
#include <stddef.h>

/// SHA-256 of `length` bytes into `digest` (32 bytes).
int tokend_sha256(const void *data, size_t length, unsigned char *digest);

/// AES-256-GCM: encrypts `length` bytes into `cipher` (same length) and
/// writes the 16-byte tag. `key` is 32 bytes, `nonce` 12.
int tokend_aes256gcm_seal(const unsigned char *key, const unsigned char *nonce,
                          const void *aad, size_t aad_length,
                          const void *plain, size_t length,
                          unsigned char *cipher, unsigned char *tag);

/// AES-256-GCM: decrypts and authenticates; -1 when the tag does not match
/// (wrong key, altered bytes or associated data), and `plain` is then zeroed.
int tokend_aes256gcm_open(const unsigned char *key, const unsigned char *nonce,
                          const void *aad, size_t aad_length,
                          const void *cipher, size_t length,
                          const unsigned char *tag, unsigned char *plain);

/// Overwrites `length` bytes with zeros in a way the compiler keeps.
void tokend_cleanse(void *data, size_t length);

#endif
