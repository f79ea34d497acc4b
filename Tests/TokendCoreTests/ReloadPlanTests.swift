import Testing
@testable import TokendCore
import TokendPlatform

/// Which keys a reload applies, as a pure function.
@Suite struct ReloadPlanTests {
    @Test func profilesChangeTopLevelKeysWaitForARestart() {
        let running = Configuration(socketPath: "/run/a.sock", maxConnections: 10,
                                    profiles: [ProfileConfiguration(name: "a", tokenURL: "https://i/t", clientID: "c", clientSecret: Secret("s"))])
        var loaded = Configuration(socketPath: "/run/b.sock", logLevel: .debug, maxConnections: 10,
                                   profiles: [ProfileConfiguration(name: "b", tokenURL: "https://i/t", clientID: "c", clientSecret: Secret("s"))])
        loaded.idleTimeout = .seconds(5 as Int64)
        let plan = ReloadPlan(running: running, loaded: loaded)
        #expect(plan.restartKeys == ["socket", "log_level", "idle_timeout"])
        #expect(plan.configuration.socketPath == "/run/a.sock" && plan.configuration.logLevel == .info)
        #expect(plan.configuration.idleTimeout == running.idleTimeout)
        #expect(plan.configuration.profiles.map(\.name) == ["b"])
        #expect(ReloadPlan(running: running, loaded: running).restartKeys.isEmpty)
    }
}
