/// What a reload does to each profile (SPEC §6, §9, §11), as ordered steps
/// that `TokenEngine` only carries out: a pure function of the running
/// profiles and the new ones, tested without an engine.
///
/// - A profile equal to the running one is kept, with its token and files.
/// - One that differs in its token files only keeps its token; its files
///   move (old paths removed, new ones written).
/// - Any other change replaces it: a new runner (from the cache entry, if
///   the profile persists), started once the old one's transfer has ended.
///   With the same cache fingerprint the token keeps its meaning, so the new
///   runner adopts the old one's files; else they are removed.
/// - A new name is added; a name no longer configured is removed (its files
///   and cache entry deleted, its waiting clients told `unknown-profile`).
public struct ProfileReloadPlan: Equatable, Sendable {
    public enum Step: Equatable, Sendable {
        /// Unchanged: nothing to do.
        case keep(String)
        /// A new runner replaces the running one; `adoptFiles`: the old one
        /// leaves its files (those still configured) for the new one.
        case replace(String, adoptFiles: Bool)
        /// A profile that was not running.
        case add(String)
        /// A running profile no longer configured.
        case remove(String)
        /// Only the token files changed: the running runner moves them.
        case moveFiles(String)
        /// The replacement adopts the files the old runner left.
        case adoptFiles(String)
    }

    /// In the order the engine carries them out: each new profile's keep,
    /// replace or add in the order of the file; then the removals; then file
    /// moves and adoptions, after every removal is queued on the one disk
    /// thread, so that a path moving from one profile to another is not
    /// removed after its new owner wrote it.
    public let steps: [Step]

    public init(running: [String: ProfileConfiguration], next: [ProfileConfiguration]) {
        var steps: [Step] = []
        var fileSteps: [Step] = []
        for profile in next {
            guard let existing = running[profile.name] else {
                steps.append(.add(profile.name))
                continue
            }
            if existing == profile {
                steps.append(.keep(profile.name))
            } else if profile.differsOnlyInFiles(from: existing) {
                steps.append(.keep(profile.name))
                fileSteps.append(.moveFiles(profile.name))
            } else {
                let sameToken = existing.cacheFingerprint == profile.cacheFingerprint
                steps.append(.replace(profile.name, adoptFiles: sameToken))
                if sameToken { fileSteps.append(.adoptFiles(profile.name)) }
            }
        }
        let configured = Set(next.map(\.name))
        for name in running.keys.sorted() where !configured.contains(name) { steps.append(.remove(name)) }
        self.steps = steps + fileSteps
    }

    /// The profiles whose runner is new (added or replaced): those read
    /// their cache entry first, when they persist.
    public var starting: [String] {
        steps.compactMap {
            switch $0 {
            case .add(let name), .replace(let name, _): return name
            default: return nil
            }
        }
    }

    /// Names by what happens to them, for the log line and `systemctl status`.
    public var added: [String] { steps.compactMap { if case .add(let name) = $0 { return name } else { return nil } } }
    public var removed: [String] { steps.compactMap { if case .remove(let name) = $0 { return name } else { return nil } } }
    public var changed: [String] {
        steps.compactMap {
            switch $0 {
            case .replace(let name, _), .moveFiles(let name): return name
            default: return nil
            }
        }
    }
    public var unchanged: [String] {
        let moved = Set(steps.compactMap { if case .moveFiles(let name) = $0 { return name } else { return nil } })
        return steps.compactMap { if case .keep(let name) = $0, !moved.contains(name) { return name } else { return nil } }
    }
}
