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

/// HMAC-SHA-256 of `length` bytes under `key` into `mac` (32 bytes).
int tokend_hmac_sha256(const void *key, size_t key_length, const void *data, size_t length, unsigned char *mac);

/// Key kinds of `tokend_private_key_load`.
enum {
    TOKEND_KEY_RSA = 1,
    TOKEND_KEY_EC_P256 = 2,
    TOKEND_KEY_EC_P384 = 3,
    TOKEND_KEY_ED25519 = 4,
    TOKEND_KEY_OTHER = 9,
};

/// Reads a PEM private key (PKCS#8 or a traditional form). Returns a handle
/// for `tokend_sign` and `tokend_private_key_free`, or NULL with `problem`
/// filled in (a NUL-terminated line; never key bytes). A passphrase-protected
/// key is refused, never prompted for. `kind` and `bits` describe the key.
void *tokend_private_key_load(const void *pem, size_t length, int *kind, int *bits, char *problem, size_t problem_size);
void tokend_private_key_free(void *key);

/// Signs `length` bytes for a JWS with `algorithm` ("RS256", "PS256",
/// "ES256", "ES384", "EdDSA"): EC signatures in the JOSE form (r||s, fixed
/// size). `signature` has room for `*signature_length` bytes, which becomes
/// the length written.
int tokend_sign(void *key, const char *algorithm, const void *data, size_t length, unsigned char *signature, size_t *signature_length);

/* SHA-1 (20 bytes), for certificate thumbprints (`x5t`) only. */
int tokend_sha1(const void *data, size_t length, unsigned char *digest);

/* Whether `der` is exactly one DER X.509 certificate (1: it is not) and,
 * when `key` (a private key from tokend_private_key_load) is given, whether
 * the certificate's public key is that key's (2: another key). 0: yes. */
int tokend_certificate_check(const void *der, size_t length, void *key);

#endif
