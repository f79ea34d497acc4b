import Glibc

/// Reading a regular file that a configuration names: a secret, a key, a
/// certificate, a federated assertion or subject token (read for every
/// request, on a transfer thread).
public enum RegularFile {
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Reads a regular file. Opened non-blocking and checked with `fstat`
    /// before any read, so that a FIFO or a device named by mistake (or
    /// planted) is an error rather than a start, reload or `--check` that
    /// hangs. The buffers are sized from `fstat` and cleared after use: a
    /// secret leaves no copy in freed memory that this code owns.
    public static func read(_ path: String, limit: Int) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(Failure(errnoText(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(Failure(errnoText(errno))) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .failure(Failure("is a directory"))
        case S_IFIFO: return .failure(Failure("is a FIFO, not a regular file"))
        case S_IFCHR, S_IFBLK: return .failure(Failure("is a device, not a regular file"))
        case S_IFSOCK: return .failure(Failure("is a socket, not a regular file"))
        default: return .failure(Failure("is not a regular file"))
        }
        guard Int(st.st_size) <= limit else { return .failure(Failure("larger than \(limit) bytes")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(st.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 16384)
        defer { for i in chunk.indices { chunk[i] = 0 } }
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let text = errnoText(errno)
                for i in bytes.indices { bytes[i] = 0 }
                return .failure(Failure(text))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit {
                for i in bytes.indices { bytes[i] = 0 }
                return .failure(Failure("larger than \(limit) bytes"))
            }
        }
        return .success(bytes)
    }
}
