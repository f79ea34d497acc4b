/// What a reload (`SIGHUP`, SPEC §6) takes from a new configuration: every
/// profile, and none of the top-level keys that only a restart can apply
/// (the listening socket, its mode and group, the limits of the server, the
/// log level). Those keep their running values, and each changed one is
/// named so that the operator is told.
public struct ReloadPlan: Equatable, Sendable {
    /// The configuration to run: the new profiles, the running top-level keys.
    public var configuration: Configuration
    /// The top-level keys whose new values wait for a restart.
    public var restartKeys: [String]

    public init(running: Configuration, loaded: Configuration) {
        var next = loaded
        var keys: [String] = []
        func keep<Value: Equatable>(_ key: String, _ path: WritableKeyPath<Configuration, Value>) {
            if next[keyPath: path] != running[keyPath: path] { keys.append(key) }
            next[keyPath: path] = running[keyPath: path]
        }
        keep("socket", \.socketPath)
        keep("socket_mode", \.socketMode)
        keep("socket_group", \.socketGroup)
        keep("log_level", \.logLevel)
        keep("max_connections", \.maxConnections)
        keep("idle_timeout", \.idleTimeout)
        keep("state_dir", \.stateDirectory)
        keep("metrics_listen", \.metricsListen)
        keep("cache_key_file/cache_key_credential", \.cacheKey)
        configuration = next
        restartKeys = keys
    }
}
