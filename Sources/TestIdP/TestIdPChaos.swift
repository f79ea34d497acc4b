extension TestIdP {
    /// Random misbehaviour for demos and soak tests: each token request fails
    /// with probability ``faultProbability`` in one of the ways real IdPs fail,
    /// and every request is answered after a uniform random latency of up to
    /// ``maxLatency`` seconds. Faults queued with ``TestIdP/enqueue(_:count:)``
    /// take precedence over chaos.
    public struct Chaos: Sendable {
        /// Chance, 0...1, that a token request gets a random fault.
        public var faultProbability: Double
        /// Upper bound of the latency added to every request, in seconds.
        public var maxLatency: Double
        /// The client's request timeout: the "hang" fault waits one second longer.
        public var timeoutSeconds: Double

        public init(faultProbability: Double = 0.1, maxLatency: Double = 0.2, timeoutSeconds: Double = 10) {
            self.faultProbability = faultProbability
            self.maxLatency = maxLatency
            self.timeoutSeconds = timeoutSeconds
        }

        /// A fault for one request, or nil when this request should go through.
        func drawFault() -> Fault? {
            guard faultProbability > 0, Double.random(in: 0..<1) < faultProbability else { return nil }
            let faults: [Fault] = [
                .retryAfter(status: 503, value: "1"),
                .oauthError(status: 503, error: "temporarily_unavailable", description: "Service unavailable"),
                .retryAfter(status: 429, value: "1"),
                .html500,
                .delay(seconds: max(0, timeoutSeconds) + 1),
                .closeConnection,
                .malformedBody,
            ]
            return faults.randomElement()
        }

        /// The latency for one request.
        func drawLatency() -> Double {
            maxLatency > 0 ? Double.random(in: 0...maxLatency) : 0
        }
    }
}
