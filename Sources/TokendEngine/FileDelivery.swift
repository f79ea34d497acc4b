import Logging
import NIOCore
import NIOPosix
import TokendCore
import TokendHost
import TokendPlatform

/// The one thread on which token files and cache entries are written,
/// read and removed, in the order asked, for every profile: never an event
/// loop (a write ends in two `fsync`s), and a profile's writes and removals
/// never overtake each other.
public final class DiskQueue: Sendable {
    private let pool = NIOThreadPool(numberOfThreads: 1)

    public init() { pool.start() }

    /// Runs `work` on the file thread; the future (on `loop`) holds its error, if any.
    func run(on loop: any EventLoop, _ work: @escaping @Sendable () throws(HostError) -> Void) -> EventLoopFuture<HostError?> {
        pool.runIfActive(eventLoop: loop) { () -> HostError? in
            do throws(HostError) { try work() } catch { return error }
            return nil
        }
    }

    /// Runs `work` on the file thread and hands its value to `loop`.
    func value<Value: Sendable>(on loop: any EventLoop, _ work: @escaping @Sendable () -> Value) -> EventLoopFuture<Value> {
        pool.runIfActive(eventLoop: loop, work)
    }

    /// Completes once everything asked so far is done, then stops the thread.
    func finish(on loop: any EventLoop) -> EventLoopFuture<Void> {
        pool.runIfActive(eventLoop: loop) {}.flatMap { [pool] in
            let done = loop.makePromise(of: Void.self)
            pool.shutdownGracefully { _ in done.succeed(()) }
            return done.futureResult
        }.recover { _ in }
    }
}

/// Keeps one profile's token files in step with its token (SPEC §11): each
/// new token is written to every sink, and a file is removed just before the
/// token it holds stops being servable when no successor reached it (an
/// outage, or a write that failed: a full disk keeps the previous token in
/// the file, and a reader must never see it expire there); a reload's
/// changed sinks are moved. Confined to the engine's event loop; the I/O
/// itself happens on the `DiskQueue`'s thread.
final class FileDelivery {
    private(set) var sinks: [TokenFileSink]
    private let queue: DiskQueue
    private let loop: any EventLoop
    private let clock: any TokendClock
    private let logger: Logger
    /// The profile's current token, while it has one.
    private var written: HeldToken?
    /// What each file holds, as far as tokend knows, by path: the token of
    /// its last successful write (a failed write leaves the one before).
    private var held: [String: HeldToken] = [:]
    private var removal: Scheduled<Void>?
    private var retired = false
    /// The last failure of each sink, by path, until it succeeds again.
    private(set) var errors: [String: String] = [:]

    init(sinks: [TokenFileSink], queue: DiskQueue, loop: any EventLoop, clock: any TokendClock, logger: Logger) {
        self.sinks = sinks
        self.queue = queue
        self.loop = loop
        self.clock = clock
        self.logger = logger
    }

    /// The profile's current token changed (nil: it has none).
    func publish(_ next: HeldToken?) {
        guard !retired else { return }
        guard let next, next.isServable(at: clock.now()) else {
            expire()
            return
        }
        guard next != written else { return }
        written = next
        for sink in sinks { write(next, to: sink) }
    }

    /// The profile starts with no token to write (none cached, or none
    /// valid): files left by an earlier run hold a token whose expiry is
    /// unknown, so they go (SPEC §11: a missing file, never an expired token).
    func startWithoutToken() {
        guard !retired, written == nil else { return }
        for sink in sinks { remove(sink) }
    }

    /// A changed profile whose token keeps its meaning (same fingerprint)
    /// takes over the files of the runner it replaces: what each holds, so
    /// that each still goes before its token expires, and their token.
    func adopt(_ files: FileState) {
        guard !retired else { return }
        for (path, token) in files.held where sinks.contains(where: { $0.path == path }) { held[path] = token }
        scheduleRemoval()
        if let token = files.current { publish(token) }
    }

    /// What the files hold, for a replacement runner.
    struct FileState {
        var current: HeldToken?
        var held: [String: HeldToken]
    }

    var state: FileState { FileState(current: written, held: held) }

    /// Removes the files whose paths are not in `kept`.
    func remove(notIn kept: Set<String>) {
        for sink in sinks where !kept.contains(sink.path) { remove(sink) }
    }

