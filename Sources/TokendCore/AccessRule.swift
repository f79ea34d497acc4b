/// Who may read a profile (SPEC §2 `allow_*`), as configured and as resolved.
public struct AccessRule: Equatable, Sendable {
    /// Whether any `allow_*` key is present; without one, every peer that
    /// can open the socket may read the profile.
    public var restricted: Bool
    /// `allow_users` names, resolved into `uids` by the loader.
    public var userNames: [String]
    /// `allow_groups` names, resolved into `gids` by the loader.
    public var groupNames: [String]
    public var uids: Set<UInt32>
    public var gids: Set<UInt32>

    public init(restricted: Bool = false, userNames: [String] = [], groupNames: [String] = [],
                uids: Set<UInt32> = [], gids: Set<UInt32> = []) {
        self.restricted = restricted
        self.userNames = userNames
        self.groupNames = groupNames
        self.uids = uids
        self.gids = gids
    }

    /// Whether a peer may read, without asking the user database unless it
    /// must. `kernelGroups` are the groups the kernel reported for the
    /// connecting process (`SO_PEERGROUPS`); `userGroups`, those the user
    /// database lists for the peer's user, when already known. Answers
    /// `needsUserGroups` only when nothing else decides and they are not.
    public func decide(uid: UInt32, gid: UInt32, kernelGroups: [UInt32], userGroups: [UInt32]?) -> AccessDecision {
        if !restricted || uid == 0 || uids.contains(uid) || gids.contains(gid) { return .allowed }
        if gids.isEmpty { return .denied }
        if kernelGroups.contains(where: gids.contains) { return .allowed }
        guard let userGroups else { return .needsUserGroups }
        return userGroups.contains(where: gids.contains) ? .allowed : .denied
    }
}

/// The outcome of an access check.
public enum AccessDecision: Equatable, Sendable {
    case allowed
    case denied
    /// Only the peer's groups in the user database can tell (look them up off the event loop).
    case needsUserGroups
}
