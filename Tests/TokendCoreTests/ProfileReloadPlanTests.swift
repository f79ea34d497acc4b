import Testing
@testable import TokendCore

/// What a reload does to each profile, as ordered steps, without an engine.
@Suite struct ProfileReloadPlanTests {
    static func profile(_ name: String, audience: String? = nil, files: [String] = [], renewAt: Double = 0.75) -> ProfileConfiguration {
        var profile = ProfileConfiguration(name: name, tokenURL: "https://i.example/t", clientID: "id-\(name)", clientSecret: Secret("s"))
        profile.audience = audience
        profile.files = files.map { TokenFileSink(path: $0) }
        profile.renewAt = renewAt
        return profile
    }

    static func running(_ profiles: ProfileConfiguration...) -> [String: ProfileConfiguration] {
        Dictionary(uniqueKeysWithValues: profiles.map { ($0.name, $0) })
    }

    @Test func keepAddAndRemoveInTheOrderOfTheFileThenRemovals() {
        let plan = ProfileReloadPlan(running: Self.running(Self.profile("a"), Self.profile("gone"), Self.profile("b")),
                                     next: [Self.profile("b"), Self.profile("new"), Self.profile("a")])
        #expect(plan.steps == [.keep("b"), .add("new"), .keep("a"), .remove("gone")])
        #expect(plan.starting == ["new"])
        #expect(plan.added == ["new"] && plan.removed == ["gone"] && plan.changed.isEmpty && plan.unchanged == ["b", "a"])
    }

    @Test func onlyFilesChangedKeepsTheRunnerAndMovesFilesAfterEveryRemoval() {
        let plan = ProfileReloadPlan(running: Self.running(Self.profile("a", files: ["/f/a"]), Self.profile("old", files: ["/f/x"])),
                                     next: [Self.profile("a", files: ["/f/x"])])
        // The path /f/x moves from `old` to `a`: `old`'s removal is queued first.
        #expect(plan.steps == [.keep("a"), .remove("old"), .moveFiles("a")])
        #expect(plan.starting.isEmpty && plan.changed == ["a"] && plan.unchanged.isEmpty)
    }

    @Test func aChangeThatKeepsTheFingerprintAdoptsTheFilesAndOneThatDoesNotDropsThem() {
        let plan = ProfileReloadPlan(
            running: Self.running(Self.profile("timing", files: ["/f/t"]), Self.profile("audience", files: ["/f/u"])),
            next: [Self.profile("timing", files: ["/f/t"], renewAt: 0.5), Self.profile("audience", audience: "https://other", files: ["/f/u"])])
        #expect(plan.steps == [.replace("timing", adoptFiles: true), .replace("audience", adoptFiles: false), .adoptFiles("timing")])
        #expect(plan.starting == ["timing", "audience"] && plan.changed == ["timing", "audience"])
    }

    @Test func aFirstInstallAddsEverything() {
        let plan = ProfileReloadPlan(running: [:], next: [Self.profile("a"), Self.profile("b")])
        #expect(plan.steps == [.add("a"), .add("b")] && plan.starting == ["a", "b"])
    }
}