    /// A reload changed the sinks only: files of dropped sinks go, new or
    /// changed ones are written at once when there is a valid token.
    func update(_ next: [TokenFileSink]) {
        guard !retired else { return }
        let nextPaths = Set(next.map(\.path))
        for sink in sinks where !nextPaths.contains(sink.path) { remove(sink) }
        held = held.filter { nextPaths.contains($0.key) }
        let previous = Set(sinks)
        sinks = next
        errors = errors.filter { nextPaths.contains($0.key) }
        guard let current = written, current.isServable(at: clock.now()) else { return }
        for sink in next where !previous.contains(sink) { write(current, to: sink) }
    }

    /// The profile stops. Its files are removed when it is removed or its
    /// token changes meaning (a changed profile); kept at shutdown, while
    /// their token is valid.
    func retire(removingFiles: Bool) {
        guard !retired else { return }
        retired = true
        removal?.cancel()
        removal = nil
        if removingFiles { for sink in sinks { remove(sink) } }
    }

    /// The current token is no longer servable and none replaced it.
    private func expire() {
        guard written != nil || !held.isEmpty else { return }
        written = nil
        for sink in sinks where held[sink.path] != nil { remove(sink) }
    }

    private func write(_ token: HeldToken, to sink: TokenFileSink) {
        let now = clock.now()
        let bytes = sink.content(token.token, expiresIn: token.remaining(at: now).wholeSeconds,
                                 unixNow: Int64(clock.unixTime()))
        record(sink, queue.run(on: loop) { () throws(HostError) in try TokenFileWriter.write(bytes, to: sink) }, action: "wrote",
               succeeded: { $0.held[sink.path] = token },
               failed: { delivery in
                   // What is there is unknown (a file of an earlier run, of the
                   // runner this one replaced): it goes rather than outlive its token.
                   if delivery.held[sink.path] == nil { delivery.remove(sink) }
               })
    }

    private func remove(_ sink: TokenFileSink) {
        // Failed or not, tokend can do no more for this file: it is not
        // retried in a loop (a planted link, a read-only directory).
        record(sink, queue.run(on: loop) { () throws(HostError) in try TokenFileWriter.remove(sink) }, action: "removed",
               succeeded: { $0.held[sink.path] = nil }, failed: { $0.held[sink.path] = nil })
    }

    private func record(_ sink: TokenFileSink, _ outcome: EventLoopFuture<HostError?>, action: String,
                        succeeded: @escaping @Sendable (FileDelivery) -> Void,
                        failed: @escaping @Sendable (FileDelivery) -> Void) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        outcome.whenComplete { result in
            let delivery = bound.value
            let failure: String?
            switch result {
            case .success(let error): failure = error?.message
            case .failure(let error): failure = "the file thread is stopped: \(error)"
            }
            if let failure {
                // Logged when it changes, so that a sink failing at every renewal is one line.
                if delivery.errors[sink.path] != failure {
                    delivery.logger.error("token file not updated", metadata: ["file": .string(sink.path), "error": .string(failure)])
                }
                delivery.errors[sink.path] = failure
                failed(delivery)
            } else {
                succeeded(delivery)
                if delivery.errors.removeValue(forKey: sink.path) != nil {
                    delivery.logger.notice("token file updated again", metadata: ["file": .string(sink.path)])
                }
                delivery.logger.debug("\(action) a token file", metadata: ["file": .string(sink.path)])
            }
            delivery.scheduleRemoval()
        }
    }

    /// Wakes when the first file's token stops being servable. Timers run on
    /// the monotonic clock, which stops during suspend: wake at least every
    /// 30 s to re-read `CLOCK_BOOTTIME`.
    private func scheduleRemoval() {
        removal?.cancel()
        removal = nil
        guard !retired, let first = held.values.map(\.servableUntil).min() else { return }
        let delay = min(max(first - clock.now(), .zero), TimeSpan.seconds(30 as Int64))
        let bound = NIOLoopBound(self, eventLoop: loop)
        removal = loop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) {
            bound.value.removal = nil
            bound.value.removeStaleFiles()
        }
    }

    /// Each file whose token is no longer servable goes; the current token,
    /// if there is one, is written in its place (its own write failed).
    private func removeStaleFiles() {
        guard !retired else { return }
        let now = clock.now()
        for sink in sinks {
            guard let token = held[sink.path], now >= token.servableUntil else { continue }
            // Not timed again until its removal completes (which clears it).
            held[sink.path] = nil
            remove(sink)
            if let current = written, current != token, current.isServable(at: now) { write(current, to: sink) }
        }
        if let current = written, !current.isServable(at: now) { written = nil }
        scheduleRemoval()
    }
}
