extension TestIdP {
    /// One request to the token path as it arrived, whatever the answer was.
    public struct RecordedRequest: Sendable {
        public var method: String
        /// The request target as sent: the path plus any query string.
        public var path: String
        /// Header fields in arrival order, names as the client spelled them.
        public var headers: [(String, String)]
        /// The body as text (invalid UTF-8 repaired); at most
        /// ``TestIdP/maxBodyBytes`` of it when the body was too large.
        public var body: String
        /// The decoded form body; empty when the body is not a valid form.
        /// A repeated parameter keeps its first value.
        public var form: [String: String]
        /// When the request head arrived, in `CLOCK_BOOTTIME` nanoseconds
        /// (the clock tokend schedules renewals on).
        public var receivedAt: UInt64

        public init(method: String, path: String, headers: [(String, String)], body: String, form: [String: String], receivedAt: UInt64) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
            self.form = form
            self.receivedAt = receivedAt
        }

        /// The first value of header `name`, compared case-insensitively as HTTP requires.
        public func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return headers.first { $0.0.lowercased() == wanted }?.1
        }

        /// All values of header `name`, case-insensitively, in arrival order.
        public func headers(named name: String) -> [String] {
            let wanted = name.lowercased()
            return headers.filter { $0.0.lowercased() == wanted }.map(\.1)
        }
    }
}
