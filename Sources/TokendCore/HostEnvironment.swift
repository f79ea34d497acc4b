/// What the configuration loader needs from the host: files, the
/// environment and the user database. The daemon passes the real system
/// (`SystemHost` in TokendHost); tests pass a fake.
public protocol HostEnvironment: Sendable {
    /// The bytes of a file, or a message like "No such file or directory".
    func readFile(_ path: String, limit: Int) -> Result<[UInt8], HostError>
    /// Permission bits of a file, if it can be stat'ed.
    func fileMode(_ path: String) -> UInt32?
    func environment(_ name: String) -> String?
    func userID(named name: String) -> UInt32?
    func groupID(named name: String) -> UInt32?
    /// Why this process could not create files in `path`, or nil when it can
    /// (the directory exists, is a directory, and is writable and searchable).
    func directoryProblem(_ path: String) -> String?
    /// Whether this process may give a file it owns the group `gid` (it is
    /// root, or `gid` is one of its groups).
    func canGiveFiles(group gid: UInt32) -> Bool
    /// The primary group of this process's user: the group of a token file
    /// whose sink names none.
    func ownPrimaryGroup() -> UInt32
}

/// A failed host operation, with the system's words for it.
public struct HostError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
