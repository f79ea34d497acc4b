extension TestIdP {
    /// A scripted misbehaviour for one token request, queued with
    /// ``TestIdP/enqueue(_:count:)``. Each one mirrors something real IdPs or
    /// the proxies in front of them do, so tests can pin tokend's reaction.
    /// Faults that describe a broken answer (a status, a closed connection…)
    /// replace request validation and hit whatever arrives at the token path
    /// next. `delay`, `missingField` and `hugeBody` alter a normal answer, so
    /// a request that fails validation still gets its 400 or 401.
    public enum Fault: Sendable {
        /// Answer this status, body and headers verbatim (Content-Length is added).
        case status(Int, body: String, headers: [(String, String)] = [])
        /// An RFC 6749 §5.2 error: JSON `{"error": …, "error_description": …}`.
        case oauthError(status: Int, error: String, description: String?)
        /// This status with a `Retry-After` header (delta-seconds or an HTTP
        /// date, verbatim) and a small JSON error body.
        case retryAfter(status: Int, value: String)
        /// Wait this long, then answer normally. Other connections are not held up.
        case delay(seconds: Double)
        /// 200, `Content-Type: application/json`, body `{"access_token": "abc` (truncated JSON).
        case malformedBody
        /// A normal success body without this member (e.g. `access_token`, `expires_in`).
        case missingField(String)
        /// Close the TCP connection without answering.
        case closeConnection
        /// A valid success body padded (with a `padding` string member) to this many bytes.
        case hugeBody(bytes: Int)
        /// A redirect (307 unless told otherwise) to `location`; tokend must not follow it.
        case redirect(location: String, status: Int = 307)
        /// 500 with an HTML body, as a broken reverse proxy answers.
        case html500
    }
}
