import TokendPlatform
import TokendProtocol

/// What a token file holds (SPEC §11).
public enum TokenFileFormat: String, Sendable, CaseIterable {
    /// The token alone, no newline.
    case token
    /// `Authorization: TYPE TOKEN` and LF, for `curl -H @FILE`.
    case header
    /// `{"access_token","token_type","expires_in","expires_at"}`.
    case json
}

/// One `[[profile.NAME.file]]`: a file tokend keeps holding the profile's
/// current token, for programs that cannot speak the protocol (SPEC §11).
public struct TokenFileSink: Equatable, Hashable, Sendable {
    /// Absolute, normalised (no `.`, `..` or `//` components).
    public var path: String
    public var format: TokenFileFormat
    /// Permission bits, at most 0644.
    public var mode: UInt32
    /// The file's group; `ConfigurationLoader` resolves a name to `.id`.
    public var group: NamedID?

    public static let defaultMode: UInt32 = 0o640
    /// Read for group and others at most: a token file is never writable or
    /// executable by anyone but its owner.
    public static let allowedModeBits: UInt32 = 0o644

    public init(path: String, format: TokenFileFormat = .token, mode: UInt32 = TokenFileSink.defaultMode, group: NamedID? = nil) {
        self.path = path
        self.format = format
        self.mode = mode
        self.group = group
    }

    /// The directory the file lives in.
    public var directory: String {
        let slash = path.lastIndex(of: "/")!
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The file's name within `directory`.
    public var fileName: String { String(path[path.index(after: path.lastIndex(of: "/")!)...]) }

    /// The group id to give the file, once resolved.
    public var groupID: UInt32? {
        if case .id(let gid) = group { return gid }
        return nil
    }

    /// The file's bytes for `token`, with `expiresIn` whole seconds left at
    /// `unixNow` (wall-clock seconds).
    public func content(_ token: IssuedToken, expiresIn: Int64, unixNow: Int64) -> [UInt8] {
        switch format {
        case .token:
            return Array(token.accessToken.utf8)
        case .header:
            return Array((TokenAnswer.headerText(type: token.tokenType, token: token.accessToken) + "\n").utf8)
        case .json:
            return Array(JSONWriter.write(.object([
                ("access_token", .string(token.accessToken)),
                ("token_type", .string(token.tokenType)),
                ("expires_in", .int(Int(expiresIn))),
                ("expires_at", .int(Int(unixNow + expiresIn))),
            ])).utf8)
        }
    }

    /// Why `path` is not acceptable as a sink path, or nil: it must be
    /// absolute, name a file (not end in `/`), and contain no `.`/`..`
    /// component or control character.
    public static func pathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "must be an absolute path" }
        guard !path.hasSuffix("/") else { return "must name a file, not a directory" }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return "must not contain control characters"
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            return "must be a plain absolute path (no \"//\", \".\" or \"..\" components)"
        }
        guard path.utf8.count < 4096 else { return "is too long" }
        guard (components.last?.utf8.count ?? 0) <= 200 else { return "has a file name longer than 200 bytes" }
        return nil
    }
}
