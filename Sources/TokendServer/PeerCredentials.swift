import Glibc
import NIOCore

/// Who is at the other end of a connection, as the kernel says (`SO_PEERCRED`),
/// never as the client says.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    /// Reads the credentials of `channel`'s peer; nil if the kernel will not say.
    static func of(_ channel: Channel) -> PeerCredentials? {
        guard let provider = channel as? SocketOptionProvider else { return nil }
        let future: EventLoopFuture<SendableUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // On the channel's own loop the option is read synchronously.
        var result: PeerCredentials?
        future.whenSuccess { cred in result = PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid) }
        return result
    }

    /// The groups the peer's user belongs to (`getgrouplist`), for `allow_groups`.
    func supplementaryGroups() -> [UInt32] {
        var pwd = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &found) == 0, found != nil, let name = pwd.pw_name else { return [] }
        var count: Int32 = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(name, gid, &groups, &n) >= 0 { return Array(groups.prefix(Int(n))) }
            if n <= count || n > 65536 { return [] }
            count = n
        }
    }
}

/// The layout of Linux's `struct ucred` (Glibc hides it without _GNU_SOURCE).
struct SendableUcred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
