import TokendProtocol

/// Why a command failed: the one line for stderr and the exit status. Every
/// failure path funnels through this type so that scripts always see one
/// `tokenctl: ...` line and a status from the documented set.
struct TokenctlFailure: Error {
    let status: ExitStatus
    let message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        // One line whatever the source said: a stray LF would break scripts
        // that read the first line of stderr.
        self.message = AnswerLine.oneLine(message, limit: 2000)
    }

    /// An `ERR CODE MESSAGE` answer, shown as `CODE: MESSAGE`.
    static func daemon(code: String, message: String) -> TokenctlFailure {
        TokenctlFailure(ExitStatus(errorCode: code), message.isEmpty ? code : "\(code): \(message)")
    }

    /// An answer that does not follow the protocol: a daemon of another
    /// version, or something else listening on the socket.
    static func malformed(_ answer: String) -> TokenctlFailure {
        let shown = answer.count > 80 ? String(answer.prefix(80)) + "…" : answer
        return TokenctlFailure(.failure, "unexpected answer from the daemon: \(shown)")
    }

    static func unreachable(_ message: String) -> TokenctlFailure {
        TokenctlFailure(.unreachable, message)
    }

    static func usage(_ message: String) -> TokenctlFailure {
        TokenctlFailure(.usage, message)
    }
}
