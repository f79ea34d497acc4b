import NIOConcurrencyHelpers
import NIOCore

/// The shared heart of a ``TestIdP``: its locked state and the operations on
/// it. One instance is shared by the public façade and by the handler of
/// every connection, on whatever event loop each runs.
final class TokenEndpoint: Sendable {
    static let tokenPath = "/oauth/token"

    let state: NIOLockedValueBox<IdPState>

    init(settings: TestIdP.Settings) {
        state = NIOLockedValueBox(IdPState(settings: settings))
    }

    /// Records `request` if it is for the token path and decides its answer.
    /// Recording, taking the fault and listing the issued token happen under
    /// one lock, before the answer is written, so a test that sees the
    /// response also sees the request.
    func handle(_ request: TestIdP.RecordedRequest, bodyTooLarge: Bool) -> Reply {
        let path = request.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let unixNow = IdPClock.unixTime()
        let (reply, ready) = state.withLockedValue { state -> (Reply, [RequestWaiter]) in
            let latency = state.settings.chaos?.drawLatency() ?? 0
            guard path == Self.tokenPath else {
                return (Reply(action: .answer(.plain(status: 404, "Not Found")), delay: latency), [])
            }
            state.requests.append(request)
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            var reply: Reply
            if bodyTooLarge {
                // Rejected before any application logic, so no fault is used up.
                reply = Reply(action: .answer(.plain(status: 413, "Payload Too Large")))
            } else {
                let fault = state.faults.isEmpty ? state.settings.chaos?.drawFault() : state.faults.removeFirst()
                let outcome = TokenResponder(settings: state.settings, unixNow: unixNow).respond(to: request, fault: fault)
                if let token = outcome.issued { state.issued.append(token) }
                reply = outcome.reply
            }
            reply.delay += latency
            return (reply, state.takeSatisfiedWaiters())
        }
        // Continuations are resumed outside the lock: resuming runs no code
        // here, but it keeps the critical section free of foreign work.
        for waiter in ready { waiter.resume(true) }
        return reply
    }

    /// A token request recorded by `handle` was answered, or its client went away.
    func requestFinished() {
        state.withLockedValue { $0.inFlight -= 1 }
    }

    // MARK: - Waiting for requests

    /// Suspends until `count` token requests have been recorded (true), or
    /// until `timeout` seconds pass, the task is cancelled or the IdP shuts
    /// down (false). Resumed by ``handle(_:bodyTooLarge:)``, not by polling.
    func waitForRequests(_ count: Int, timeout: Double, timerLoop: any EventLoop) async -> Bool {
        let ticket = state.withLockedValue { state in
            state.nextTicket += 1
            return state.nextTicket
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLockedValue { state in
                    if state.requests.count >= count { return true }
                    // Checked under the lock that onCancel also takes, so a
                    // cancellation just before this point is never missed.
                    if state.isShutDown || Task.isCancelled || !(timeout > 0) { return false }
                    state.waiters[ticket] = RequestWaiter(count: count, continuation: continuation, timeout: nil)
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    return
                }
                let nanoseconds = Int64(min(timeout, 1e9) * 1e9)
                let timer = timerLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in
                    resolveWaiter(ticket, with: false)
                }
                let stillWaiting = state.withLockedValue { state in
                    guard state.waiters[ticket] != nil else { return false }
                    state.waiters[ticket]?.timeout = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            resolveWaiter(ticket, with: false)
        }
    }

    private func resolveWaiter(_ ticket: UInt64, with result: Bool) {
        let waiter = state.withLockedValue { $0.waiters.removeValue(forKey: ticket) }
        waiter?.resume(result)
    }

    // MARK: - Connections and shutdown

    /// Registers a new connection; false once shut down (the caller closes it).
    func track(_ channel: any Channel) -> Bool {
        state.withLockedValue { state in
            guard !state.isShutDown else { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func untrack(_ channel: any Channel) {
        state.withLockedValue { _ = $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Marks the endpoint shut down and hands back what must be closed and
    /// resumed; nil if it already was.
    func beginShutdown() -> (connections: [any Channel], waiters: [RequestWaiter])? {
        state.withLockedValue { state in
            guard !state.isShutDown else { return nil }
            state.isShutDown = true
            defer {
                state.connections = [:]
                state.waiters = [:]
            }
            return (Array(state.connections.values), Array(state.waiters.values))
        }
    }
}
