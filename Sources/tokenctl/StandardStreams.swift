import Glibc

/// Writes to stdout and stderr with raw write(2): each call is one complete
/// write, so lines from concurrent tokenctl processes sharing a log never
/// interleave mid-line, and nothing is left in a stdio buffer at exit.
enum StandardStreams {
    /// Writes `text` to stdout; on failure (e.g. a closed pipe) the errno text.
    @discardableResult
    static func out(_ text: String) -> String? {
        writeAll(1, text) ? nil : String(cString: strerror(errno))
    }

    /// Writes one error line, `tokenctl: ` prefixed, to stderr.
    static func error(_ message: String) {
        writeAll(2, "tokenctl: \(message)\n")
    }

    @discardableResult
    private static func writeAll(_ fd: Int32, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return false }
            }
            return true
        }
    }
}
