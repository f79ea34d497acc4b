import Foundation
import Glibc

/// Where `swift build` put tokend and tokenctl.
let productsDirectory: String = {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("tokend").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.path
}()

func temporaryDirectory() -> String {
    var template = Array("/tmp/tokend-test.XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}

/// A blocking line client on a Unix socket, with a deadline on every read.
final class LineClient: @unchecked Sendable {  // one thread at a time
    let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a daemon that closed the connection must not SIGPIPE the test.
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// The next line without LF, or nil on EOF or timeout.
    func readLine(timeout: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let i = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(left * 1000)) <= 0 { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    func request(_ line: String) -> String? {
        send(line + "\n")
        return readLine()
    }

    /// True when the daemon closed the connection (EOF) within `timeout`.
    func isClosed(timeout: Double = 5) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { return false }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 0
    }
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
final class NotifyListener {
    let path: String
    let fd: Int32

    init(directory: String) {
        path = directory + "/notify-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    deinit { close(fd); unlink(path) }

    /// The next datagram, or nil after `timeout`.
    func next(timeout: Double = 10) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: chunk[0..<n], as: UTF8.self) : nil
    }

    /// Waits for a datagram containing `fragment`; returns it.
    func await(_ fragment: String, timeout: Double = 15) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            if let message = next(timeout: deadline.timeIntervalSinceNow), message.contains(fragment) { return message }
        }
        return nil
    }
}

/// A real tokend process on a configuration file, started and awaited
/// through its own READY=1 notification (no sleeping).
final class DaemonProcess {
    let directory: String
    let socket: String
    let process = Process()
    let notify: NotifyListener
    let stderrPipe = Pipe()
    /// Drains stderr while the daemon runs: a full pipe would block it.
    private var stderrReader: OutputCollector!

    /// - Parameter wrapper: a command that execs its last arguments (tokend
    ///   and its options), e.g. `unshare -m ...`; tokend's pid is then the wrapper's.
    init(config: String, extraEnvironment: [String: String] = [:], directory: String? = nil, wrapper: [String] = [],
         socket socketPath: String? = nil) throws {
        self.directory = directory ?? temporaryDirectory()
        socket = socketPath ?? self.directory + "/tokend.sock"
        let configPath = self.directory + "/tokend.toml"
        try ("socket = \"\(socket)\"\n" + config).write(toFile: configPath, atomically: true, encoding: .utf8)
        chmod(configPath, 0o600)
        notify = NotifyListener(directory: self.directory)
        let command = wrapper + [productsDirectory + "/tokend", "--config", configPath]
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env.removeValue(forKey: "JOURNAL_STREAM")
        for (k, v) in extraEnvironment { env[k] = v }
        process.environment = env
        process.standardError = stderrPipe
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        stderrReader = OutputCollector(stderrPipe)
    }

    private let exited = DispatchSemaphore(value: 0)

    /// Waits up to `timeout` for the daemon to exit by itself; false when it is still running.
    func waitForExit(timeout: Double) -> Bool {
        guard exited.wait(timeout: .now() + timeout) == .success else { return false }
        exited.signal()
        process.waitUntilExit()
        return true
    }

    var configPath: String { directory + "/tokend.toml" }

    func waitReady() -> Bool { notify.await("READY=1") != nil }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { signal(SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// What the daemon wrote to stderr; complete once it has exited.
    var log: String { stderrReader.text(waitingForEOF: !process.isRunning) }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// Reads a pipe to its end on a thread of its own, keeping what it read.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private let finished = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let fd = pipe.fileHandleForReading.fileDescriptor
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                lock.withLock { bytes += chunk[0..<n] }
            }
            finished.signal()
        }
    }

    /// The text so far; with `waitingForEOF`, first waits (up to 10 s) for the writer to close.
    func text(waitingForEOF: Bool) -> String {
        if waitingForEOF, finished.wait(timeout: .now() + 10) == .success { finished.signal() }
        return lock.withLock { String(decoding: bytes, as: UTF8.self) }
    }
}

/// Runs a program to its end; returns (status, stdout, stderr). Both
/// streams are read while it runs, so neither pipe can fill up and block it.
func runTool(_ path: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errors = OutputCollector(err)
    let output = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), errors.text(waitingForEOF: true))
}

/// Runs tokenctl; returns (status, stdout, stderr).
func tokenctl(_ arguments: [String], socket: String?) throws -> (Int32, String, String) {
    try runTool(productsDirectory + "/tokenctl", (socket.map { ["--socket", $0] } ?? []) + arguments)
}

func profileConfig(_ name: String, url: String, id: String = "demo", secret: String = "demo-secret", extra: String = "") -> String {
    "\n[profile.\(name)]\ntoken_url = \"\(url)\"\nclient_id = \"\(id)\"\nclient_secret = \"\(secret)\"\n\(extra)\n"
}

/// A TCP listener on 127.0.0.1 that never accepts: connections complete in
/// the kernel's backlog and no answer ever comes, like a wedged IdP.
final class BlackHoleServer {
    let fd: Int32
    let port: UInt16

    init() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length)
                listen(fd, 16)
                return getsockname(fd, pointer, &length)
            }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    var url: String { "http://127.0.0.1:\(port)/token" }

    deinit { close(fd) }
}

