import CProcessShim
import Glibc

/// A child process started with posix_spawn (no shell) and reaped with
/// waitpid, for the tests and the bench. Foundation's `Process` is not used:
/// it cannot watch a child that closes every inherited descriptor (as
/// `systemd-socket-activate` does before it execs), and the bench must not
/// load Foundation.
public final class ChildProcess: @unchecked Sendable {  // one thread drives it; `status` is set by that thread
    /// Where a standard stream of the child goes.
    public enum Stream {
        case null
        /// Appended to a file (created 0600).
        case file(String)
        /// Read by a thread of ours while the child runs (so a full pipe never
        /// blocks it) and kept: see `output` and `awaitOutput`.
        case capture
    }

    public let pid: pid_t
    /// The child's stdout and stderr, when captured.
    public let stdout: CapturedOutput?
    public let stderr: CapturedOutput?
    private var status: Int32?
    private let exitDescriptor: Int32

    /// - Parameters:
    ///   - environment: variables set on top of this process's environment.
    ///   - removing: variables of this process's environment the child does not get.
    public init(_ path: String, _ arguments: [String], environment: [String: String] = [:], removing: [String] = [],
                stdin: String = "/dev/null", stdout: Stream = .null, stderr: Stream = .null) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        var captures: [Int32: (read: Int32, write: Int32)] = [:]
        defer { for pipe in captures.values { close(pipe.write) } }
        for (target, stream) in [(Int32(1), stdout), (Int32(2), stderr)] {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
            case .file(let file):
                posix_spawn_file_actions_addopen(&actions, target, file, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            case .capture:
                var fds: [Int32] = [0, 0]
                guard pipe(&fds) == 0 else { throw HarnessFailure("cannot create a pipe: \(String(cString: strerror(errno)))") }
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                captures[target] = (fds[0], fds[1])
                posix_spawn_file_actions_adddup2(&actions, fds[1], target)
            }
        }
        // The child starts with default signal dispositions and an empty mask,
        // whatever the spawning test thread had blocked.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var merged = ChildProcess.currentEnvironment()
        for name in removing { merged.removeValue(forKey: name) }
        for (key, value) in environment { merged[key] = value }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawnp(&child, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            for pipe in captures.values { close(pipe.read) }
            throw HarnessFailure("cannot start \(path): \(String(cString: strerror(result)))")
        }
        pid = child
        exitDescriptor = tokend_pidfd_open(child)
        self.stdout = captures[1].map { CapturedOutput(reading: $0.read) }
        self.stderr = captures[2].map { CapturedOutput(reading: $0.read) }
    }

    /// Waits for exit: the exit status, or 128 + the signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0, errno == EINTR {}
        return record(raw)
    }

    /// Waits up to `timeout` seconds for the exit; nil when still running.
    public func wait(timeout: Double) -> Int32? {
        if let status { return status }
        let deadline = Clocks.deadline(in: timeout)
        repeat {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { return record(raw) }
            if exitDescriptor >= 0 {
                _ = waitReadable(exitDescriptor, until: deadline)
            } else {
                Clocks.sleep(seconds: 0.01)  // no pidfd (Linux < 5.3): look again shortly
            }
        } while Clocks.monotonic() < deadline
        var raw: Int32 = 0
        return waitpid(pid, &raw, WNOHANG) == pid ? record(raw) : nil
    }

    /// True until the child has exited (and been reaped).
    public var isRunning: Bool { wait(timeout: 0) == nil }

    public func signal(_ number: Int32) {
        if status == nil { kill(pid, number) }
    }

    private func record(_ raw: Int32) -> Int32 {
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = code
        return code
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); wait() }
        if exitDescriptor >= 0 { close(exitDescriptor) }
    }

    static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let eq = text.firstIndex(of: "=") { result[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            entry += 1
        }
        return result
    }

    /// Runs a program to its end: (status, stdout, stderr).
    public static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let child = try ChildProcess(path, arguments, environment: environment, stdout: .capture, stderr: .capture)
        let status = child.wait()
        return (status, child.stdout!.text(waitingForEOF: true), child.stderr!.text(waitingForEOF: true))
    }
}

/// What a child wrote to a pipe, read to its end by a thread of its own.
public final class CapturedOutput: @unchecked Sendable {  // `bytes` and `finished` only under `mutex`
    // On the heap: a pthread object must not move, which a stored property passed with & may.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var bytes: [UInt8] = []
    private var finished = false

    init(reading fd: Int32) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        let context = Unmanaged.passRetained(ReaderContext(output: self, fd: fd)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<ReaderContext>.fromOpaque(raw!).takeRetainedValue()
            context.output.drain(context.fd)
            return nil
        }, context)
        precondition(created == 0, "cannot start a reader thread")
        pthread_detach(thread)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    private final class ReaderContext {
        let output: CapturedOutput
        let fd: Int32
        init(output: CapturedOutput, fd: Int32) { self.output = output; self.fd = fd }
    }

    private func drain(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            pthread_mutex_lock(mutex)
            if n > 0 { bytes += chunk[0..<n] } else { finished = true }
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(mutex)
            if n <= 0 { break }
        }
        close(fd)
    }

    /// Waits until `condition` holds for the bytes so far, the writer closes,
    /// or `deadline` (CLOCK_MONOTONIC ns) passes; the bytes then.
    private func awaitBytes(until deadline: UInt64, _ condition: ([UInt8]) -> Bool) -> [UInt8] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !condition(bytes), !finished {
            let left = Clocks.millisecondsLeft(until: deadline)
            guard left > 0 else { break }
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let total = Int(now.tv_nsec) + Int(min(left, 1000)) * 1_000_000
            var until = timespec(tv_sec: now.tv_sec + total / 1_000_000_000, tv_nsec: total % 1_000_000_000)
            pthread_cond_timedwait(changed, mutex, &until)
        }
        return bytes
    }

    /// The text so far; with `waitingForEOF`, first waits (up to 10 s) for the writer to close.
    public func text(waitingForEOF: Bool = false) -> String {
        let bytes = awaitBytes(until: Clocks.deadline(in: waitingForEOF ? 10 : 0)) { _ in false }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits up to `timeout` seconds for the text to contain `fragment`.
    public func await(_ fragment: String, timeout: Double = 10) -> Bool {
        let needle = Array(fragment.utf8)
        let bytes = awaitBytes(until: Clocks.deadline(in: timeout)) { CapturedOutput.contains($0, needle) }
        return CapturedOutput.contains(bytes, needle)
    }

    /// The first line (without LF), waiting up to `timeout` seconds for it.
    public func firstLine(timeout: Double) -> String? {
        let bytes = awaitBytes(until: Clocks.deadline(in: timeout)) { $0.contains(10) }
        guard let end = bytes.firstIndex(of: 10) else { return nil }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
