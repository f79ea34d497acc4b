import Glibc

/// A tokend process started on a generated configuration and awaited
/// through its `READY=1` datagram.
final class DaemonUnderTest {
    let directory: String
    let socket: String
    let logPath: String
    let process: ChildProcess
    private let notifyFD: Int32
    private let notifyPath: String

    init(tokend: String, directory: String, configuration: String) throws {
        self.directory = directory
        socket = directory + "/tokend.sock"
        logPath = directory + "/tokend.log"
        let configPath = directory + "/tokend.toml"
        try BenchFiles.write(configPath, "socket = \"\(socket)\"\n" + configuration, mode: 0o600)
        notifyPath = directory + "/notify.sock"
        notifyFD = socket_datagram(bindTo: notifyPath)
        process = try ChildProcess(tokend, ["--config", configPath], environment: ["NOTIFY_SOCKET": notifyPath], stderr: logPath)
        guard awaitNotification("READY=1", timeout: 30) else {
            throw BenchFailure("tokend did not become ready; its log: \(logPath)")
        }
    }

    var probe: ProcessProbe { ProcessProbe(pid: process.pid) }

    /// Waits for a notification datagram containing `fragment`.
    func awaitNotification(_ fragment: String, timeout: Double) -> Bool {
        let deadline = Clocks.monotonic() + UInt64(timeout * 1e9)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while waitReadable(notifyFD, until: deadline) {
            let n = chunk.withUnsafeMutableBytes { recv(notifyFD, $0.baseAddress, $0.count, 0) }
            if n > 0, String(decoding: chunk[0..<n], as: UTF8.self).contains(fragment) { return true }
        }
        return false
    }

    /// SIGTERM and wait: the exit status.
    func stop() -> Int32 {
        process.signal(SIGTERM)
        return process.wait()
    }

    deinit {
        close(notifyFD)
        unlink(notifyPath)
    }
}

private func socket_datagram(bindTo path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8.prefix(107))) }
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return fd
}

/// Files and directories of a bench run.
enum BenchFiles {
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/tokend-bench.XXXXXX".utf8CString)
        return String(cString: mkdtemp(&template)!)
    }

    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BenchFailure("cannot write \(path)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw BenchFailure("cannot write \(path)")
        }
    }

    /// Raises this process's descriptor limit (children inherit it).
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        if getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(resource, &limit)
        }
    }
}
