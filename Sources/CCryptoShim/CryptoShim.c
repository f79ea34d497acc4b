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
