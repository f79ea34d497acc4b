import Testing
@testable import TokendCore
import TokendPlatform

/// Who may read, deciding without the user database when it can.
@Suite struct AccessDecisionTests {
    let rule = AccessRule(restricted: true, gids: [500])

    @Test func theKernelsGroupsDecideFirst() {
        #expect(rule.decide(uid: 1000, gid: 100, kernelGroups: [7, 500], userGroups: nil) == .allowed)
        #expect(rule.decide(uid: 1000, gid: 100, kernelGroups: [7], userGroups: nil) == .needsUserGroups)
        #expect(rule.decide(uid: 1000, gid: 100, kernelGroups: [7], userGroups: [500]) == .allowed)
        #expect(rule.decide(uid: 1000, gid: 100, kernelGroups: [7], userGroups: [8]) == .denied)
        #expect(rule.decide(uid: 0, gid: 0, kernelGroups: [], userGroups: nil) == .allowed)
        #expect(AccessRule(restricted: true, uids: [5]).decide(uid: 6, gid: 6, kernelGroups: [], userGroups: nil) == .denied)
        #expect(AccessRule().decide(uid: 6, gid: 6, kernelGroups: [], userGroups: nil) == .allowed)
    }
}
