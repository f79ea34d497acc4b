import CProcessShim
import Glibc

/// Runs a helper process the careful way, for work that must not happen in
/// the daemon itself (a parser that may crash on hostile input): the child
/// keeps no descriptor but stdin (a pipe fed with `input`) and /dev/null as
/// stdout and stderr, gets only the environment given, starts with default
/// signal dispositions and an empty signal mask, and is killed (SIGKILL)
/// when it has not exited by the deadline. Nothing here blocks longer than
/// the deadline.
public enum GuardedChild {
    public enum Outcome: Equatable, Sendable {
        case exited(Int32)
        case killedBySignal(Int32)
        /// The deadline passed; the child was killed and reaped.
        case timedOut
        case cannotStart(String)
    }

    public static func run(executable: String, arguments: [String], environment: [String] = [],
                           input: [UInt8], deadlineMilliseconds: Int32) -> Outcome {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return .cannotStart("cannot create a pipe: \(errnoText(errno))") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        // Only the child's stdin (dup2'd below, which clears the flag) survives the exec.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, readEnd, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        guard tokend_spawn_add_closefrom(&actions, 3) == 0 else {
            close(readEnd); close(writeEnd)
            return .cannotStart("this C library cannot close descriptors in a spawned child")
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { $0.withCString { strdup($0) } } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { $0.withCString { strdup($0) } } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        close(readEnd)
        guard spawned == 0 else {
            close(writeEnd)
            return .cannotStart("cannot start \(executable): \(errnoText(spawned))")
        }
        guard let status = feedAndReap(child: child, input: writeEnd, bytes: input, deadlineMilliseconds: deadlineMilliseconds) else {
            kill(child, SIGKILL)
            var ignored: Int32 = 0
            while waitpid(child, &ignored, 0) < 0, errno == EINTR {}
            return .timedOut
        }
        return (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .killedBySignal(status & 0x7f)
    }

    /// Writes `bytes` to the child's stdin and reaps it, both within the
    /// deadline: its wait status, or nil when the deadline passed first.
    private static func feedAndReap(child: pid_t, input: Int32, bytes: [UInt8], deadlineMilliseconds: Int32) -> Int32? {
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
        let exited = tokend_pidfd_open(child)
        defer { if exited >= 0 { close(exited) } }
        var offset = 0
        var open = true
        defer { if open { close(input) } }
        let deadline = monotonicMilliseconds() + Int64(deadlineMilliseconds)
        while true {
            if open, offset == bytes.count { close(input); open = false }
            let left = deadline - monotonicMilliseconds()
            if left <= 0 { return nil }
            var waits: [pollfd] = []
            if open { waits.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
            if exited >= 0 { waits.append(pollfd(fd: exited, events: Int16(POLLIN), revents: 0)) }
            // Without pidfd_open (Linux < 5.3), look for the exit every 10 ms.
            let timeout = Int32(min(left, exited >= 0 ? 1000 : 10))
            _ = waits.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            let pidfdReady = exited >= 0 && waits.last?.fd == exited && waits.last!.revents != 0
            if exited < 0 || pidfdReady {
                var status: Int32 = 0
                if waitpid(child, &status, pidfdReady ? 0 : WNOHANG) == child { return status }
            }
            if open, let first = waits.first, first.fd == input, first.revents != 0 {
                let n = bytes[offset...].withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
                if n > 0 { offset += n } else if n < 0, errno != EAGAIN, errno != EINTR { close(input); open = false }
            }
        }
    }

    private static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// The C library's words for an errno value.
public func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }
