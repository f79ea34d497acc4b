import Glibc
import Synchronization
import Testing
import TokendPlatform

/// The daemon's stages come up in order and go down in reverse within one
/// deadline; a stage that fails to start takes down those already up.
@Suite struct LifecycleTests {
    /// What the stages did, in order ("start engine", "stop socket", ...).
    final class Journal: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    struct Refused: Error, CustomStringConvertible { var description: String { "address in use" } }

    func stage(_ name: String, _ journal: Journal, failStart: Bool = false,
               stopTakes: UInt64 = 0, deadlines: Journal? = nil) -> LifecycleStage {
        LifecycleStage(name, start: {
            journal.add("start \(name)")
            if failStart { throw Refused() }
        }, stop: { deadline in
            deadlines?.add("\(deadline.nanoseconds)")
            if stopTakes > 0 { try? await Task.sleep(nanoseconds: stopTakes) }
            journal.add("stop \(name)")
        })
    }

    @Test func stagesStartInOrderAndStopInReverse() async throws {
        let journal = Journal(), deadlines = Journal()
        let lifecycle = Lifecycle(["engine", "socket", "notifier"].map { stage($0, journal, deadlines: deadlines) })
        try await lifecycle.start()
        #expect(journal.all == ["start engine", "start socket", "start notifier"])
        let report = await lifecycle.stop(within: .seconds(5 as Int64))
        #expect(journal.all.suffix(3) == ["stop notifier", "stop socket", "stop engine"])
        #expect(report == LifecycleStopReport(stopped: ["notifier", "socket", "engine"], overran: []))
        // One shutdown, one deadline: every stage is given the same instant.
        #expect(Set(deadlines.all).count == 1)
        // A second stop has nothing left to stop.
        #expect(await lifecycle.stop(within: .seconds(1 as Int64)).stopped.isEmpty)
    }

    @Test func aFailedStartStopsOnlyTheStagesAlreadyUpAndNamesTheStage() async {
        let journal = Journal()
        let lifecycle = Lifecycle([stage("engine", journal), stage("socket", journal, failStart: true), stage("notifier", journal)])
        do {
            try await lifecycle.start()
            Issue.record("the start should have failed")
        } catch let failure as LifecycleStartFailure {
            #expect(failure.stage == "socket")
            #expect(failure.description == "cannot start socket: address in use")
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(journal.all == ["start engine", "start socket", "stop engine"])
    }

    @Test func aStageThatOverrunsTheDeadlineIsLeftBehindAndTheOthersStillStop() async throws {
        let journal = Journal()
        // The socket's stop takes 30 s; the shutdown deadline is 300 ms.
        let lifecycle = Lifecycle([stage("engine", journal), stage("socket", journal, stopTakes: 30_000_000_000), stage("notifier", journal)])
        try await lifecycle.start()
        let began = BootClock.now()
        let report = await lifecycle.stop(within: .milliseconds(300))
        let took = BootClock.now() - began
        #expect(report.stopped == ["notifier", "socket", "engine"])
        #expect(report.overran.contains("socket"))
        #expect(!report.overran.contains("notifier"))
        #expect(journal.all.contains("stop notifier"))
        #expect(!journal.all.contains("stop socket"))
        #expect(took < .seconds(5 as Int64), "the shutdown waited \(took) for a stage past its deadline")
    }
}
