import CProcessShim
import Glibc
import TokendCore
import TokendPlatform

/// The real host for `ConfigurationLoader`: files, environment and the
/// system's user database (NSS).
public struct SystemHost: HostEnvironment {
    public init() {}

    /// Reads a regular file. Opened non-blocking and checked with `fstat`
    /// before any read, so that a FIFO or a device named by mistake (or
    /// planted) is an error rather than a start, reload or `--check` that
    /// hangs. The buffers are sized from `fstat` and cleared after use: a
    /// secret leaves no copy in freed memory that this code owns.
    public func readFile(_ path: String, limit: Int) -> Result<[UInt8], HostError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(HostError(errnoText(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(HostError(errnoText(errno))) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .failure(HostError("is a directory"))
        case S_IFIFO: return .failure(HostError("is a FIFO, not a regular file"))
        case S_IFCHR, S_IFBLK: return .failure(HostError("is a device, not a regular file"))
        case S_IFSOCK: return .failure(HostError("is a socket, not a regular file"))
        default: return .failure(HostError("is not a regular file"))
        }
        guard Int(st.st_size) <= limit else { return .failure(HostError("larger than \(limit) bytes")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(st.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 16384)
        defer { for i in chunk.indices { chunk[i] = 0 } }
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let text = errnoText(errno)
                for i in bytes.indices { bytes[i] = 0 }
                return .failure(HostError(text))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit {
                for i in bytes.indices { bytes[i] = 0 }
                return .failure(HostError("larger than \(limit) bytes"))
            }
        }
        return .success(bytes)
    }

    public func fileMode(_ path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(st.st_mode) & 0o7777
    }

    public func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    public func userID(named name: String) -> UInt32? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return pwd.pw_uid
    }

    public func groupID(named name: String) -> UInt32? {
        var grp = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        guard getgrnam_r(name, &grp, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return grp.gr_gid
    }

    public func directoryProblem(_ path: String) -> String? {
        let fd = tokend_open_directory_nofollow(path)
        if fd < 0, errno == ELOOP { return "a component of the path is a symbolic link (give the real path)" }
        if fd >= 0 { close(fd) }
        var st = stat()
        guard stat(path, &st) == 0 else { return errnoText(errno) }
        guard st.st_mode & S_IFMT == S_IFDIR else { return "not a directory" }
        guard access(path, W_OK | X_OK) == 0 else { return "\(errnoText(errno)) (tokend, uid \(geteuid()), cannot create files in it)" }
        return nil
    }

    public func fileGroupProblem(_ gid: UInt32, directory: String) -> String? {
        // A file tokend creates has its effective group, or the group of a
        // set-group-ID directory: no fchown then.
        var st = stat()
        let inherited = stat(directory, &st) == 0 && st.st_mode & S_ISGID != 0 ? st.st_gid : getegid()
        if gid == inherited { return nil }
        let capable = tokend_has_effective_capability(0 /* CAP_CHOWN */) != 0
        if !capable && !isMember(of: gid) {
            return "tokend (uid \(geteuid())) is not a member of group \(gid) and cannot give a file to it (add the group with SupplementaryGroups= in the unit)"
        }
        if tokend_fchown_refused() != 0 {
            return "giving a file to group \(gid) needs fchown, which the system-call filter refuses (allow it with SystemCallFilter=fchown in a drop-in, or make \(directory) a set-group-ID directory of that group)"
        }
        return nil
    }

    private func isMember(of gid: UInt32) -> Bool {
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups.prefix(Int(filled)).contains(gid)
    }
}
