import ArgumentParser
import Glibc

/// Where the daemon is and how long to wait for it. Declared by the root
/// command and by every subcommand as the same option group: ArgumentParser
/// then decodes it once and accepts `--socket` before or after the command name.
struct ConnectionOptions: ParsableArguments {
    static let defaultSocket = "/run/tokend/tokend.sock"
    static let defaultTimeout = 30.0

    @Option(help: ArgumentHelp(
        "The daemon's socket (default: $TOKEND_SOCKET, else \(ConnectionOptions.defaultSocket)).",
        valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp(
        "Give up after this many seconds without a complete answer (default: 30).",
        valueName: "seconds"))
    var timeout: Double?

    func validate() throws {
        if let socket, socket.isEmpty { throw ValidationError("--socket must not be empty") }
        if let timeout, !(timeout > 0 && timeout <= 86_400) {
            throw ValidationError("--timeout must be a number of seconds above 0 and at most 86400")
        }
    }

    /// The socket path by precedence: --socket, $TOKEND_SOCKET (if not empty), the default.
    var socketPath: String {
        if let socket { return socket }
        if let value = getenv("TOKEND_SOCKET"), value.pointee != 0 { return String(cString: value) }
        return ConnectionOptions.defaultSocket
    }

    /// Connects, sends `requests` pipelined on one connection, and returns the answers.
    func exchange(_ requests: [String]) throws(TokenctlFailure) -> DaemonReply {
        let path = socketPath
        let connection = try DaemonConnection(path: path, timeout: timeout ?? ConnectionOptions.defaultTimeout)
        return DaemonReply(lines: try connection.exchange(requests), socketPath: path)
    }
}
