#include "CCryptoShim.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

int tokend_sha256(const void *data, size_t length, unsigned char *digest) {
    unsigned int written = 0;
    return EVP_Digest(data, length, digest, &written, EVP_sha256(), NULL) == 1 && written == 32 ? 0 : -1;
}

int tokend_aes256gcm_seal(const unsigned char *key, const unsigned char *nonce,
                          const void *aad, size_t aad_length,
                          const void *plain, size_t length,
                          unsigned char *cipher, unsigned char *tag) {
    if (length > 0x7fffffff || aad_length > 0x7fffffff) return -1;
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return -1;
    int ok = 0, written = 0;
    ok = EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && EVP_EncryptInit_ex(context, NULL, NULL, key, nonce) == 1
        && (aad_length == 0 || EVP_EncryptUpdate(context, NULL, &written, aad, (int)aad_length) == 1)
        && (length == 0 || EVP_EncryptUpdate(context, cipher, &written, plain, (int)length) == 1)
        && EVP_EncryptFinal_ex(context, cipher + (length == 0 ? 0 : written), &written) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(context);
    return ok ? 0 : -1;
}

int tokend_aes256gcm_open(const unsigned char *key, const unsigned char *nonce,
                          const void *aad, size_t aad_length,
                          const void *cipher, size_t length,
                          const unsigned char *tag, unsigned char *plain) {
    if (length > 0x7fffffff || aad_length > 0x7fffffff) return -1;
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return -1;
    unsigned char expected[16];
    memcpy(expected, tag, 16);
    int ok = 0, written = 0;
    ok = EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && EVP_DecryptInit_ex(context, NULL, NULL, key, nonce) == 1
        && (aad_length == 0 || EVP_DecryptUpdate(context, NULL, &written, aad, (int)aad_length) == 1)
        && (length == 0 || EVP_DecryptUpdate(context, plain, &written, cipher, (int)length) == 1)
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, expected) == 1
        && EVP_DecryptFinal_ex(context, plain + (length == 0 ? 0 : written), &written) == 1;
    EVP_CIPHER_CTX_free(context);
    if (!ok && length > 0) OPENSSL_cleanse(plain, length);
    return ok ? 0 : -1;
}

void tokend_cleanse(void *data, size_t length) { OPENSSL_cleanse(data, length); }

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>

int tokend_hmac_sha256(const void *key, size_t key_length, const void *data, size_t length, unsigned char *mac) {
    unsigned int written = 0;
    if (key_length > 0x7fffffff) return -1;
    return HMAC(EVP_sha256(), key, (int)key_length, data, length, mac, &written) != NULL && written == 32 ? 0 : -1;
}

/// A passphrase callback that never gives one: an encrypted key fails to load.
static int no_passphrase(char *buffer, int size, int rwflag, void *user) {
    (void)buffer; (void)size; (void)rwflag; (void)user;
    return -1;
}

static int contains(const char *haystack, size_t length, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= length; i++) {
        if (memcmp(haystack + i, needle, n) == 0) return 1;
    }
    return 0;
}

void *tokend_private_key_load(const void *pem, size_t length, int *kind, int *bits, char *problem, size_t problem_size) {
    *kind = 0;
    *bits = 0;
    if (length > 0x7fffffff) { snprintf(problem, problem_size, "the file is too large for a key"); return NULL; }
    if (contains(pem, length, "-----BEGIN ENCRYPTED") || contains(pem, length, "Proc-Type: 4,ENCRYPTED")) {
        snprintf(problem, problem_size, "the key is passphrase-protected; tokend needs it unencrypted (openssl pkey -in KEY -out PLAIN, then protect the file or use a credential)");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) { snprintf(problem, problem_size, "out of memory"); return NULL; }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (key == NULL) {
        snprintf(problem, problem_size, "not a PEM private key (expected -----BEGIN PRIVATE KEY----- or a traditional RSA/EC key)");
        return NULL;
    }
    *bits = EVP_PKEY_get_bits(key);
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        *kind = TOKEND_KEY_RSA;
        break;
    case EVP_PKEY_EC: {
        char curve[64] = {0};
        size_t written = 0;
        if (EVP_PKEY_get_group_name(key, curve, sizeof curve, &written) == 1) {
            if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0) *kind = TOKEND_KEY_EC_P256;
            else if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0) *kind = TOKEND_KEY_EC_P384;
            else *kind = TOKEND_KEY_OTHER;
        } else {
            *kind = TOKEND_KEY_OTHER;
        }
        break;
    }
    case EVP_PKEY_ED25519:
        *kind = TOKEND_KEY_ED25519;
        break;
    default:
        *kind = TOKEND_KEY_OTHER;
        break;
    }
    return key;
}

