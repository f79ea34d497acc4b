import Glibc

/// Files and directories of a test or bench run.
public enum TestFiles {
    /// A fresh private directory under /tmp.
    public static func temporaryDirectory(prefix: String = "tokend-test") -> String {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        return String(cString: mkdtemp(&template)!)
    }

    /// Writes `text` to `path` (created or truncated) with `mode`.
    public static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw HarnessFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw HarnessFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// The whole content of `path`, or nil when it cannot be read.
    public static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes += chunk[0..<n]
        }
    }

    /// Raises this process's descriptor limit to its hard limit (children inherit it).
    public static func raiseDescriptorLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        if getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(resource, &limit)
        }
    }

    /// The directory holding the running executable's build products
    /// (`tokend`, `tokenctl`): a parent of the test bundle for the tests.
    /// (tokend-bench, built in Benchmarks/, is always given `--tokend`.)
    public static let productsDirectory: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        var directory = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "."
        repeat {
            directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            if access(directory + "/tokend", X_OK) == 0 { return directory }
        } while !directory.isEmpty
        return "."
    }()
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks.
public enum LoopbackTCP {
    /// The descriptor and its port; listening (a backlog of 16) when asked.
    public static func bind(listening: Bool) -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length)
                if listening { listen(fd, 16) }
                return getsockname(fd, pointer, &length)
            }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A port free a moment ago (bound, read, released): for a daemon told to listen there.
    public static func freePort() -> Int {
        let (fd, port) = bind(listening: false)
        close(fd)
        return port
    }
}
