import Testing
@testable import TokendServer

/// The connection's rules without a socket.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine<String>

    func processed(_ action: Machine.ReceiveAction) -> String? {
        if case .process(.line(let line)) = action { return line }
        return nil
    }

    @Test func firstInLineIsAnsweredAtOnce() {
        var m = Machine()
        let v1 = m.received(.line("GET a"))
        #expect(processed(v1) == "GET a")
        #expect(m.queuedCount == 0)
    }

    @Test func aWaitingRequestHoldsBackTheOnesBehindItInOrder() {
        var m = Machine()
        let v2 = m.received(.line("REFRESH a"))
        #expect(processed(v2) == "REFRESH a")
        m.waitStarted()
        for line in ["PING", "GET a", "QUIT"] {
            guard case .queued = m.received(.line(line)) else { Issue.record("not queued"); return }
        }
        let v3 = m.nextQueued()
        #expect(v3 == nil) // still waiting
        m.waitEnded()
        var order: [String] = []
        while case .line(let line)? = m.nextQueued() { order.append(line) }
        #expect(order == ["PING", "GET a", "QUIT"])
    }

    @Test func aFullQueueOrUnreadOutputStopsReadingUntilItDrains() {
        var m = Machine(queueLimit: 2)
        _ = m.received(.line("REFRESH a"))
        m.waitStarted()
        _ = m.received(.line("PING"))
        _ = m.received(.line("PING"))
        let v4 = m.readRequested()
        #expect(!v4)
        m.waitEnded()
        let v5 = m.shouldResumeReading()
        #expect(!v5) // the queue is still full
        _ = m.nextQueued()
        let v6 = m.shouldResumeReading()
        #expect(v6)
        let v7 = m.shouldResumeReading()
        #expect(!v7) // once

        m.writabilityChanged(false)
        let v8 = m.readRequested()
        #expect(!v8)
        guard case .queued = m.received(.line("PING")) else { Issue.record("answered while output is blocked"); return }
        let v9 = m.nextQueued()
        #expect(v9 == nil)
        m.writabilityChanged(true)
        let v11 = m.nextQueued()
        #expect(v11 != nil)
        let v10 = m.shouldResumeReading()
        #expect(v10)
    }

    @Test func idleClosesOnlyWhatAskedNothingOrReadsNothing() {
        var quiet = Machine()
        let v12 = quiet.idle(.read)
        #expect(v12 == .idle)

        var waiting = Machine()
        _ = waiting.received(.line("GET a"))
        waiting.waitStarted()
        let v13 = waiting.idle(.read)
        let v14 = waiting.idle(.write)
        #expect(v13 == nil && v14 == nil)

        // A client that pipelines and never reads: output blocked, requests queued.
        var stalled = Machine()
        stalled.writabilityChanged(false)
        _ = stalled.received(.line("GET a"))
        let v15 = stalled.idle(.read)
        #expect(v15 == nil) // it did send something
        let v16 = stalled.idle(.write)
        #expect(v16 == .stalled)
        #expect(stalled.isClosing && stalled.queuedCount == 0)
        guard case .ignore = stalled.received(.line("GET a")) else { Issue.record("a closing connection took a request"); return }

        // No write pending: a write timeout alone closes nothing.
        var reading = Machine()
        let v17 = reading.idle(.write)
        #expect(v17 == nil)
    }

    @Test func endOfInputAndStopFinishWhatWasAsked() {
        var m = Machine()
        _ = m.received(.line("REFRESH a"))
        m.waitStarted()
        _ = m.received(.line("PING"))
        let v18 = m.inputEnded()
        #expect(v18 == nil)
        m.waitEnded()
        let v19 = m.closeIfFinished()
        #expect(v19 == nil) // PING still owed
        _ = m.nextQueued()
        let v20 = m.closeIfFinished()
        #expect(v20 == .endOfInput)

        var stopping = Machine()
        let v21 = stopping.quiesce()
        #expect(v21 == .stopping)
    }

    @Test func quitAndTooLongDropWhatFollows() {
        var m = Machine()
        _ = m.received(.line("REFRESH a"))
        m.waitStarted()
        _ = m.received(.tooLong)
        _ = m.received(.line("PING"))
        m.waitEnded()
        guard case .tooLong? = m.nextQueued() else { Issue.record("the over-long line was not next"); return }
        m.closeAfterAnswer(.tooLong)
        let v22 = m.nextQueued()
        #expect(v22 == nil && m.closeReason == .tooLong)
    }
}
