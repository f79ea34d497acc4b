import CProcessShim
import Glibc
import TokendCore
import TokendPlatform

/// Writes and removes token files (SPEC §11) and cache entries (SPEC §9) the careful way: relative to a
/// descriptor of their directory, never following a symbolic link, and by
/// atomic replacement (a temporary file in the same directory, `fsync`,
/// `rename`, `fsync` of the directory), so that a reader sees the old file
/// or the new one, never a part. Blocking: call it off the event loops.
public enum TokenFileWriter {
    /// Replaces `sink.path` with `bytes`, with the sink's mode and group.
    /// Anything but a regular file at the path (a symbolic link planted by
    /// another user, a directory) is left alone and reported.
    public static func write(_ bytes: [UInt8], to sink: TokenFileSink) throws(HostError) {
        try replace(sink, with: bytes)
    }

    /// Replaces the file at `path` with `bytes` (mode `mode`, group `group`
    /// if given) by atomic replacement, as for a token file.
    public static func replace(_ path: String, with bytes: [UInt8], mode: UInt32, group: UInt32? = nil) throws(HostError) {
        try replace(TokenFileSink(path: path, mode: mode, group: group.map(NamedID.id)), with: bytes)
    }

    private static func replace(_ sink: TokenFileSink, with bytes: [UInt8]) throws(HostError) {
        let directory = try openDirectory(sink)
        defer { close(directory) }
        try checkReplaceable(sink, in: directory)
        removeStaleTemporaries(of: sink, in: directory)
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<4 {
            temporary = ".\(sink.fileName).tokend-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
            fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw HostError("cannot create a temporary file in \(sink.directory): \(errnoText(errno))") }
        var renamed = false
        defer {
            if fd >= 0 { close(fd) }
            if !renamed { unlinkat(directory, temporary, 0) }
        }
        // A new file already has the process's effective group (the default),
        // unless the directory is set-group-ID: fchown only when the group
        // must change, so that the usual case needs no chown at all.
        if let gid = sink.groupID {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw HostError("cannot examine \(sink.path): \(errnoText(errno))") }
            if st.st_gid != gid, fchown(fd, uid_t.max, gid) != 0 {
                throw HostError("cannot give \(sink.path) to group \(gid): \(errnoText(errno))")
            }
        }
        guard fchmod(fd, mode_t(sink.mode)) == 0 else { throw HostError("cannot set the mode of \(sink.path): \(errnoText(errno))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw HostError("cannot write \(sink.path): \(errnoText(n < 0 ? errno : EIO))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw HostError("cannot write \(sink.path): \(errnoText(errno))") }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw HostError("cannot write \(sink.path): \(errnoText(errno))") }
        guard renameat(directory, temporary, directory, sink.fileName) == 0 else {
            throw HostError("cannot replace \(sink.path): \(errnoText(errno))")
        }
        renamed = true
        guard fsync(directory) == 0 else { throw HostError("cannot sync \(sink.directory): \(errnoText(errno))") }
    }

    /// Removes the file at `path` if it is a regular file; nothing there is fine.
    public static func remove(_ path: String) throws(HostError) {
        try remove(TokenFileSink(path: path))
    }

    /// Removes the file at `sink.path` if it is a regular file; nothing there is fine.
    public static func remove(_ sink: TokenFileSink) throws(HostError) {
        let directory = try openDirectory(sink)
        defer { close(directory) }
        // A temporary copy left by a killed daemon goes with the file.
        removeStaleTemporaries(of: sink, in: directory)
        var st = stat()
        guard fstatat(directory, sink.fileName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw HostError("cannot examine \(sink.path): \(errnoText(errno))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw HostError("\(sink.path) \(describe(st.st_mode)): not removed") }
        guard unlinkat(directory, sink.fileName, 0) == 0 || errno == ENOENT else {
            throw HostError("cannot remove \(sink.path): \(errnoText(errno))")
        }
        _ = fsync(directory)
    }

    private static func openDirectory(_ sink: TokenFileSink) throws(HostError) -> Int32 {
        let fd = tokend_open_directory_nofollow(sink.directory)
        guard fd >= 0 else {
            if errno == ELOOP { throw HostError("\(sink.directory): a component of the path is a symbolic link (give the real path)") }
            throw HostError("cannot open the directory \(sink.directory): \(errnoText(errno))")
        }
        return fd
    }

    private static func checkReplaceable(_ sink: TokenFileSink, in directory: Int32) throws(HostError) {
        var st = stat()
        if fstatat(directory, sink.fileName, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            guard st.st_mode & S_IFMT == S_IFREG else { throw HostError("\(sink.path) \(describe(st.st_mode)): not replaced") }
        } else if errno != ENOENT {
            throw HostError("cannot examine \(sink.path): \(errnoText(errno))")
        }
    }

    /// Temporary files of this sink left by a process killed mid-write.
    private static func removeStaleTemporaries(of sink: TokenFileSink, in directory: Int32) {
        let copy = dup(directory)
        guard copy >= 0, let stream = fdopendir(copy) else { if copy >= 0 { close(copy) }; return }
        defer { closedir(stream) }
        let prefix = ".\(sink.fileName).tokend-"
        var stale: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(prefix) { stale.append(name) }
        }
        for name in stale { unlinkat(directory, name, 0) }
    }

    private static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "is a symbolic link"
        case S_IFDIR: return "is a directory"
        default: return "is not a regular file"
        }
    }
}
