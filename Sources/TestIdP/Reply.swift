/// What the endpoint decided to do with one request, independent of NIO so
/// the decision logic stays a pure function of request, settings and fault.
struct Reply: Sendable {
    enum Action: Sendable {
        case answer(HTTPAnswer)
        /// Drop the connection without a response.
        case closeConnection
    }

    var action: Action
    /// Seconds to wait before acting; the wait is a scheduled task, never a sleep.
    var delay: Double = 0
}

/// A complete HTTP response. Content-Length and Connection are added on the wire.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    init(status: Int, headers: [(String, String)] = [], body: String) {
        self.status = status
        self.headers = headers
        self.body = Array(body.utf8)
    }

    static func json(status: Int, _ body: String, headers: [(String, String)] = []) -> HTTPAnswer {
        // no-store as RFC 6749 §5.1 requires of token responses; harmless on errors.
        HTTPAnswer(status: status, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")] + headers, body: body)
    }

    static func plain(status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPAnswer {
        HTTPAnswer(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers, body: text + "\n")
    }

    /// An RFC 6749 §5.2 error body.
    static func oauthError(status: Int, error: String, description: String?, headers: [(String, String)] = []) -> HTTPAnswer {
        var members = [("error", JSONText.string(error))]
        if let description { members.append(("error_description", JSONText.string(description))) }
        return json(status: status, JSONText.object(members), headers: headers)
    }
}
