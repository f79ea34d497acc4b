import Glibc

/// Creates the daemon's listening Unix socket the careful way (as
/// ssh-agent does), for hosts where the socket's directory may be shared:
///
/// - a lock file beside the socket (`PATH.lock`, `flock`) makes two daemons
///   starting together agree on which one runs, so neither unlinks the other's socket;
/// - a socket file already there is probed without blocking and replaced
///   only when the kernel says nobody listens (`ECONNREFUSED`); any other
///   answer (`EACCES`, a full backlog) leaves it alone;
/// - the file is born with its final mode (bound under the matching umask,
///   so there is no `chmod` by path) and its group is set with
///   `fchownat(AT_SYMLINK_NOFOLLOW)` relative to the directory after
///   checking that the entry is still a socket: a symlink swapped in is
///   never followed;
/// - a directory it creates gets mode 0755 whatever the umask (under
///   systemd's `UMask=0077` a plain `mkdir` would lock the clients out).
public enum ListeningSocket {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A bound, listening socket and the lock that makes it ours.
    public struct Bound {
        public var descriptor: CInt
        /// Held open (and locked) for the daemon's life; closing it releases the lock.
        public var lock: CInt
    }

    /// The socket file a daemon bound (and so must remove), for the line
    /// socket and a `unix:` `metrics_listen` alike: its path, the inode it
    /// was born with (only that file is removed: one that replaced it is
    /// someone else's), and the lock held beside it until `release`.
    public struct OwnedFile: Sendable {
        public let path: String
        let inode: UInt64?
        let lock: CInt

        /// Binds `path` (see `bind`): the listening descriptor, handed to the
        /// server, and the file that this process now owns.
        public static func bind(path: String, mode: UInt32, group: UInt32?, backlog: Int32 = 256) throws(Failure) -> (descriptor: CInt, file: OwnedFile) {
            let bound = try ListeningSocket.bind(path: path, mode: mode, group: group, backlog: backlog)
            return (bound.descriptor, OwnedFile(path: path, inode: ListeningSocket.inode(of: path), lock: bound.lock))
        }

        /// Removes the socket file if it is still the one bound, then releases the lock.
        public func release() {
            ListeningSocket.remove(path: path, inode: inode)
            close(lock)
        }
    }

    /// A listening socket bound at `path`; the caller owns both descriptors.
    public static func bind(path: String, mode: UInt32, group: UInt32?, backlog: Int32 = 256) throws(Failure) -> Bound {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw Failure(description: "socket path \(path) is too long")
        }
        try makeParentDirectory(of: path)
        let lock = try takeLock(path + ".lock", socket: path)
        do {
            try removeStaleSocket(at: path)
            return Bound(descriptor: try bindAndListen(path: path, mode: mode, group: group, backlog: backlog), lock: lock)
        } catch {
            close(lock)
            throw error
        }
    }

    static func bindAndListen(path: String, mode: UInt32, group: UInt32?, backlog: Int32) throws(Failure) -> CInt {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot create a socket: \(errnoText(errno))") }
        var address = unixAddress(path)
        // Born with its final mode: no chmod by path afterwards.
        let oldMask = umask(mode_t(0o777 & ~mode))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let bindErrno = errno
        umask(oldMask)
        guard bound == 0 else {
            close(fd)
            throw Failure(description: "cannot bind \(path): \(errnoText(bindErrno))")
        }
        if let group {
            do throws(Failure) { try setGroup(of: path, to: group) } catch {
                close(fd); unlink(path)
                throw error
            }
        }
        guard listen(fd, backlog) == 0 else {
            let text = errnoText(errno)
            close(fd); unlink(path)
            throw Failure(description: "cannot listen on \(path): \(text)")
        }
        return fd
    }

    /// Gives the socket file at `path` to `group`, never following a symlink.
    static func setGroup(of path: String, to group: UInt32) throws(Failure) {
        let (directory, name) = split(path)
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw Failure(description: "cannot open \(directory): \(errnoText(errno))") }
        defer { close(dirfd) }
        var st = stat()
        guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw Failure(description: "\(path) is no longer the socket tokend bound (replaced while starting); refusing to change it")
        }
        guard fchownat(dirfd, name, uid_t.max, gid_t(group), AT_SYMLINK_NOFOLLOW) == 0 else {
            throw Failure(description: "cannot give \(path) to group \(group): \(errnoText(errno))")
        }
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
            if mkdir(current, 0o755) == 0 {
                // Ours: make it enterable by the clients whatever the umask.
                let fd = open(current, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0, fchmod(fd, 0o755) == 0 else {
                    let text = errnoText(errno)
                    if fd >= 0 { close(fd) }
                    throw Failure(description: "cannot set mode 0755 on \(current): \(text)")
                }
                close(fd)
            } else if errno != EEXIST {
                throw Failure(description: "cannot create directory \(current): \(errnoText(errno))")
            }
        }
    }

    /// `PATH.lock`, locked for as long as the daemon runs: a second daemon
    /// on the same path is told that one is already running.
    static func takeLock(_ lockPath: String, socket path: String) throws(Failure) -> CInt {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot open the lock file \(lockPath): \(errnoText(errno))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw Failure(description: "the lock file \(lockPath) is not a regular file")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw Failure(description: "tokend is already running on \(path) (\(lockPath) is locked)") }
            throw Failure(description: "cannot lock \(lockPath): \(errnoText(code))")
        }
        return fd
    }

    /// An existing socket where a daemon answers is an error; one where the
    /// kernel refuses the connection (nobody listens) is removed; anything
    /// else is left alone.
    static func removeStaleSocket(at path: String) throws(Failure) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw Failure(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard probe >= 0 else { throw Failure(description: "cannot create a socket: \(errnoText(errno))") }
        defer { close(probe) }
        var address = unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let code = errno
        if connected == 0 || code == EAGAIN || code == EINPROGRESS {
            throw Failure(description: "tokend is already running on \(path)")
        }
        switch code {
        case ECONNREFUSED:
            unlink(path)
        case ENOENT:
            return
        default:
            throw Failure(description: "cannot tell whether \(path) is in use (connect: \(errnoText(code))); refusing to replace it")
        }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
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

}
