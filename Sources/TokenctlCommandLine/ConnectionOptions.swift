/// Where the daemon is and how long to wait for it, resolved from the command
/// line and the environment.
public struct ConnectionOptions: Equatable, Sendable {
    public static let defaultSocket = "/run/tokend/tokend.sock"
    public static let defaultTimeout = 30.0
    /// The longest --timeout accepted, in seconds (one day).
    public static let maximumTimeout = 86_400.0

    /// The socket path: --socket, else $TOKEND_SOCKET (if not empty), else the default.
    public let socketPath: String
    /// Seconds to wait for a complete answer, the connection included.
    public let timeout: Double

    public init(socketPath: String, timeout: Double) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Resolves the raw option values (nil when not given), validating them.
    static func resolve(
        socket: String?, timeout: String?, environment: (String) -> String?
    ) throws(UsageError) -> ConnectionOptions {
        if let socket, socket.isEmpty { throw .emptySocket }
        var seconds = defaultTimeout
        if let timeout {
            // Double(_:) is what ArgumentParser used: it also reads "1e1",
            // ".5" and hexadecimal; "inf" and "nan" fail the range check.
            guard let value = Double(timeout), value > 0 && value <= maximumTimeout else {
                throw .invalidTimeout(timeout)
            }
            seconds = value
        }
        let path: String
        if let socket {
            path = socket
        } else if let fromEnvironment = environment("TOKEND_SOCKET"), !fromEnvironment.isEmpty {
            path = fromEnvironment
        } else {
            path = defaultSocket
        }
        return ConnectionOptions(socketPath: path, timeout: seconds)
    }
}
