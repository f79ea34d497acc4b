import NIOCore
import Testing
import TokendTelemetry
@testable import TokendServer

/// The connection's rules without a socket: bytes and times in, actions out.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    static let timeout = TimeAmount.seconds(60)
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// What a handler would see: each line handed out, and how the run of
    /// actions ended. Lines listed in `waits` start a wait when handed out.
    struct Run: Equatable {
        var answered: [String] = []
        var ending = "none"
    }

    static func drive(_ m: inout Machine, waits: Set<String> = [], lookups: Set<String> = [], quit: Set<String> = []) -> Run {
        var run = Run()
        while true {
            switch m.nextAction() {
            case .answer(let line):
                let text = String(buffer: line)
                run.answered.append(text)
                if lookups.contains(text) {
                    m.waitForUserGroups()
                } else if waits.contains(text) {
                    m.waitStarted()
                } else if quit.contains(text) {
                    m.closeAfterAnswer(.quit)
                }
            case .answerTooLong: run.answered.append("<too long>")
            case .read: run.ending = "read"; return run
            case .closeAfterFlush(let reason): run.ending = "close after flush: \(reason.rawValue)"; return run
            case .close(let reason): run.ending = "close: \(reason.rawValue)"; return run
            case .scheduleIdleCheck: run.ending = "schedule"; return run
            case .none: return run
            }
        }
    }

    func machine() -> Machine { Machine(idleTimeout: Self.timeout, now: Self.start) }
    func at(_ seconds: Int64) -> NIODeadline { Self.start + .seconds(seconds) }

    @Test func linesAreFramedAcrossReadsAndAnsweredInOrder() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "PING\r\nGE"), now: at(1))
        #expect(Self.drive(&m) == Run(answered: ["PING\r"]))
        m.bytesRead(ByteBuffer(string: "T a\nLI"), now: at(2))
        #expect(Self.drive(&m) == Run(answered: ["GET a"]))
        m.bytesRead(ByteBuffer(string: "ST\n\nVERSION\n"), now: at(3))
        #expect(Self.drive(&m) == Run(answered: ["LIST", "", "VERSION"]))
    }

    @Test func aWaitingRequestHoldsBackTheOnesBehindIt() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "REFRESH a\nPING\nGET a\n"), now: at(1))
        #expect(Self.drive(&m, waits: ["REFRESH a"]) == Run(answered: ["REFRESH a"]))
        #expect(m.isWaiting)
        // Bytes of the same read cycle wait too.
        m.bytesRead(ByteBuffer(string: "QUIT\n"), now: at(1))
        #expect(Self.drive(&m) == Run())
        m.waitEnded()
        #expect(Self.drive(&m) == Run(answered: ["PING", "GET a", "QUIT"]))
    }

    @Test func aLineThatNeedsTheUserDatabaseIsHandedOutAgainAfterTheLookup() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "GET grouped\nPING\n"), now: at(1))
        #expect(Self.drive(&m, lookups: ["GET grouped"]) == Run(answered: ["GET grouped"]))
        #expect(m.isWaiting)
        m.waitEnded()
        #expect(Self.drive(&m) == Run(answered: ["GET grouped", "PING"]))
        // The last line of the input, without its LF, is put back the same way.
        m.bytesRead(ByteBuffer(string: "LIST"), now: at(2))
        m.inputEnded()
        #expect(Self.drive(&m, lookups: ["LIST"]) == Run(answered: ["LIST"]))
        m.waitEnded()
        #expect(Self.drive(&m) == Run(answered: ["LIST"], ending: "close after flush: end-of-input"))
    }

    @Test func readingStopsWhileAnAnswerWaitsOrOutputIsBlocked() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "REFRESH a\n"), now: at(1))
        _ = Self.drive(&m, waits: ["REFRESH a"])
        let read1 = m.readRequested()
        #expect(!read1)
        m.waitEnded()
        #expect(Self.drive(&m) == Run(ending: "read"))
        #expect(Self.drive(&m) == Run())  // the deferred read is handed out once
        let read2 = m.readRequested()
        #expect(read2)

        m.writabilityChanged(false, now: at(2))
        let read3 = m.readRequested()
        #expect(!read3)
        m.bytesRead(ByteBuffer(string: "PING\nPING\n"), now: at(2))
        #expect(Self.drive(&m) == Run())  // nothing is answered while output is blocked
        m.writabilityChanged(true, now: at(3))
        #expect(Self.drive(&m) == Run(answered: ["PING", "PING"], ending: "read"))
    }

    @Test func anOverLongLineIsRefusedInItsTurnThenTheConnectionCloses() {
        let limit = 4096
        var m = machine()
        // The longest line, with or without its CR, is a request.
        let longest = String(repeating: "x", count: limit)
        m.bytesRead(ByteBuffer(string: longest + "\r\n" + longest + "\n"), now: at(1))
        #expect(Self.drive(&m) == Run(answered: [longest + "\r", longest]))
        m.bytesRead(ByteBuffer(string: "REFRESH a\n" + String(repeating: "x", count: limit + 1) + "\nPING\n"), now: at(1))
        #expect(Self.drive(&m, waits: ["REFRESH a"]) == Run(answered: ["REFRESH a"]))
        m.waitEnded()
        #expect(Self.drive(&m) == Run(answered: ["<too long>"], ending: "close after flush: too-long"))
        m.bytesRead(ByteBuffer(string: "PING\n"), now: at(2))
        #expect(Self.drive(&m) == Run())
        let read4 = m.readRequested()
        #expect(!read4)

        // No LF at all: refused as soon as more than a line and its CR arrived.
        var n = machine()
        n.bytesRead(ByteBuffer(string: String(repeating: "x", count: limit + 1)), now: at(1))
        #expect(Self.drive(&n) == Run())
        n.bytesRead(ByteBuffer(string: "x"), now: at(1))
        #expect(Self.drive(&n) == Run(answered: ["<too long>"], ending: "close after flush: too-long"))
    }

    @Test func oneByteOverTheLimitIsTooLongWithOrWithoutCRAndAtTheEndOfInput() {
        let over = String(repeating: "x", count: 4097)
        for input in [over + "\n", over + "\r\n"] {
            var m = machine()
            m.bytesRead(ByteBuffer(string: input), now: at(1))
            #expect(Self.drive(&m) == Run(answered: ["<too long>"], ending: "close after flush: too-long"))
        }
        var last = machine()
        last.bytesRead(ByteBuffer(string: over), now: at(1))
        last.inputEnded()
        #expect(Self.drive(&last) == Run(answered: ["<too long>"], ending: "close after flush: too-long"))
        var lastWithCR = machine()
        lastWithCR.bytesRead(ByteBuffer(string: String(repeating: "x", count: 4096) + "\r"), now: at(1))
        lastWithCR.inputEnded()
        #expect(Self.drive(&lastWithCR).answered.count == 1)
    }

    @Test func aLinePutBackSurvivesBytesReadDuringTheLookup() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "PING\nGET grouped\nLI"), now: at(1))
        #expect(Self.drive(&m, lookups: ["GET grouped"]) == Run(answered: ["PING", "GET grouped"]))
        // The rest of the read cycle arrives while the lookup runs: the
        // answered PING is dropped from the buffer, the put-back line is not.
        m.bytesRead(ByteBuffer(string: "ST\nVERSION\n"), now: at(2))
        m.waitEnded()
        #expect(Self.drive(&m) == Run(answered: ["GET grouped", "LIST", "VERSION"]))
    }

    @Test func anOpenConnectionThatOwesNothingClosesAtOnceAtTheEndOfInputOrAStop() {
        var ended = machine()
        ended.inputEnded()
        let read = ended.readRequested()
        #expect(!read)
        #expect(Self.drive(&ended) == Run(ending: "close after flush: end-of-input"))

        var stopped = machine()
        stopped.quiesce()
        #expect(Self.drive(&stopped) == Run(ending: "close after flush: stopping"))

        // A stop, then the end of input: the last line without its LF is a request.
        var both = machine()
        both.bytesRead(ByteBuffer(string: "PING"), now: at(1))
        both.quiesce()
        both.inputEnded()
        #expect(Self.drive(&both) == Run(answered: ["PING"], ending: "close after flush: end-of-input"))
    }

    @Test func aWaitingConnectionIsNeverStalledAndIsOnceTheWaitEnds() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "GET a\n"), now: at(0))
        _ = Self.drive(&m, waits: ["GET a"])
        m.writabilityChanged(false, now: at(1))
        m.bytesRead(ByteBuffer(string: "PING\n"), now: at(50))
        guard case .scheduleIdleCheck = m.idleCheckDue(now: at(200)) else { Issue.record("a waiting connection was closed"); return }
        m.waitEnded()
        guard case .close(.stalled) = m.idleCheckDue(now: at(201)) else { Issue.record("a stalled connection was kept"); return }

        // Bytes read while waiting count as reading: not idle 60 s after them.
        var reading = machine()
        reading.bytesRead(ByteBuffer(string: "GET a\n"), now: at(0))
        _ = Self.drive(&reading, waits: ["GET a"])
        reading.bytesRead(ByteBuffer(string: "PING\n"), now: at(30))
        reading.waitEnded()
        _ = Self.drive(&reading)
        guard case .scheduleIdleCheck(let next) = reading.idleCheckDue(now: at(60)) else { Issue.record("closed early"); return }
        #expect(next == at(90))
    }

    @Test func quitDropsWhatFollows() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "PING\nQUIT\nPING\n"), now: at(1))
        #expect(Self.drive(&m, quit: ["QUIT"]) == Run(answered: ["PING", "QUIT"], ending: "close after flush: quit"))
        #expect(Self.drive(&m) == Run())
    }

    @Test func idleClosesOnlyWhatOwesNothingAndStalledWhatReadsNothing() {
        var quiet = machine()
        quiet.bytesRead(ByteBuffer(string: "PING\nGET"), now: at(10))
        _ = Self.drive(&quiet)
        guard case .scheduleIdleCheck(let next) = quiet.idleCheckDue(now: at(60)) else { Issue.record("closed early"); return }
        #expect(next == at(70))
        guard case .closeAfterFlush(.idle) = quiet.idleCheckDue(now: at(70)) else { Issue.record("an idle connection was kept"); return }

        var waiting = machine()
        waiting.bytesRead(ByteBuffer(string: "GET a\n"), now: at(0))
        _ = Self.drive(&waiting, waits: ["GET a"])
        guard case .scheduleIdleCheck(let later) = waiting.idleCheckDue(now: at(600)) else { Issue.record("a waiting connection was closed"); return }
        #expect(later == at(660))

        // A client that pipelines and never reads: its output stays blocked.
        var stalled = machine()
        stalled.bytesRead(ByteBuffer(string: "GET a\n"), now: at(0))
        _ = Self.drive(&stalled)
        stalled.writabilityChanged(false, now: at(30))
        stalled.bytesRead(ByteBuffer(string: "GET a\n"), now: at(45))
        guard case .scheduleIdleCheck(let due) = stalled.idleCheckDue(now: at(60)) else { Issue.record("closed early"); return }
        #expect(due == at(90))
        guard case .close(.stalled) = stalled.idleCheckDue(now: at(90)) else { Issue.record("a stalled connection was kept"); return }
        stalled.bytesRead(ByteBuffer(string: "GET a\n"), now: at(91))
        #expect(Self.drive(&stalled) == Run())
    }

    @Test func endOfInputAndStopFinishWhatWasAsked() {
        var m = machine()
        m.bytesRead(ByteBuffer(string: "REFRESH a\nPING\nVERSION"), now: at(1))
        _ = Self.drive(&m, waits: ["REFRESH a"])
        m.inputEnded()
        #expect(Self.drive(&m) == Run())
        m.waitEnded()
        #expect(Self.drive(&m) == Run(answered: ["PING", "VERSION"], ending: "close after flush: end-of-input"))

        var stopping = machine()
        stopping.bytesRead(ByteBuffer(string: "PING\nLIST\nGET"), now: at(1))
        _ = Self.drive(&stopping, waits: ["PING"])
        stopping.quiesce()
        let read5 = stopping.readRequested()
        #expect(!read5)
        stopping.waitEnded()
        // Complete requests are answered; an incomplete one was never asked.
        #expect(Self.drive(&stopping) == Run(answered: ["LIST"], ending: "close after flush: stopping"))
    }

    @Test func eachDaemonCloseCountsAsItsRejection() {
        let counted = Machine.CloseReason.allCases.compactMap { reason in reason.rejection.map { "\(reason.rawValue)=\($0.rawValue)" } }
        #expect(counted == ["idle=idle", "stalled=idle", "too-long=too-long"])
    }
}
