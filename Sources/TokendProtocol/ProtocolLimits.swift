/// Fixed numbers of protocol version 1.
public enum ProtocolLimits {
    /// The longest request line, without its LF (a CR before the LF is not counted either).
    public static let maximumLineLength = 4096
    /// The protocol version spoken by this build.
    public static let version = 1
    /// The longest MIN_TTL accepted, in seconds (one day): more is a client bug.
    public static let maximumMinTTL = 86_400
}
