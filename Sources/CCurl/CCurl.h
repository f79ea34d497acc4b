#ifndef TOKEND_CCURL_H
#define TOKEND_CCURL_H
#include <curl/curl.h>
#endif
