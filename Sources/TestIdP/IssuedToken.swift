extension TestIdP {
    /// An access token the endpoint handed out, so tests can check what the
    /// client serves and when it renews.
    public struct IssuedToken: Sendable, Equatable {
        public var token: String
        public var clientID: String
        /// When the request head arrived, in `CLOCK_BOOTTIME` nanoseconds.
        public var issuedAt: UInt64
        /// `issuedAt` plus the lifetime announced, in `CLOCK_BOOTTIME`
        /// nanoseconds (clamped at zero for negative lifetimes).
        public var expiresAt: UInt64
        /// The subject token a token exchange presented for it (RFC 8693).
        public var subjectToken: String?

        public init(token: String, clientID: String, issuedAt: UInt64, expiresAt: UInt64) {
            self.token = token
            self.clientID = clientID
            self.issuedAt = issuedAt
            self.expiresAt = expiresAt
        }
    }
}
