import TokenctlCommandLine

extension ConnectionOptions {
    /// Connects, sends `requests` pipelined on one connection, and returns the answers.
    func exchange(_ requests: [String]) throws(TokenctlFailure) -> DaemonReply {
        let connection = try DaemonConnection(path: socketPath, timeout: timeout)
        return DaemonReply(lines: try connection.exchange(requests), socketPath: socketPath)
    }
}
