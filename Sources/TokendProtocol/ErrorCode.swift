/// The error codes of the line protocol (SPEC §5), as they appear after `ERR`.
public enum ErrorCode: String, Sendable, CaseIterable {
    case unknownProfile = "unknown-profile"
    case denied = "denied"
    case unavailable = "unavailable"
    case badRequest = "bad-request"
    case tooLong = "too-long"
    case busy = "busy"
}
