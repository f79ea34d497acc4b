import Glibc
import NIOCore

/// Who is at the other end of a connection, as the kernel says
/// (`SO_PEERCRED`, `SO_PEERGROUPS`), never as the client says.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The connecting process's supplementary groups, when the kernel tells
    /// (Linux 4.13+, at most `PeerGroups.capacity` of them); else empty, and
    /// the user database decides (off the event loop).
    public var kernelGroups: [UInt32]

    /// Reads the credentials of `channel`'s peer; nil if the kernel will not say.
    /// Must run on the channel's event loop, where the options are read synchronously.
    static func of(_ channel: any Channel) -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        var credentials: SendableUcred?
        let future: EventLoopFuture<SendableUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        credentials = try? future.assumeCompleted()
        guard let cred = credentials else { return nil }
        let groups: EventLoopFuture<PeerGroups> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(peerGroupsOption))
        // A list longer than the buffer (ERANGE) or an older kernel: none.
        let kernelGroups = (try? groups.assumeCompleted())?.list ?? []
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, kernelGroups: kernelGroups)
    }

    /// `SO_PEERGROUPS` (include/uapi/asm-generic/socket.h), which Glibc's module may lack.
    static let peerGroupsOption: Int32 = 59
}

/// The layout of Linux's `struct ucred` (Glibc hides it without _GNU_SOURCE).
struct SendableUcred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// A buffer for `SO_PEERGROUPS`: up to 32 group ids. NIO zero-fills it and
/// does not return the length, so zero entries are padding; a real
/// membership in group 0 is then found through the user database instead.
struct PeerGroups: Sendable {
    static let capacity = 32
    typealias Eight = (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    var a: Eight = (0, 0, 0, 0, 0, 0, 0, 0)
    var b: Eight = (0, 0, 0, 0, 0, 0, 0, 0)
    var c: Eight = (0, 0, 0, 0, 0, 0, 0, 0)
    var d: Eight = (0, 0, 0, 0, 0, 0, 0, 0)

    var list: [UInt32] {
        withUnsafeBytes(of: self) { Array($0.bindMemory(to: UInt32.self)) }.filter { $0 != 0 }
    }
}

extension EventLoopFuture {
    /// The value of a future that is already complete (socket options read on their own loop).
    /// Must be called on the future's event loop.
    func assumeCompleted() throws -> Value {
        let box = NIOLoopBoundBox<Result<Value, any Error>?>(nil, eventLoop: eventLoop)
        whenComplete { box.value = $0 }
        guard let result = box.value else { throw ChannelError.inappropriateOperationForState }
        return try result.get()
    }
}
