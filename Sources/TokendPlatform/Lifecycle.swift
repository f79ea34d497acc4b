import Glibc
import Synchronization

/// One part of the daemon that is brought up and taken down as a unit: the
/// engine, the listening socket, the systemd notifier.
public struct LifecycleStage: Sendable {
    public let name: String
    let start: @Sendable () async throws -> Void
    let stop: @Sendable (_ deadline: Instant) async -> Void

    /// - Parameters:
    ///   - start: brings the stage up; a throw stops the stages already up.
    ///   - stop: takes it down, finishing by `deadline` (a `BootClock`
    ///     instant shared by every stage of one shutdown) where it can.
    public init(_ name: String, start: @escaping @Sendable () async throws -> Void,
                stop: @escaping @Sendable (_ deadline: Instant) async -> Void) {
        self.name = name
        self.start = start
        self.stop = stop
    }
}

/// The stage that failed to start, and why.
public struct LifecycleStartFailure: Error, CustomStringConvertible {
    public let stage: String
    public let underlying: any Error
    public var description: String { "cannot start \(stage): \(underlying)" }
}

/// What one shutdown did: the stages in the order they were stopped, and
/// those that had not finished by the deadline (left behind so that the
/// others could still stop).
public struct LifecycleStopReport: Sendable, Equatable {
    public var stopped: [String]
    public var overran: [String]

    public init(stopped: [String] = [], overran: [String] = []) {
        self.stopped = stopped
        self.overran = overran
    }
}

/// Brings stages up in order and down in reverse order within one deadline,
/// the shape of swift-service-lifecycle's `ServiceGroup` for a daemon whose
/// stages must start one after another (the profiles are installed before
/// the socket accepts, and `READY=1` follows the socket). Used by one task
/// at a time.
public final class Lifecycle: @unchecked Sendable {  // `started` is touched only by the one task that drives it
    private let stages: [LifecycleStage]
    private var started: [LifecycleStage] = []
    private let now: @Sendable () -> Instant

    public init(_ stages: [LifecycleStage], now: @escaping @Sendable () -> Instant = { BootClock.now() }) {
        self.stages = stages
        self.now = now
    }

    /// Starts every stage in order. When one throws, the ones already up are
    /// stopped (in reverse, within `cleanupWithin`) and the failure names it.
    public func start(cleanupWithin: TimeSpan = .seconds(5 as Int64)) async throws {
        for stage in stages {
            do {
                try await stage.start()
            } catch {
                _ = await stop(within: cleanupWithin)
                throw LifecycleStartFailure(stage: stage.name, underlying: error)
            }
            started.append(stage)
        }
    }

    /// Stops the started stages in reverse order, all within `within`: a
    /// stage still running at the deadline is reported and left behind.
    public func stop(within: TimeSpan) async -> LifecycleStopReport {
        let deadline = now() + within
        var report = LifecycleStopReport()
        while let stage = started.popLast() {
            let finished = await Lifecycle.run(stage, until: deadline, now: now)
            report.stopped.append(stage.name)
            if !finished { report.overran.append(stage.name) }
        }
        return report
    }

    /// Runs `stage.stop` and returns when it finishes (true) or when the
    /// deadline passes (false), whichever comes first. A stage reached after
    /// the deadline is still asked to stop, without being waited for.
    private static func run(_ stage: LifecycleStage, until deadline: Instant, now: @Sendable () -> Instant) async -> Bool {
        let left = max(.zero, deadline - now())
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(nanoseconds: UInt64(left.nanoseconds))
                once.resume(false)
            }
            Task {
                await stage.stop(deadline)
                once.resume(true)
                timer.cancel()
            }
        }
    }
}

/// Resumes a continuation with the first of several racing results.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Bool) {
        let pending = continuation.withLock { stored in
            let taken = stored
            stored = nil
            return taken
        }
        pending?.resume(returning: value)
    }
}
