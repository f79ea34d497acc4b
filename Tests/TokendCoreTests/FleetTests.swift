import Testing
@testable import TokendCore
import TokendPlatform

/// SPEC §14, pure: the `[fleet]` table, the rules of sharing, the sealed
/// entry and the gateway's messages.
@Suite struct FleetTests {
    static let key = String(repeating: "ab", count: 32)

    func load(_ text: String, host: FakeHost? = nil) throws(ConfigurationErrors) -> LoadedConfiguration {
        var fake = host ?? FakeHost()
        fake.files["/k"] = Self.key
        return try ConfigurationLoader.load(text: text, path: "/etc/tokend/tokend.toml", host: fake)
    }

    func errors(_ text: String, host: FakeHost? = nil) -> [String] {
        do { _ = try load(text, host: host); return [] } catch { return error.errors.map { "\($0.key): \($0.message)" } }
    }

    static let profile = """
        [profile.api]
        token_url = "https://idp.example/token"
        client_id = "c"
        client_secret = "s"
        fleet = true
        """

    @Test func aFleetTableIsReadAndEveryFleetProfileCarriesIt() throws {
        var host = FakeHost()
        host.files = ["/e/pass": "pw\n", "/e/ca.pem": "x", "/e/c.pem": "x", "/e/c.key": "x"]
        let text = """
            cache_key_file = "/k"
            [fleet]
            endpoints = ["https://etcd-1:2379", "https://etcd-2:2379/", "http://127.0.0.1:2379"]
            prefix = "/fleet-a/"
            ca_file = "/e/ca.pem"
            cert_file = "/e/c.pem"
            key_file = "/e/c.key"
            username = "tokend"
            password_file = "/e/pass"
            timeout = "1500ms"
            max_clock_skew = "10s"
            \(Self.profile)
            [profile.other]
            token_url = "https://idp.example/token"
            client_id = "c"
            client_secret = "s"
            """
        let c = try load(text, host: host).configuration
        let fleet = try #require(c.fleet)
        #expect(fleet.endpoints == ["https://etcd-1:2379", "https://etcd-2:2379", "http://127.0.0.1:2379"])
        #expect(fleet.prefix == "/fleet-a/" && fleet.caFile == "/e/ca.pem" && fleet.certFile == "/e/c.pem" && fleet.keyFile == "/e/c.key")
        #expect(fleet.username == "tokend" && fleet.password?.value == "pw")
        #expect(fleet.timeout == .milliseconds(1500) && fleet.maxClockSkew == .seconds(10 as Int64))
        #expect(fleet.cacheKey != nil)
        #expect(c.profiles.first { $0.name == "api" }?.fleet == fleet)
        #expect(c.profiles.first { $0.name == "other" }?.fleet == nil)
        #expect(fleet.entryKey("ff") == "/fleet-a/tokens/ff" && fleet.lockKey("ff") == "/fleet-a/locks/ff")
        #expect("\(fleet)".contains("pw") == false)
    }

