// An LD_PRELOAD library that makes tokend's environment hostile or unlucky
// on purpose, for the tests that must show tokend copes. Built by the tests
// with `cc -shared -fPIC -o preload.so preload.c -ldl`; every behaviour is
// off unless its variable is set:
//
//   TOKEND_TEST_SWAP_SOCKET_TO=/victim   right after a successful bind() of
//       a Unix socket, its file is replaced by a symlink to /victim (another
//       user planting a link in a shared directory at the worst moment).
//   TOKEND_TEST_NSS_DELAY_MS=N           getpwuid_r, getpwnam_r, getgrnam_r
//       and getgrouplist take N ms (LDAP or sssd behind NSS, answering slowly).
//   TOKEND_TEST_REFUSE_FCHOWN=1          fchown fails with EPERM, as under
//       systemd's SystemCallFilter=~@privileged (which holds @chown).
//   TOKEND_TEST_REFUSE_CURLOPT=N         curl_easy_setopt refuses option
//       number N with CURLE_UNKNOWN_OPTION (an older libcurl that lacks it).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

static void nss_delay(void) {
    const char *ms = getenv("TOKEND_TEST_NSS_DELAY_MS");
    if (!ms) return;
    long n = atol(ms);
    struct timespec t = {n / 1000, (n % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {}
}

int bind(int fd, const struct sockaddr *address, socklen_t length) {
    int (*real)(int, const struct sockaddr *, socklen_t) = dlsym(RTLD_NEXT, "bind");
    int result = real(fd, address, length);
    const char *victim = getenv("TOKEND_TEST_SWAP_SOCKET_TO");
    if (result == 0 && victim && address->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)address;
        if (un->sun_path[0] != 0) {
            unlink(un->sun_path);
            if (symlink(victim, un->sun_path) != 0) abort();
        }
    }
    return result;
}

int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t size, struct passwd **result) {
    int (*real)(uid_t, struct passwd *, char *, size_t, struct passwd **) = dlsym(RTLD_NEXT, "getpwuid_r");
    nss_delay();
    return real(uid, pwd, buf, size, result);
}

int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t size, struct passwd **result) {
    int (*real)(const char *, struct passwd *, char *, size_t, struct passwd **) = dlsym(RTLD_NEXT, "getpwnam_r");
    nss_delay();
    return real(name, pwd, buf, size, result);
}

int getgrnam_r(const char *name, struct group *grp, char *buf, size_t size, struct group **result) {
    int (*real)(const char *, struct group *, char *, size_t, struct group **) = dlsym(RTLD_NEXT, "getgrnam_r");
    nss_delay();
    return real(name, grp, buf, size, result);
}

int getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups) {
    int (*real)(const char *, gid_t, gid_t *, int *) = dlsym(RTLD_NEXT, "getgrouplist");
    nss_delay();
    return real(user, group, groups, ngroups);
}

int fchown(int fd, uid_t owner, gid_t group) {
    int (*real)(int, uid_t, gid_t) = dlsym(RTLD_NEXT, "fchown");
    if (getenv("TOKEND_TEST_REFUSE_FCHOWN")) {
        errno = EPERM;
        return -1;
    }
    return real(fd, owner, group);
}

// Every option's argument is a pointer, a long or a curl_off_t: on x86-64
// and arm64 each travels in one 64-bit register, so forwarding it as a
// pointer-sized value is exact (this file is for tests on those machines).
CURLcode curl_easy_setopt(CURL *handle, CURLoption option, ...) {
    CURLcode (*real)(CURL *, CURLoption, ...) = dlsym(RTLD_NEXT, "curl_easy_setopt");
    va_list arguments;
    va_start(arguments, option);
    void *argument = va_arg(arguments, void *);
    va_end(arguments);
    const char *refused = getenv("TOKEND_TEST_REFUSE_CURLOPT");
    if (refused && atol(refused) == (long)option) return CURLE_UNKNOWN_OPTION;
    return real(handle, option, argument);
}
