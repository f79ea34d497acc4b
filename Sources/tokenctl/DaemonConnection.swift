import Glibc

/// One conversation with tokend over its Unix stream socket (SPEC §5): send
/// all request lines at once (pipelining), read one answer line per request,
/// close. Plain POSIX calls keep tokenctl free of Foundation and NIO, which is
/// what lets it start in milliseconds.
///
/// Everything is bounded by one deadline so that a wedged daemon cannot hang a
/// script: connect through SO_SNDTIMEO (Linux honours it for AF_UNIX connect),
/// then non-blocking reads and writes waited on with poll().
struct DaemonConnection: ~Copyable {
    /// A single answer line longer than this is not a token: it is a broken
    /// or hostile peer, and reading on would only eat memory.
    static let maximumLineLength = 1 << 20

    private let fd: Int32
    private let path: String
    private let deadline: Deadline
    private let timeoutText: String

    /// Connects to the socket at `path`. Any failure is "cannot be reached" (69).
    init(path: String, timeout seconds: Double) throws(TokenctlFailure) {
        let deadline = Deadline(secondsFromNow: seconds)
        let timeoutText = seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
        self.fd = try DaemonConnection.connect(path: path, deadline: deadline, timeoutText: timeoutText)
        self.path = path
        self.deadline = deadline
        self.timeoutText = timeoutText
    }

    /// A connected, non-blocking socket; closed again on any failure.
    private static func connect(path: String, deadline: Deadline, timeoutText: String) throws(TokenctlFailure) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard !pathBytes.isEmpty, pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .unreachable("cannot connect to \(path): socket path is empty or too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unreachable("cannot create a socket: \(lastError())") }

        // A daemon whose listen backlog is full would block connect() forever.
        let ms = deadline.remainingMilliseconds
        var limit = timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))

        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + 1)
        while true {
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            if result == 0 { break }
            let code = errno
            if code == EINTR { continue }
            if code == EISCONN { break }  // an interrupted connect completed meanwhile
            close(fd)
            if code == EAGAIN {
                throw .unreachable("cannot connect to \(path): no room in the daemon's backlog within \(timeoutText)")
            }
            throw .unreachable("cannot connect to \(path): \(errorText(code))")
        }
        // Non-blocking from here on: poll() is what enforces the deadline.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    deinit { close(fd) }

    /// Sends `requests` (each a line without LF) and returns the answer lines,
    /// without LF, in order. Fewer lines than requests means the daemon closed
    /// the connection early (e.g. after `ERR busy`); the caller decides what
    /// that means, since the lines it did send may explain why.
    func exchange(_ requests: [String]) throws(TokenctlFailure) -> [String] {
        let text = requests.map { $0 + "\n" }.joined()
        try send(Array(text.utf8))
        return try receive(lines: requests.count)
    }

    /// Writes every byte, looping on partial writes. A peer that has already
    /// closed (EPIPE, ECONNRESET) is not an error here: its last words may be
    /// waiting to be read, and `receive` reports the rest.
    private func send(_ bytes: [UInt8]) throws(TokenctlFailure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 { offset += n; continue }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try wait(for: Int16(POLLOUT))
            case EPIPE, ECONNRESET: return
            default: throw .unreachable("cannot write to \(path): \(DaemonConnection.errorText(code))")
            }
        }
    }

    /// Reads until `count` LF-terminated lines arrived or the peer closed.
    private func receive(lines count: Int) throws(TokenctlFailure) -> [String] {
        var lines: [String] = []
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while lines.count < count {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                var scanFrom = pending.count
                pending.append(contentsOf: chunk[0..<n])
                var lineStart = 0
                while lines.count < count, let lf = pending[scanFrom...].firstIndex(of: UInt8(ascii: "\n")) {
                    if lf - lineStart > DaemonConnection.maximumLineLength {
                        throw .malformed("an answer line longer than 1 MiB")
                    }
                    lines.append(String(decoding: pending[lineStart..<lf], as: UTF8.self))
                    lineStart = lf + 1
                    scanFrom = lineStart
                }
                pending.removeFirst(lineStart)
                if pending.count > DaemonConnection.maximumLineLength {
                    throw .malformed("an answer line longer than 1 MiB")
                }
                continue
            }
            if n == 0 { break }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try wait(for: Int16(POLLIN))
            case ECONNRESET: return lines
            default: throw .unreachable("cannot read from \(path): \(DaemonConnection.errorText(code))")
            }
        }
        return lines
    }

    /// Waits until the socket is ready for `events`, or throws once the deadline passed.
    private func wait(for events: Int16) throws(TokenctlFailure) {
        while true {
            let remaining = deadline.remainingMilliseconds
            guard remaining > 0 else {
                throw .unreachable("no answer from \(path) within \(timeoutText)")
            }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&entry, 1, Int32(clamping: remaining))
            // Ready, or hang-up/error: the next read or write reports which.
            if result > 0 { return }
            if result < 0 && errno != EINTR {
                throw .unreachable("cannot wait for \(path): \(DaemonConnection.lastError())")
            }
        }
    }

    private static func lastError() -> String { errorText(errno) }

    private static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
