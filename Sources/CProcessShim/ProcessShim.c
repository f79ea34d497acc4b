#define _GNU_SOURCE
#include "CProcessShim.h"
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <linux/openat2.h>
#include <linux/capability.h>
#include <sys/mman.h>

int tokend_set_nondumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int tokend_forbid_core_files(void) {
    struct rlimit none = {0, 0};
    int a = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int b = setrlimit(RLIMIT_CORE, &none);
    return a == 0 && b == 0 ? 0 : -1;
}

int tokend_random_bytes(void *buffer, size_t length) {
    unsigned char *p = buffer;
    while (length > 0) {
        ssize_t n = getrandom(p, length, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

int tokend_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int tokend_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int signal_pipe_write = -1;

static void tokend_on_signal(int number) {
    int saved = errno;
    unsigned char byte = (unsigned char)number;
    ssize_t ignored = write(signal_pipe_write, &byte, 1);
    (void)ignored;
    errno = saved;
}

int tokend_signal_pipe_open(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    // A full pipe drops the byte rather than blocking the thread the kernel chose.
    if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) { close(fds[0]); close(fds[1]); return -1; }
    signal_pipe_write = fds[1];
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = tokend_on_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    int handled[] = {SIGHUP, SIGTERM, SIGINT};
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        if (sigaction(handled[i], &action, NULL) != 0) return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return fds[0];
}

int tokend_signal_pipe_next(int fd) {
    unsigned char byte;
    for (;;) {
        ssize_t n = read(fd, &byte, 1);
        if (n == 1) return byte;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

int tokend_open_directory_nofollow(const char *path) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    }
    return (int)fd;
}

int tokend_has_effective_capability(int capability) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (capability < 0 || capability >= 64) return 0;
    if (syscall(SYS_capget, &header, data) != 0) return 0;
    return (data[capability / 32].effective >> (capability % 32)) & 1;
}

int tokend_fchown_refused(void) {
    // A descriptor this process owns: fchown to "no change" succeeds unless
    // a seccomp filter (systemd's SystemCallFilter=) refuses the call itself.
    // Where memfd_create is refused too, a pipe (also this process's own).
    int fds[2] = {-1, -1};
    int fd = memfd_create("tokend-fchown-probe", MFD_CLOEXEC);
    if (fd < 0) {
        if (pipe2(fds, O_CLOEXEC) != 0) return 0;
        fd = fds[0];
    }
    int refused = fchown(fd, (uid_t)-1, (gid_t)-1) != 0 && (errno == EPERM || errno == EACCES || errno == ENOSYS);
    close(fd);
    if (fds[1] >= 0) close(fds[1]);
    return refused;
}
