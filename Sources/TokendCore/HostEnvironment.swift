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
    /// Why this process could not give a file it creates in `directory` the
    /// group `gid`, or nil when it can: the file has that group from the
    /// start (the process's effective group, or that of a set-group-ID
    /// directory), or the process holds CAP_CHOWN or is a member of the
    /// group, and no system-call filter refuses `fchown`.
    func fileGroupProblem(_ gid: UInt32, directory: String) -> String?
}

/// A failed host operation, with the system's words for it.
public struct HostError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
