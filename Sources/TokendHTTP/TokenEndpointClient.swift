import Atomics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TokendCore
import TokendPlatform

/// Obtains tokens for one profile (SPEC §3). Each transfer runs on the
/// client's own thread, never on an event loop, and completes a future on
/// the caller's loop. One curl handle per profile; each request opens a
/// connection of its own (see `CurlTransfer`).
public final class TokenEndpointClient: Sendable {
    public let profile: ProfileConfiguration
    private let request: TokenRequest
    /// `private_key_jwt`/`client_secret_jwt`: makes each request's assertion.
    private let signer: Result<AssertionSigner, AssertionSigner.Failure>?
    private let options: TransferOptions
    private let pool: NIOThreadPool
    private let transfer: NIOLockedValueBox<CurlTransfer>
    /// The transfer's abort flag, outside the lock a transfer holds.
    private let transferAbort: ManagedAtomic<Bool>

    public static let userAgent = "tokend/\(TokendVersion.string)"
    /// The largest assertion or subject token file read.
    public static let presentedTokenLimit = 64 << 10

    public init(profile: ProfileConfiguration) {
        self.profile = profile
        self.request = TokenRequest(profile: profile, userAgent: TokenEndpointClient.userAgent)
        if profile.authMethod.usesAssertion {
            do throws(AssertionSigner.Failure) { signer = .success(try AssertionSigner(profile)) } catch { signer = .failure(error) }
        } else {
            signer = nil
        }
        self.options = TransferOptions(timeout: profile.timeout, caFile: profile.caFile,
                                       clientCertFile: profile.clientCertFile, clientKeyFile: profile.clientKeyFile,
                                       direct: TokenURL.isLoopbackURL(profile.tokenURL))
        self.pool = NIOThreadPool(numberOfThreads: 1)
        self.pool.start()
        let transfer = CurlTransfer()
        self.transferAbort = transfer.abort
        self.transfer = NIOLockedValueBox(transfer)
    }

    /// Sends one token request; the future completes on `eventLoop`.
    public func fetch(on eventLoop: any EventLoop) -> EventLoopFuture<FetchReport> {
        pool.runIfActive(eventLoop: eventLoop) { [self] in fetchNow() }
    }

    /// Blocking variant for tests and tools.
    public func fetchNow() -> FetchReport {
        var assertion: String?
        var subjectToken: String?
        // Files another system rotates: read anew, by path, for every request.
        if profile.authMethod == .federatedAssertion, let file = profile.federatedAssertion {
            switch present(file, kind: .assertion) {
            case .success(let text): assertion = text
            case .failure(let failure): return FetchReport(sentAt: BootClock.now(), result: .failure(failure), sent: false)
            }
        }
        if profile.grant == .tokenExchange, let exchange = profile.tokenExchange {
            switch present(exchange.subject, kind: .subjectToken) {
            case .success(let text): subjectToken = text
            case .failure(let failure): return FetchReport(sentAt: BootClock.now(), result: .failure(failure), sent: false)
            }
        }
        switch signer {
        case nil:
            break
        case .failure(let failure):
            return FetchReport(sentAt: BootClock.now(), result: .failure(FetchFailure("cannot sign the client assertion: \(failure)")), sent: false)
        case .success(let signer):
            // A new assertion, with a new jti, for every request (SPEC §12).
            do {
                assertion = try signer.assertion(unixNow: Int64(BootClock.unixTime()), jti: AssertionSigner.randomJTI())
            } catch {
                return FetchReport(sentAt: BootClock.now(), result: .failure(FetchFailure("cannot sign the client assertion: \(error)")), sent: false)
            }
        }
        let request = assertion == nil && subjectToken == nil
            ? self.request
            : TokenRequest(profile: profile, userAgent: TokenEndpointClient.userAgent, assertion: assertion, subjectToken: subjectToken)
        let outcome = transfer.withLockedValue { $0.perform(request, options: options) }
        return TokenEndpointClient.interpret(outcome, profile: profile, request: request)
    }

    /// The token in `file` to send now, or why nothing is sent.
    private func present(_ file: PresentedTokenFile, kind: PresentedToken.Kind) -> Result<String, FetchFailure> {
        // By path each time: the rotator replaces the file by rename or swaps
        // a symlinked directory (Kubernetes' `..data`); read on this thread.
        switch RegularFile.read(file.path, limit: TokenEndpointClient.presentedTokenLimit) {
        case .failure(let error):
            return .failure(FetchFailure("cannot read the \(kind.noun) file \(file.path): \(error.message)", code: "credential_unreadable"))
        case .success(var bytes):
            defer { for index in bytes.indices { bytes[index] = 0 } }
            return PresentedToken.evaluate(bytes, kind: kind, path: file.path, unixNow: BootClock.unixTime()).mapError(\.failure)
        }
    }

    static func interpret(_ outcome: TransferOutcome, profile: ProfileConfiguration, request: TokenRequest) -> FetchReport {
        switch outcome {
        case .failed(let message, let sentAt):
            return FetchReport(sentAt: sentAt, result: .failure(FetchFailure(TokenResponseParser.quotable(message, request.secretForms))))
        case .response(let status, let retryAfter, let body, let sentAt, let limitHeaders):
            let result = TokenResponseParser.parse(
                status: status, retryAfter: retryAfter, body: body, defaultTTL: profile.defaultTTL,
                unixTime: BootClock.unixTime(), redact: request.secretForms)
            return FetchReport(sentAt: sentAt, result: result, limits: IdPLimits.parse(limitHeaders))
        }
    }

    /// Stops the transfer thread once the transfer under way (if any) ends;
    /// `then` runs after that, on the pool's thread.
    /// Ends the transfer under way, if any, within about a second.
    public func abort() {
        transferAbort.store(true, ordering: .relaxed)
    }

    public func shutdown(then: @escaping @Sendable () -> Void = {}) {
        pool.shutdownGracefully { _ in then() }
    }
}
