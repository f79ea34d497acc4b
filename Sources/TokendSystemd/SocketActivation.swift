import Glibc

/// systemd socket activation (`sd_listen_fds`): the listening socket passed
/// as fd 3 when `LISTEN_PID` is us and `LISTEN_FDS` is at least 1.
public enum SocketActivation {
    public static let firstDescriptor: CInt = 3

    /// The passed listening descriptor, if any. The variables are removed
    /// so that children do not believe the sockets are theirs.
    public static func takeListeningDescriptor() -> CInt? {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }), let pid = Int32(pidText), pid == getpid(),
              let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int32(countText), count >= 1 else {
            return nil
        }
        for fd in firstDescriptor..<(firstDescriptor + count) {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
        return firstDescriptor
    }
}