    @Test(arguments: [
        ("[fleet]\nendpoints = [\"https://e:2379\"]\n", "fleet: needs cache_key_file or cache_key_credential"),
        ("cache_key_file = \"/k\"\n[fleet]\n", "fleet.endpoints: is required"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = []\n", "fleet.endpoints: must be a non-empty array"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"http://etcd-1:2379\"]\n", "fleet.endpoints: endpoint 1 (http://etcd-1:2379) must use https://"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e:2379/v3\"]\n", "must be a base URL without a path"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://u:p@e:2379\"]\n", "use username and password_file"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\nprefix = \"tokend\"\n", "fleet.prefix: must start and end with /"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\nusername = \"u\"\n", "fleet.username: needs password_file"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\npassword_file = \"/p\"\n", "fleet.password_file: needs username"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\ncert_file = \"/c\"\n", "fleet.cert_file: cert_file and key_file go together"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\nca_file = \"/nope\"\n", "fleet.ca_file: cannot read /nope"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\ntimeout = \"0s\"\n", "fleet.timeout"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\ntimeout = \"6s\"\n", "fleet.timeout"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\nendpoint = 1\n", "fleet.endpoint: unknown key (did you mean endpoints?)"),
        ("cache_key_file = \"/k\"\n[fleet]\nendpoints = [\"https://e\"]\nusername = \"u\"\npassword_credential = \"etcd\"\n", "$CREDENTIALS_DIRECTORY is not set"),
        ("cache_key_file = \"/k\"\n", "profile.api.fleet: needs a [fleet] table"),
    ])
    func everyFleetMistakeNamesItsKey(text: String, expected: String) {
        let found = errors(text + (text.contains("[profile") ? "" : Self.profile))
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }

    // MARK: - The rules

    static let token = IssuedToken(accessToken: "shared-access-1234", tokenType: "Bearer", lifetime: .seconds(100 as Int64))
    let rules = FleetRules(policy: RenewalPolicy(renewAt: 0.5, jitter: 0.1), maxClockSkew: .seconds(5 as Int64))
    let now = Instant(nanoseconds: 7_000_000_000_000)
    let unix = 1_800_000_000.0

    func shared(ageSeconds: Double, renewAfter: Int64 = 50) -> CacheEntry {
        CacheEntry(profile: "", fingerprint: "fp", bootID: "fleet",
                   token: CacheEntry.Token(issued: Self.token, obtainedBoot: 0, obtainedUnix: unix - ageSeconds, renewAfter: .seconds(renewAfter)))
    }

    @Test func placementCapsTheHostDelayAtHalfTheRoomAndNeverPastTheExpiry() {
        // Recorded at 90 s of 100, adopted expiry at 95 s: room 5 s, delay ≤ 2.5 s (not 0.1 × 100).
        let (held, recorded) = rules.place(shared(ageSeconds: 10, renewAfter: 90).token!, now: now, unixNow: unix, unit: 0.99)
        #expect(recorded == now + .seconds(80 as Int64))
        #expect(held.renewAt == recorded + .milliseconds(2500))
        #expect(held.expiresAt == now + .seconds(85 as Int64))
        // A skew larger than what is left: renewal at the last servable moment, not after.
        let late = FleetRules(policy: rules.policy, maxClockSkew: .seconds(60 as Int64))
        let (h2, _) = late.place(shared(ageSeconds: 10, renewAfter: 90).token!, now: now, unixNow: unix, unit: 0.5)
        #expect(h2.renewAt <= h2.servableUntil)
    }

    @Test func decisions() {
        #expect(rules.decide(nil, need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) == .fetch)
        guard case .adopt = rules.decide(shared(ageSeconds: 10), need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) else {
            Issue.record("a fresh shared token was not adopted"); return
        }
        // Past its recorded moment: the lock.
        #expect(rules.decide(shared(ageSeconds: 60), need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) == .fetch)
        // Expired by the wall clock less the skew.
        #expect(rules.decide(shared(ageSeconds: 96), need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) == .fetch)
        // REFRESH: only a token younger than 5 s.
        guard case .adopt = rules.decide(shared(ageSeconds: 4), need: FleetNeed(refresh: true), now: now, unixNow: unix, unit: 0.5) else {
            Issue.record("REFRESH did not take a 4 s old token"); return
        }
        #expect(rules.decide(shared(ageSeconds: 6), need: FleetNeed(refresh: true), now: now, unixNow: unix, unit: 0.5) == .fetch)
        // MIN_TTL: good for the demand or not at all.
        #expect(rules.decide(shared(ageSeconds: 10), need: FleetNeed(minTTL: .seconds(90 as Int64)), now: now, unixNow: unix, unit: 0.5) == .fetch)
        // A token from the future within the skew (another host's clock ahead) is placed by its expiry;
        // beyond the skew, that host's clock is wrong and its token not trusted.
        guard case .adopt(let held) = rules.decide(shared(ageSeconds: -3), need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) else {
            Issue.record("not adopted"); return
        }
        #expect(held.expiresAt == now + .seconds(98 as Int64))
        #expect(rules.decide(shared(ageSeconds: -6), need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) == .fetch)
        #expect(rules.decide(shared(ageSeconds: -6), need: FleetNeed(refresh: true), now: now, unixNow: unix, unit: 0.5) == .fetch)
    }

    @Test func aTokenAdoptedForOneNeedAnswersOnlyTheDemandsItCovers() {
        let held = HeldToken(token: Self.token, obtainedAt: now - .seconds(50 as Int64), renewAt: now + .seconds(10 as Int64))
        let renewal = FleetNeed()
        #expect(renewal.covers(.token(minTTL: nil), with: held, now: now))
        #expect(renewal.covers(.token(minTTL: .seconds(40 as Int64)), with: held, now: now))
        // A REFRESH or a longer MIN_TTL that came meanwhile starts a need of its own.
        #expect(!renewal.covers(.refresh, with: held, now: now))
        #expect(!renewal.covers(.token(minTTL: .seconds(60 as Int64)), with: held, now: now))
        #expect(FleetNeed(refresh: true).covers(.refresh, with: held, now: now))
        // Asked for that MIN_TTL already: the fleet's best is the answer (the IdP's lifetime is shorter).
        #expect(FleetNeed(minTTL: .seconds(60 as Int64)).covers(.token(minTTL: .seconds(60 as Int64)), with: held, now: now))
    }

    @Test func theSharedBackOffHoldsEveryHostAndStillServesAValidToken() {
        var entry = rules.entry(fingerprint: "fp", failedAfter: shared(ageSeconds: 60),
                                failure: FetchFailure("HTTP 503", retryAfter: .seconds(30 as Int64), kind: .httpError, code: "503"),
                                unixNow: unix, unit: 0.5)
        #expect(entry.consecutiveFailures == 1 && entry.nextAttemptUnix == unix + 30 && entry.lastReason == "http 503")
        #expect(entry.token != nil, "the still valid token was dropped")
        #expect(FleetRules.leaseSeconds(entry, unixNow: unix) == 40)
        // A host holding its own token backs off; one without adopts the valid token, renewing after the back-off.
        #expect(rules.decide(entry, need: FleetNeed(heldUntil: now + .seconds(50 as Int64)), now: now, unixNow: unix, unit: 0.5)
                == .backOff(until: now + .seconds(30 as Int64), lastError: "HTTP 503"))
        // Its own token ends before the shared one: it takes the shared one.
        guard case .adopt = rules.decide(entry, need: FleetNeed(heldUntil: now + .seconds(10 as Int64)), now: now, unixNow: unix, unit: 0.5) else {
            Issue.record("not adopted"); return
        }
        guard case .adopt(let held) = rules.decide(entry, need: FleetNeed(), now: now, unixNow: unix, unit: 0.5) else {
            Issue.record("not adopted"); return
        }
        #expect(held.renewAt >= now + .seconds(30 as Int64))
        entry.token = nil
        #expect(FleetRules.leaseSeconds(entry, unixNow: unix) == 30)
    }

