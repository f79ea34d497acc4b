import Testing
@testable import TokendCore
import TokendPlatform

/// SPEC §10: the IdP's limit headers, parsed without a network.
@Suite struct IdPLimitsTests {
    @Test func rateLimitHeadersInBothSpellings() {
        let limits = IdPLimits.parse([("RateLimit-Limit", "100"), ("ratelimit-remaining", " 7 "), ("RateLimit-Reset", "30")])
        #expect(limits == IdPLimits(rateLimit: 100, rateRemaining: 7, rateReset: 30))
        let x = IdPLimits.parse([("X-RateLimit-Limit", "100, 100;w=60"), ("X-RateLimit-Remaining", "0")])
        #expect(x?.rateLimit == 100 && x?.rateRemaining == 0 && x?.rateReset == nil)
        #expect(IdPLimits.parse([("Content-Type", "application/json")]) == nil)
        #expect(IdPLimits.parse([]) == nil)
    }

    @Test func auth0QuotaHeaders() {
        let limits = IdPLimits.parse([("Auth0-Client-Quota-Limit", "b=per_hour;q=10;r=7;t=3540,b=per_day;q=100;r=93;t=80000"),
                                      ("Auth0-Organization-Quota-Limit", "b=per_month;q=1000;r=1;t=100000")])
        #expect(limits?.clientQuotas == [.init(bucket: "per_hour", quota: 10, remaining: 7, resetSeconds: 3540),
                                         .init(bucket: "per_day", quota: 100, remaining: 93, resetSeconds: 80000)])
        #expect(limits?.organizationQuotas.first?.remaining == 1)
        #expect(limits?.windows.filter { $0.remaining * 10 < $0.limit }.map(\.name) == ["Auth0 organization quota per_month"])
    }

    @Test func garbageIsIgnoredNeverATrap() {
        let hostile = ["", ";;;", "b=;q=;r=", "b=x;q=-1;r=2", "q=99999999999999999999;r=1;b=h", "b=a b;q=1;r=1",
                       String(repeating: "b=h;q=1;r=1,", count: 1000), "1e9", "-5", "\u{0}", "٣"]
        for value in hostile {
            for name in IdPLimits.headerNames {
                let parsed = IdPLimits.parse([(name, value)])
                for window in parsed?.windows ?? [] { #expect(window.limit >= 0 && window.remaining >= 0) }
                #expect((parsed?.clientQuotas.count ?? 0) <= 8)
            }
        }
        #expect(IdPLimits.parse([("RateLimit-Limit", "abc")]) == nil)
    }

    @Test func theReadinessSummary() {
        func status(_ name: String, valid: Bool, error: FetchFailure? = nil) -> ProfileStatus {
            var machine = RenewalMachine(policy: RenewalPolicy())
            _ = machine.start(now: .init(nanoseconds: 0), prefetch: false)
            var s = ProfileStatus(name: name, machine: machine, now: .init(nanoseconds: 0))
            s.expiresIn = valid ? 100 : nil
            s.lastError = error?.message
            s.lastReason = error?.reason
            return s
        }
        #expect(ReadinessSummary.line([status("a", valid: true), status("b", valid: true), status("c", valid: true)]) == "3 profiles, 3 valid")
        // The kind or the OAuth code, never the IdP's text (systemctl status is for everyone).
        let oauth = FetchFailure("invalid_client: bad client acme-payroll", kind: .oauthError, code: "invalid_client")
        #expect(ReadinessSummary.line([status("a", valid: true), status("api", valid: false, error: oauth), status("c", valid: true)])
            == "2 of 3 valid: api: invalid_client")
        #expect(ReadinessSummary.line([status("p", valid: false, error: FetchFailure("HTTP 503: down", kind: .httpError, code: "503"))])
            == "0 of 1 valid: p: http 503")
        #expect(ReadinessSummary.line([status("p", valid: false, error: FetchFailure("timeout"))]) == "0 of 1 valid: p: transport")
        let odd = FetchFailure("x", kind: .oauthError, code: "Invalid Client <script>")
        #expect(odd.reason == "oauth_error")
        #expect(ReadinessSummary.line([status("p", valid: false)]) == "0 of 1 valid: p: pending")
        #expect(ReadinessSummary.line([]) == "0 profiles, 0 valid")
    }

    @Test func metricsListenTakesLoopbackOnly() {
        func parsed(_ text: String) -> MetricsAddress? { try? MetricsAddress.parse(text).get() }
        #expect(parsed("127.0.0.1:9464") == .tcp(host: "127.0.0.1", port: 9464))
        #expect(parsed("127.1.2.3:1") == .tcp(host: "127.1.2.3", port: 1))
        #expect(parsed("[::1]:9464") == .tcp(host: "::1", port: 9464))
        #expect(parsed("unix:/run/tokend/metrics.sock") == .unix(path: "/run/tokend/metrics.sock"))
        for bad in ["0.0.0.0:9464", "10.0.0.1:9464", "localhost:9464", "[::]:9464", "[::2]:1", "127.0.0.1:0", "127.0.0.1:65536",
                    "127.0.0.1:+80", "127.0.0.1", ":9464", "unix:", "unix:rel", "[::1]9464", "128.0.0.1:80"] {
            #expect(parsed(bad) == nil, "\(bad)")
        }
    }
}