/// CLOCK_MONOTONIC in microseconds, the clock of `MONOTONIC_USEC=`.
func monotonicMicroseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
}

/// A child started with posix_spawn and reaped with waitpid. Foundation's
/// `Process` cannot watch a child that closes every inherited descriptor
/// (as `systemd-socket-activate` does before it execs): it believes the
/// child gone and blocks in `waitpid`.
final class SpawnedProcess {
    let pid: pid_t
    /// The read end of the child's stderr.
    let stderr: Int32
    private var status: Int32?

    init(_ path: String, _ arguments: [String]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &actions, nil, argv, environ)
        close(fds[1])
        guard result == 0 else { close(fds[0]); throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
        pid = child
        stderr = fds[0]
    }

    /// Waits for the child to exit; its exit status, or 128 + signal.
    @discardableResult
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0, errno == EINTR {}
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = code
        return code
    }

    /// Reads stderr until it contains `fragment` (true), or EOF or `timeout` (false).
    func awaitStderr(containing fragment: String, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var text = ""
        while deadline.timeIntervalSinceNow > 0 {
            var p = pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(deadline.timeIntervalSinceNow * 1000)) > 0 else { return false }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(stderr, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            text += String(decoding: chunk[0..<n], as: UTF8.self)
            if text.contains(fragment) { drainStderr(); return true }
        }
        return false
    }

    /// Reads the rest of stderr on a thread of its own: a full pipe would block the child.
    private func drainStderr() {
        let fd = dup(stderr)
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while chunk.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
            close(fd)
        }
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); wait() }
        close(stderr)
    }
}

/// The repository's root, for the scripts in tests/support.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A server written by someone else's rules: a Python script from
/// tests/support that prints its port as its first line and serves until
/// killed.
final class PythonServer {
    let process = Process()
    let port: Int
    private let stderr: OutputCollector

    init(script: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot + "/tests/support/" + script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        stderr = OutputCollector(err)
        guard let line = readFirstLine(out.fileHandleForReading.fileDescriptor, timeout: 30), let port = Int(line) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ServerFailure(message: "\(script) did not start: \(stderr.text(waitingForEOF: true))")
        }
        self.port = port
    }

    /// What the server wrote to stderr so far.
    var log: String { stderr.text(waitingForEOF: false) }

    struct ServerFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    deinit {
        // SIGKILL: a child spawned from a test's worker thread inherits its
        // blocked signals, SIGTERM included.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// The first line a process writes, without its LF.
func readFirstLine(_ fd: Int32, timeout: Double) -> String? {
    var line: [UInt8] = []
    let deadline = Date().addingTimeInterval(timeout)
    while deadline.timeIntervalSinceNow > 0 {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(deadline.timeIntervalSinceNow * 1000)) > 0 else { return nil }
        var byte: UInt8 = 0
        guard read(fd, &byte, 1) == 1 else { return nil }
        if byte == 10 { return String(decoding: line, as: UTF8.self) }
        line.append(byte)
    }
    return nil
}

/// A throw-away PKI made by tests/support/make-test-pki.sh.
func makeTestPKI(caName: String = "tokend test CA") throws -> String {
    let pki = temporaryDirectory()
    let (status, _, errors) = try runTool("/bin/bash", [repositoryRoot + "/tests/support/make-test-pki.sh", pki, caName])
    guard status == 0 else { throw PythonServer.ServerFailure(message: "openssl could not make the test PKI: \(errors)") }
    return pki
}

/// Whether the tests run as root (some need to mount or change users).
var runningAsRoot: Bool { geteuid() == 0 }

/// tests/support/preload.c, compiled once: an LD_PRELOAD library that makes
/// tokend's environment hostile on purpose (see the file for its variables).
let preloadLibrary: String = {
    let output = temporaryDirectory() + "/preload.so"
    let (status, _, errors) = (try? runTool("/usr/bin/cc", ["-shared", "-fPIC", "-O1", "-o", output,
                                                          repositoryRoot + "/tests/support/preload.c", "-ldl"])) ?? (-1, "", "cc did not run")
    precondition(status == 0, "cannot build tests/support/preload.c: \(errors)")
    return output
}()

/// A temporary directory that other users may enter: for a daemon whose
/// socket a client of another user (nobody) must reach (with `socket_mode = "0666"`).
func sharedTemporaryDirectory() -> String {
    let dir = temporaryDirectory()
    chmod(dir, 0o755)
    return dir
}

/// The environment that loads tests/support/preload.c into tokend, with
/// `variables` to switch its behaviours on. Under AddressSanitizer the
/// runtime must be told that it is not first in the library list.
func preloadEnvironment(_ variables: [String: String]) -> [String: String] {
    var environment = variables
    environment["LD_PRELOAD"] = preloadLibrary
    if ProcessInfo.processInfo.environment["TOKEND_SANITIZER"] == "address" {
        environment["ASAN_OPTIONS"] = (ProcessInfo.processInfo.environment["ASAN_OPTIONS"] ?? "") + " verify_asan_link_order=0"
    }
    return environment
}

/// Runs a program as nobody (uid and gid 65534, no supplementary group); needs root.
func runAsNobody(_ path: String, _ arguments: [String]) throws -> (Int32, String, String) {
    try runTool("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", path] + arguments)
}
