import TokendProtocol

/// The answer lines of one exchange and how to read them (SPEC §5). Kept apart
/// from the commands so that every command maps `ERR`, a missing line and a
/// malformed line to the same exit statuses.
struct DaemonReply {
    let lines: [String]
    let socketPath: String

    /// The text after `OK ` of answer `index`; throws the daemon's error,
    /// "closed without answering" (69) or "malformed" (1).
    func payload(_ index: Int) throws(TokenctlFailure) -> String {
        guard index < lines.count else {
            throw .unreachable("\(socketPath) closed the connection without answering")
        }
        switch AnswerLine.parse(lines[index]) {
        case .ok(let payload): return payload
        case .err(let code, let message): throw .daemon(code: code, message: message)
        case nil: throw .malformed(lines[index])
        }
    }

    /// Reads the payload of a `GET` or `REFRESH` answer: `TOKEN EXPIRES_IN`.
    static func token(_ payload: String) throws(TokenctlFailure) -> (token: String, expiresIn: Int) {
        guard let answer = TokenAnswer.parseToken(payload) else { throw .malformed("OK \(payload)") }
        return answer
    }

    /// Reads the payload of a `HEADER` answer: `Authorization: TYPE TOKEN`.
    static func authorization(_ payload: String) throws(TokenctlFailure) -> (type: String, token: String) {
        guard let answer = TokenAnswer.parseHeader(payload) else { throw .malformed("OK \(payload)") }
        return answer
    }
}
