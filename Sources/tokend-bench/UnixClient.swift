import Glibc

/// A blocking Unix-socket connection for the bench's clients, with a read buffer.
final class UnixClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 16384)

    init(fd: Int32) { self.fd = fd }

    /// Connects to `path`; nil when the daemon cannot be reached.
    static func connect(_ path: String) -> UnixClient? {
        connectDescriptor(path).map(UnixClient.init(fd:))
    }

    /// A connected stream socket descriptor, or nil.
    static func connectDescriptor(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8.prefix(107))) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { Glibc.close(fd); return nil }
        return fd
    }

    /// Writes all of `bytes`; false when the peer is gone.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool { UnixClient.writeAll(fd, bytes) }

    /// Writes all of `bytes` to `fd`, a blocking socket; false when the peer is gone.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    func write(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { write($0) }
    }

    /// Reads one line (without LF) within `timeout` seconds; nil on EOF, error or timeout.
    func readLine(timeout: Double) -> String? {
        let deadline = Clocks.monotonic() + UInt64(timeout * 1e9)
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
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
    }

    /// Sends `line` and reads its answer.
    func request(_ line: String, timeout: Double = 10) -> String? {
        guard write(line + "\n") else { return nil }
        return readLine(timeout: timeout)
    }

    /// True when the daemon closes the connection within `timeout` (any unread answers are skipped).
    func awaitClose(timeout: Double) -> Bool {
        let deadline = Clocks.monotonic() + UInt64(timeout * 1e9)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while waitReadable(fd, until: deadline) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return true }
        }
        return false
    }

    func close() { Glibc.close(fd) }

    /// Ends our side of the stream; answers can still be read.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }
}
