import TokendPlatform

/// Lets at most `burst` log lines of one kind through per `window`, and
/// counts the rest, so that one client (a pipelining loop of denied
/// requests, say) cannot flood the journal. The first line after a window
/// with suppressed lines says how many were dropped.
public struct LogRateLimiter: Sendable {
    public let burst: Int
    public let window: TimeSpan
    private var windowStart: Instant?
    private var admitted = 0
    private var suppressed = 0

    public init(burst: Int = 10, window: TimeSpan = .seconds(60 as Int64)) {
        self.burst = burst
        self.window = window
    }

    /// Whether to log this line; when it is to be logged, how many lines
    /// were suppressed since the last one that was.
    public mutating func admit(now: Instant) -> (log: Bool, suppressedBefore: Int) {
        if let start = windowStart, now - start < window {
            if admitted < burst {
                admitted += 1
                let dropped = suppressed
                suppressed = 0
                return (true, dropped)
            }
            suppressed += 1
            return (false, 0)
        }
        windowStart = now
        admitted = 1
        let dropped = suppressed
        suppressed = 0
        return (true, dropped)
    }
}
