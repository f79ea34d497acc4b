import Atomics
import NIOConcurrencyHelpers
import TokendCore

/// What the socket server knows of a profile: its name, who may read it and
/// where its current token is published.
public final class ProfileHandle: Sendable {
    public let name: String
    public let access: AccessRule
    public let slot: TokenSlot

    init(name: String, access: AccessRule, slot: TokenSlot) {
        self.name = name
        self.access = access
        self.slot = slot
    }
}

/// The set of profiles being served, replaced whole on reload.
public final class ProfileDirectory: Sendable {
    private let profiles = NIOLockedValueBox<[String: ProfileHandle]>([:])
    private let generationCounter = ManagedAtomic(0)

    public init() {}

    /// Changes whenever the set of profiles is replaced: a handle found at
    /// one generation is the one in force while the generation is unchanged.
    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    public func handle(named name: String) -> ProfileHandle? { profiles.withLockedValue { $0[name] } }

    /// Every profile, sorted by name.
    public func all() -> [ProfileHandle] {
        profiles.withLockedValue { Array($0.values) }.sorted { $0.name < $1.name }
    }

    func replace(_ handles: [ProfileHandle]) {
        let table = Dictionary(uniqueKeysWithValues: handles.map { ($0.name, $0) })
        profiles.withLockedValue { $0 = table }
        generationCounter.wrappingIncrement(ordering: .releasing)
    }
}
