import Glibc
import TokendCore
import TokendPlatform

/// The persistent cache's directory (SPEC §9): created 0700 when missing,
/// and refused (the cache is then off for the run) when it is not a
/// directory, is wider than 0700, or belongs to another user.
public enum StateDirectory {
    /// nil when `path` is fit for the cache, else why not.
    public static func prepare(_ path: String) -> String? {
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            return "cannot create \(path): \(errnoText(errno))"
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return "cannot examine \(path): \(errnoText(errno))" }
        guard st.st_mode & S_IFMT == S_IFDIR else { return "\(path) is not a directory" }
        guard st.st_uid == geteuid() else { return "\(path) belongs to uid \(st.st_uid), not to tokend (uid \(geteuid()))" }
        guard st.st_mode & 0o077 == 0 else {
            return "\(path) has mode \(String(st.st_mode & 0o7777, radix: 8)); the cache needs 0700 (chmod 700 it)"
        }
        return nil
    }

    /// The entry file of `profile` in `directory`.
    public static func entryPath(_ directory: String, profile: String) -> String {
        directory + "/" + profile + ".entry"
    }

    /// An entry file's bytes; nil when there is none.
    public static func readEntry(_ path: String) throws(HostError) -> [UInt8]? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw HostError("cannot examine \(path): \(errnoText(errno))")
        }
        switch SystemHost().readFile(path, limit: 1 << 20) {
        case .success(let bytes): return bytes
        case .failure(let error): throw HostError("cannot read \(path): \(error.message)")
        }
    }
}