    // MARK: - The sealed entry

    @Test func entriesAreSealedWithTheFingerprintAndOpenOnlyWithTheKeyAndFingerprint() throws {
        let key = [UInt8](repeating: 3, count: 32)
        var entry = shared(ageSeconds: 1)
        entry.profile = "named-differently"
        let sealed = try FleetEntryCodec.seal(entry, key: key, nonce: [UInt8](repeating: 1, count: 12))
        let text = String(decoding: sealed, as: UTF8.self)
        #expect(!text.contains("shared-access") && !text.contains("named-differently") && !text.contains("fp"))
        let opened = try FleetEntryCodec.open(sealed, fingerprint: "fp", key: key)
        #expect(opened.token == entry.token && opened.profile == "")
        #expect(throws: CacheEntry.Problem.authenticationFailed) { try FleetEntryCodec.open(sealed, fingerprint: "other", key: key) }
        #expect(throws: CacheEntry.Problem.authenticationFailed) {
            try FleetEntryCodec.open(sealed, fingerprint: "fp", key: [UInt8](repeating: 4, count: 32))
        }
        var altered = sealed
        altered[altered.count - 3] ^= 1
        #expect(throws: (any Error).self) { try FleetEntryCodec.open(altered, fingerprint: "fp", key: key) }
        #expect(throws: CacheEntry.Problem.notAnEntry) { try FleetEntryCodec.open(Array("{}".utf8), fingerprint: "fp", key: key) }
    }

    // MARK: - The gateway's messages

    @Test func gatewayAnswersAreRead() throws {
        let range = #"{"header":{"revision":"2"},"kvs":[{"key":"L3QvbA==","create_revision":"2","mod_revision":"7","version":"1","value":"bWU=","lease":"2324035786997437960"}],"count":"1"}"#
        #expect(try EtcdMessages.rangeAnswer(Array(range.utf8))
                == [EtcdKeyValue(key: Array("/t/l".utf8), value: Array("me".utf8), modRevision: 7, lease: 2_324_035_786_997_437_960)])
        #expect(try EtcdMessages.rangeAnswer(Array(#"{"header":{"revision":"1"}}"#.utf8)).isEmpty)
        #expect(try EtcdMessages.txnAnswer(Array(#"{"header":{},"succeeded":true}"#.utf8)))
        #expect(try !EtcdMessages.txnAnswer(Array(#"{"header":{}}"#.utf8)), "succeeded omitted (false in proto3 JSON)")
        #expect(throws: EtcdMessages.Unreadable.self, "an empty object is no etcd answer") { try EtcdMessages.txnAnswer(Array("{}".utf8)) }
        #expect(try EtcdMessages.grantAnswer(Array(#"{"header":{},"ID":"2324035786997437958","TTL":"10"}"#.utf8)) == 2_324_035_786_997_437_958)
        #expect(try EtcdMessages.authenticateAnswer(Array(#"{"header":{},"token":"abc.12"}"#.utf8)) == "abc.12")
        #expect(EtcdMessages.status(Array(#"{"error":"x","message":"etcdserver: no leader","code":14}"#.utf8))
                == EtcdMessages.Status(code: 14, message: "etcdserver: no leader"))
        for bad in ["", "[]", "{}", "{\"header\":{},\"kvs\":{}}", "{\"header\":{},\"kvs\":[{\"key\":\"%%\",\"mod_revision\":\"1\"}]}",
                    "{\"header\":{},\"kvs\":[{\"key\":\"YQ==\"}]}"] {
            #expect(throws: EtcdMessages.Unreadable.self) { try EtcdMessages.rangeAnswer(Array(bad.utf8)) }
        }
        #expect(throws: EtcdMessages.Unreadable.self) { try EtcdMessages.grantAnswer(Array(#"{"header":{},"ID":"0"}"#.utf8)) }
        #expect(throws: EtcdMessages.Unreadable.self) { try EtcdMessages.txnAnswer(Array(#"{"header":{},"succeeded":"yes"}"#.utf8)) }
        // Requests: keys and values in base64, 64-bit integers as strings.
        #expect(EtcdMessages.putIf(key: "/a", value: [1], lease: 5, modRevision: 0)
                == #"{"compare":[{"key":"L2E=","result":"EQUAL","target":"MOD","mod_revision":"0"}],"success":[{"request_put":{"key":"L2E=","value":"AQ==","lease":"5"}}]}"#)
    }
}
