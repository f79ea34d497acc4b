import CProcessShim
import Glibc
import TokendCore
import TokendPlatform

/// The real host for `ConfigurationLoader`: files, environment and the
/// system's user database (NSS).
public struct SystemHost: HostEnvironment {
    public init() {}

    /// Reads a regular file (see `RegularFile.read`).
    public func readFile(_ path: String, limit: Int) -> Result<[UInt8], HostError> {
        RegularFile.read(path, limit: limit).mapError { HostError($0.message) }
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
