#ifndef TOKEND_CCURLSHIM_H
#define TOKEND_CCURLSHIM_H
// Typed wrappers for libcurl's variadic calls, which Swift cannot import.
// Each wrapper fixes the argument type that the option or info expects.
#include <curl/curl.h>

typedef size_t (*tokend_curl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);

CURLcode tokend_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode tokend_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode tokend_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode tokend_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode tokend_curl_setopt_callback(CURL *handle, CURLoption option, tokend_curl_data_callback value);
CURLcode tokend_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);

typedef int (*tokend_curl_progress_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
/// CURLOPT_XFERINFOFUNCTION, and CURLOPT_NOPROGRESS 0 so that it is called.
CURLcode tokend_curl_setopt_xferinfo(CURL *handle, tokend_curl_progress_callback value);

CURLcode tokend_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode tokend_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value);

#endif