void tokend_private_key_free(void *key) { EVP_PKEY_free((EVP_PKEY *)key); }

int tokend_sign(void *handle, const char *algorithm, const void *data, size_t length, unsigned char *signature, size_t *signature_length) {
    EVP_PKEY *key = handle;
    const EVP_MD *digest = NULL;
    int pss = 0, ec_size = 0;
    if (strcmp(algorithm, "RS256") == 0) digest = EVP_sha256();
    else if (strcmp(algorithm, "PS256") == 0) { digest = EVP_sha256(); pss = 1; }
    else if (strcmp(algorithm, "ES256") == 0) { digest = EVP_sha256(); ec_size = 32; }
    else if (strcmp(algorithm, "ES384") == 0) { digest = EVP_sha384(); ec_size = 48; }
    else if (strcmp(algorithm, "EdDSA") != 0) return -1;

    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL) return -1;
    EVP_PKEY_CTX *pkey_context = NULL;
    int ok = EVP_DigestSignInit(context, &pkey_context, digest, NULL, key) == 1;
    if (ok && pss) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pkey_context, RSA_PKCS1_PSS_PADDING) == 1
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_context, RSA_PSS_SALTLEN_DIGEST) == 1
            && EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_context, EVP_sha256()) == 1;
    }
    unsigned char der[256];
    size_t written = 0;
    if (ok && ec_size == 0) {
        written = *signature_length;
        ok = EVP_DigestSign(context, signature, &written, data, length) == 1;
        if (ok) *signature_length = written;
    } else if (ok) {
        written = sizeof der;
        ok = EVP_DigestSign(context, der, &written, data, length) == 1;
        if (ok) {
            // DER (SEQUENCE of r and s) to JOSE's fixed-size r||s.
            const unsigned char *cursor = der;
            ECDSA_SIG *parsed = d2i_ECDSA_SIG(NULL, &cursor, (long)written);
            const BIGNUM *r = NULL, *s = NULL;
            ok = parsed != NULL && *signature_length >= (size_t)(2 * ec_size);
            if (ok) {
                ECDSA_SIG_get0(parsed, &r, &s);
                ok = BN_bn2binpad(r, signature, ec_size) == ec_size && BN_bn2binpad(s, signature + ec_size, ec_size) == ec_size;
            }
            ECDSA_SIG_free(parsed);
            if (ok) *signature_length = (size_t)(2 * ec_size);
        }
    }
    EVP_MD_CTX_free(context);
    ERR_clear_error();
    return ok ? 0 : -1;
}

int tokend_sha1(const void *data, size_t length, unsigned char *digest) {
    unsigned int written = 0;
    return EVP_Digest(data, length, digest, &written, EVP_sha1(), NULL) == 1 && written == 20 ? 0 : -1;
}

#include <openssl/x509.h>
#include <openssl/err.h>

int tokend_certificate_check(const void *der, size_t length, void *key) {
    if (der == NULL || length == 0 || length > 0x7fffffff) return 1;
    const unsigned char *cursor = der;
    X509 *certificate = d2i_X509(NULL, &cursor, (long)length);
    int status;
    if (certificate == NULL || cursor != (const unsigned char *)der + length) {
        status = 1;
    } else if (key == NULL) {
        status = 0;
    } else {
        EVP_PKEY *public_key = X509_get0_pubkey(certificate);
        status = public_key != NULL && EVP_PKEY_eq(public_key, (EVP_PKEY *)key) == 1 ? 0 : 2;
    }
    X509_free(certificate);
    ERR_clear_error();
    return status;
}
