import Glibc

/// `sd_notify` without libsystemd: datagrams to `$NOTIFY_SOCKET` (a path,
/// or an abstract name written with a leading `@`).
public final class ServiceNotifier: Sendable {
    private let path: String?

    public init(environment: [String: String]? = nil) {
        if let environment { path = environment["NOTIFY_SOCKET"] }
        else { path = getenv("NOTIFY_SOCKET").map { String(cString: $0) } }
        unsetenv("NOTIFY_SOCKET")  // children must not talk to systemd in our name
    }

    public var isActive: Bool { path != nil }

    /// Sends `state` (lines like `READY=1`); false when there is no socket or it failed.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let path, !path.isEmpty else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let sent = state.utf8CString.withUnsafeBufferPointer { message in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    // MSG_DONTWAIT: a notify socket nobody reads (its queue full) must
                    // drop the message, not block the event loop that sends it.
                    sendto(fd, message.baseAddress, message.count - 1, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, length)
                }
            }
        }
        return sent >= 0
    }

    /// The watchdog interval systemd expects pings at, halved (SPEC §6), if enabled for us.
    public static func watchdogInterval(environment: [String: String]? = nil) -> Int64? {
        let env = { (name: String) -> String? in
            if let environment { return environment[name] }
            return getenv(name).map { String(cString: $0) }
        }
        guard let text = env("WATCHDOG_USEC"), let usec = Int64(text), usec > 0 else { return nil }
        if let pid = env("WATCHDOG_PID"), Int32(pid) != getpid() { return nil }
        return usec * 1000 / 2
    }

    /// `MONOTONIC_USEC=` value for `RELOADING=1`.
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}
