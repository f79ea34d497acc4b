import Glibc

/// A blocking client of tokend's line protocol on a Unix socket, with a
/// deadline on every read: the tests' and the bench's one client.
public final class LineClient: @unchecked Sendable {  // one thread at a time
    public let fd: Int32
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65536)
    private var closed = false

    /// Takes over a connected stream socket.
    public init(fd: Int32) { self.fd = fd }

    /// Connects to the socket at `path`.
    public convenience init(path: String) throws {
        guard let fd = LineClient.connectDescriptor(path) else {
            throw HarnessFailure("cannot connect to \(path): \(String(cString: strerror(errno)))")
        }
        self.init(fd: fd)
    }

    /// Connects to `path`; nil when the daemon cannot be reached.
    public static func connect(_ path: String) -> LineClient? {
        connectDescriptor(path).map(LineClient.init(fd:))
    }

    /// A connected stream socket descriptor, or nil (errno says why).
    public static func connectDescriptor(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8.prefix(107))) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let saved = errno
            Glibc.close(fd)
            errno = saved
            return nil
        }
        return fd
    }

    deinit { close() }

    /// Writes all of `bytes`; false when the peer is gone.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool { LineClient.writeAll(fd, bytes) }

    /// Writes all of `text`; false when the peer is gone.
    @discardableResult
    public func send(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { write($0) }
    }

    /// Writes all of `bytes` to `fd`, a blocking socket; false when the peer
    /// is gone (MSG_NOSIGNAL: a daemon that closed the connection must not
    /// SIGPIPE the caller).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// The next line without LF, or nil on EOF, error or timeout.
    public func readLine(timeout: Double = 10) -> String? {
        let deadline = Clocks.deadline(in: timeout)
        var scanned = 0
        while true {
            if let i = buffer[scanned...].firstIndex(of: 10) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeSubrange(...i)
                return line
            }
            scanned = buffer.count
            guard waitReadable(fd, until: deadline) else { return nil }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }

    /// Sends `line` and reads its answer.
    public func request(_ line: String, timeout: Double = 10) -> String? {
        guard send(line + "\n") else { return nil }
        return readLine(timeout: timeout)
    }

    /// True when the daemon closed the connection (EOF) within `timeout`,
    /// with no byte before it.
    public func isClosed(timeout: Double = 5) -> Bool {
        guard waitReadable(fd, until: Clocks.deadline(in: timeout)) else { return false }
        var byte: UInt8 = 0
        return Glibc.read(fd, &byte, 1) == 0
    }

    /// True when the daemon closes the connection within `timeout`; any
    /// unread answers before the close are skipped.
    public func awaitClose(timeout: Double) -> Bool {
        let deadline = Clocks.deadline(in: timeout)
        while waitReadable(fd, until: deadline) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return true }
        }
        return false
    }

    /// Ends our side of the stream; answers can still be read.
    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}
