/// How the engine answers a client that had to wait.
public enum DemandOutcome: Sendable {
    case token(ServedToken)
    case unavailable(String)
    /// The profile was removed (by a reload) while the client waited.
    case unknownProfile
}
