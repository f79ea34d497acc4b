import NIOCore

/// Everything mutable about a running ``TestIdP``, kept in one value behind
/// one lock so a request is recorded, its fault taken and its token listed
/// in a single step that tests can never observe half-done.
struct IdPState: Sendable {
    var settings: TestIdP.Settings
    /// Queued faults, oldest first.
    var faults: [TestIdP.Fault] = []
    var requests: [TestIdP.RecordedRequest] = []
    /// Token requests received and not yet answered (or abandoned by the client).
    var inFlight = 0
    /// The most token requests ever in flight at once.
    var maxInFlight = 0
    var issued: [TestIdP.IssuedToken] = []
    /// Callers of ``TestIdP/waitForRequests(_:timeout:)`` still waiting, by ticket.
    var waiters: [UInt64: RequestWaiter] = [:]
    var nextTicket: UInt64 = 0
    /// Open client connections, closed on shutdown (keep-alive would
    /// otherwise let a client go on talking to a stopped IdP).
    var connections: [ObjectIdentifier: any Channel] = [:]
    var isShutDown = false

    init(settings: TestIdP.Settings) {
        self.settings = settings
    }

    /// Removes and returns the waiters whose count has been reached.
    mutating func takeSatisfiedWaiters() -> [RequestWaiter] {
        let ready = waiters.filter { $0.value.count <= requests.count }
        for ticket in ready.keys { waiters[ticket] = nil }
        return Array(ready.values)
    }
}

/// One suspended ``TestIdP/waitForRequests(_:timeout:)`` call.
struct RequestWaiter: Sendable {
    var count: Int
    var continuation: CheckedContinuation<Bool, Never>
    /// The timeout, cancelled when the waiter is resumed early.
    var timeout: Scheduled<Void>?

    func resume(_ result: Bool) {
        timeout?.cancel()
        continuation.resume(returning: result)
    }
}
