import TokendCore
import TokendEngine

/// What one connection's peer may read (SPEC §2 `allow_*`), as a value the
/// handler keeps: the peer's credentials (read once, from the kernel), its
/// groups in the user database once looked up, and the profile it asked
/// for last. Deciding and finding profiles takes no lock on the usual path;
/// only the lookup of the user database is the handler's to run, off the
/// event loop.
struct PeerAccess {
    /// nil: the kernel would not say; every profile is then denied.
    let peer: PeerCredentials?
    /// The peer's groups in the user database, once looked up (`[]` for one
    /// request when the lookup failed or was late).
    var userGroups: [UInt32]?
    /// The profile last asked for, with the directory generation it belongs to.
    private var lastProfile: (generation: Int, handle: ProfileHandle)?

    init(peer: PeerCredentials?) {
        self.peer = peer
    }

    func decide(_ profile: ProfileHandle) -> AccessDecision {
        guard let peer else { return .denied }
        return profile.access.decide(uid: peer.uid, gid: peer.gid, kernelGroups: peer.kernelGroups, userGroups: userGroups)
    }

    /// The profile of that name in force now. The last one found is kept
    /// with the directory's generation, so that a client asking for the
    /// same profile again (the usual case) takes no lock to find it.
    mutating func lookUp(_ name: String, in directory: ProfileDirectory) -> ProfileHandle? {
        let generation = directory.generation
        if let cached = lastProfile, cached.generation == generation, cached.handle.name == name { return cached.handle }
        guard let handle = directory.handle(named: name) else { return nil }
        lastProfile = (generation, handle)
        return handle
    }

    /// The profiles this peer may read (`LIST`, `STATUS`); nil when the user
    /// database must be asked first.
    func readable(in directory: ProfileDirectory) -> [ProfileHandle]? {
        let all = directory.all()
        if all.contains(where: { decide($0) == .needsUserGroups }) { return nil }
        return all.filter { decide($0) == .allowed }
    }
}
