import Glibc

/// Creates the daemon's listening Unix socket the careful way (as
/// ssh-agent does): the file is born under a restrictive umask, gets its
/// mode and group before anyone can be accepted, and a live daemon on the
/// same path is detected rather than silently displaced.
public enum ListeningSocket {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A listening socket bound at `path`; the caller owns the descriptor.
    public static func bind(path: String, mode: UInt32, group: UInt32?, backlog: Int32 = 256) throws(Failure) -> CInt {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw Failure(description: "socket path \(path) is too long")
        }
        try makeParentDirectory(of: path)
        try removeStaleSocket(at: path)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot create a socket: \(errnoText())") }
        var address = unixAddress(path)
        let oldMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let bindErrno = errno
        umask(oldMask)
        guard bound == 0 else {
            close(fd)
            throw Failure(description: "cannot bind \(path): \(String(cString: strerror(bindErrno)))")
        }
        if chmod(path, mode_t(mode)) != 0 {
            let text = errnoText()
            close(fd); unlink(path)
            throw Failure(description: "cannot set mode \(String(mode, radix: 8)) on \(path): \(text)")
        }
        if let group, chown(path, uid_t.max, gid_t(group)) != 0 {
            let text = errnoText()
            close(fd); unlink(path)
            throw Failure(description: "cannot give \(path) to group \(group): \(text)")
        }
        guard listen(fd, backlog) == 0 else {
            let text = errnoText()
            close(fd); unlink(path)
            throw Failure(description: "cannot listen on \(path): \(text)")
        }
        return fd
    }

    /// The inode of the socket file, to remove only our own file at exit.
    public static func inode(of path: String) -> UInt64? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// Removes `path` if it is still the socket file we created.
    public static func remove(path: String, inode: UInt64?) {
        guard let inode, ListeningSocket.inode(of: path) == inode else { return }
        unlink(path)
    }

    static func makeParentDirectory(of path: String) throws(Failure) {
        var components = path.split(separator: "/").dropLast()
        var current = ""
        while !components.isEmpty {
            current += "/" + components.removeFirst()
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw Failure(description: "cannot create directory \(current): \(errnoText())")
            }
        }
    }

    /// An existing socket where a daemon answers is an error; a stale one is removed.
    static func removeStaleSocket(at path: String) throws(Failure) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw Failure(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw Failure(description: "cannot create a socket: \(errnoText())") }
        defer { close(probe) }
        var address = unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 || errno == EAGAIN {
            throw Failure(description: "tokend is already running on \(path)")
        }
        unlink(path)
    }

    static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        return address
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
