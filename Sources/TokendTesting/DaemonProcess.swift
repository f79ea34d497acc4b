import Glibc

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
public final class NotifyListener: @unchecked Sendable {  // one thread at a time
    public let path: String
    public let fd: Int32

    public init(directory: String) {
        path = directory + "/notify-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8.prefix(107))) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    deinit { close(fd); unlink(path) }

    /// The next datagram, or nil after `timeout` seconds.
    public func next(timeout: Double = 10) -> String? {
        guard waitReadable(fd, until: Clocks.deadline(in: timeout)) else { return nil }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: chunk[0..<n], as: UTF8.self) : nil
    }

    /// Waits for a datagram containing `fragment`; returns it.
    public func await(_ fragment: String, timeout: Double = 15) -> String? {
        let deadline = Clocks.deadline(in: timeout)
        while Clocks.monotonic() < deadline {
            let left = Double(deadline - Clocks.monotonic()) / 1e9
            if let message = next(timeout: left), message.contains(fragment) { return message }
        }
        return nil
    }
}

/// A real tokend process on a configuration file, started and awaited
/// through its own READY=1 notification (no sleeping).
public final class DaemonProcess: @unchecked Sendable {  // one thread at a time
    public let directory: String
    public let socket: String
    public let notify: NotifyListener
    public let process: ChildProcess
    public var configPath: String { directory + "/tokend.toml" }
    /// The file stderr goes to, when one was given.
    public let logFile: String?
    public var pid: pid_t { process.pid }

    /// - Parameters:
    ///   - config: the file's text after its `socket = ...` line.
    ///   - tokend: the executable; by default the one beside the running program.
    ///   - wrapper: a command that execs its last arguments (tokend and its
    ///     options), e.g. `unshare -m ...`; tokend's pid is then the wrapper's.
    ///   - logFile: where stderr goes (kept after the run); by default it is
    ///     captured in memory.
    public init(config: String, tokend: String = TestFiles.productsDirectory + "/tokend",
                extraEnvironment: [String: String] = [:], directory: String? = nil, wrapper: [String] = [],
                socket socketPath: String? = nil, logFile: String? = nil) throws {
        self.logFile = logFile
        self.directory = directory ?? TestFiles.temporaryDirectory()
        socket = socketPath ?? self.directory + "/tokend.sock"
        let configPath = self.directory + "/tokend.toml"
        // The persistent cache goes to the test's directory unless the test says where.
        let state = config.contains("state_dir") ? "" : "state_dir = \"\(self.directory)/state\"\n"
        try TestFiles.write(configPath, "socket = \"\(socket)\"\n" + state + config, mode: 0o600)
        notify = NotifyListener(directory: self.directory)
        var environment = extraEnvironment
        environment["NOTIFY_SOCKET"] = notify.path
        let command = wrapper + [tokend, "--config", configPath]
        process = try ChildProcess(command[0], Array(command.dropFirst()), environment: environment,
                                   removing: ["JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"],
                                   stderr: logFile.map { .file($0) } ?? .capture)
    }

    /// Waits for `READY=1` (up to `timeout` seconds).
    public func waitReady(timeout: Double = 30) -> Bool { notify.await("READY=1", timeout: timeout) != nil }

    /// Waits up to `timeout` for the daemon to exit by itself; false when it is still running.
    public func waitForExit(timeout: Double) -> Bool { process.wait(timeout: timeout) != nil }

    public var isRunning: Bool { process.isRunning }

    /// Waits for the exit: the status (128 + signal when killed).
    @discardableResult
    public func wait() -> Int32 { process.wait() }

    public func signal(_ number: Int32) { process.signal(number) }

    /// SIGTERM and wait; the exit status.
    @discardableResult
    public func stop() -> Int32 {
        process.signal(SIGTERM)
        return process.wait()
    }

    /// What the daemon wrote to stderr; complete once it has exited.
    public var log: String {
        if let logFile { return TestFiles.read(logFile) ?? "" }
        return process.stderr!.text(waitingForEOF: !process.isRunning)
    }
}
