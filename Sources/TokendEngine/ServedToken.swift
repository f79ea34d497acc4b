import NIOConcurrencyHelpers
import TokendCore
import TokendProtocol
import TokendPlatform

/// A token as the hot path serves it: immutable, with its answer prefixes
/// rendered once when it arrives, so that a `GET` copies bytes and nothing else.
public final class ServedToken: Sendable {
    public let held: HeldToken
    /// `OK TOKEN ` (the remaining seconds and LF follow).
    public let getPrefix: [UInt8]
    /// `OK Authorization: TYPE TOKEN\n`.
    public let headerLine: [UInt8]

    public init(_ held: HeldToken) {
        self.held = held
        getPrefix = TokenAnswer.getPrefix(token: held.token.accessToken)
        headerLine = TokenAnswer.headerLine(type: held.token.tokenType, token: held.token.accessToken)
    }

    public var expiresAt: Instant { held.expiresAt }
}

/// The slot a profile publishes its current token in. Readers take the lock
/// only to copy a reference; no lock is held across I/O.
public final class TokenSlot: Sendable {
    private let current = NIOLockedValueBox<ServedToken?>(nil)

    public init() {}

    public func read() -> ServedToken? { current.withLockedValue { $0 } }

    func publish(_ token: ServedToken?) { current.withLockedValue { $0 = token } }
}
