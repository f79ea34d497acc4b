import Glibc

/// Each client connection costs a descriptor. A soft `RLIMIT_NOFILE` of
/// 1024 (the usual default outside systemd) would refuse connections well
/// below `max_connections`, so the soft limit is raised towards the hard one.
enum DescriptorLimit {
    /// Descriptors kept for the listening socket, event loops, curl and logs.
    static let reserve: UInt64 = 64

    /// Raises the soft limit to fit `connections` clients if the hard limit
    /// allows; returns the soft limit in force afterwards.
    @discardableResult
    static func raise(toServe connections: Int) -> UInt64 {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        let wanted = min(UInt64(connections) + reserve, UInt64(limit.rlim_max))
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = rlim_t(wanted)
            if setrlimit(resource, &raised) == 0 { return wanted }
        }
        return UInt64(limit.rlim_cur)
    }
}
