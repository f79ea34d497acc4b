import Glibc
import Testing
import TokendApp
import TokendCore
import TokendPlatform
import TokendTesting

/// The daemon that `tokend` runs, in process (AppHarness): real Unix-socket
/// clients, a scripted IdP, reload and stop through the signal stream.
@Suite(.timeLimit(.minutes(1))) struct AppInProcessTests {
    static let demo = "[profile.demo]\ntoken_url = \"https://idp.example/token\"\nclient_id = \"id\"\nclient_secret = \"s\"\n"
    static let other = "[profile.other]\ntoken_url = \"https://idp.example/token\"\nclient_id = \"id2\"\nclient_secret = \"s\"\n"

    @Test func aClientGetsItsTokenOverTheSocketAndStopRemovesIt() async throws {
        let app = try await AppHarness.start(profiles: Self.demo)
        let client = try app.client()
        let answer = try #require(client.request("GET demo"))
        let expiresIn = answer.split(separator: " ").last.flatMap { Int($0) } ?? 0
        #expect(answer.hasPrefix("OK scripted-") && (3500...3600).contains(expiresIn), "\(answer)")
        #expect(client.request("LIST") == "OK demo")
        #expect(client.request("GET nope")?.hasPrefix("ERR unknown-profile") == true)
        #expect(app.idp.requests == ["demo"])
        client.close()
        #expect(await app.stop() == 0)
        #expect(access(app.socket, F_OK) != 0, "the socket file is removed at the stop")
    }

    @Test func aReloadAddsAProfileKeepsTheOldOneAndRefusesABrokenFile() async throws {
        let app = try await AppHarness.start(profiles: Self.demo)
        let client = try app.client()
        let first = try #require(client.request("GET demo")?.split(separator: " ").dropFirst().first)
        #expect(await app.reload(profiles: Self.demo + Self.other) == .applied(added: ["other"], changed: [], removed: []))
        #expect(client.request("GET other")?.hasPrefix("OK scripted-") == true)
        // The unchanged profile keeps its token: no second request.
        #expect(client.request("GET demo")?.split(separator: " ").dropFirst().first == first)
        #expect(await app.reload(profiles: Self.demo + "[profile.broken]\ntoken_url = 42\n") == .refused(problems: 3))
        #expect(client.request("LIST") == "OK demo other")
        #expect(await app.reload(profiles: Self.other) == .applied(added: [], changed: [], removed: ["demo"]))
        #expect(client.request("GET demo")?.hasPrefix("ERR unknown-profile") == true)
        #expect(app.idp.requests.sorted() == ["demo", "other"])
        client.close()
        #expect(await app.stop() == 0)
    }

    @Test func aFailingIdPIsAnsweredUnavailableAndTheNextAttemptServes() async throws {
        let idp = ScriptedIdP(clock: SystemClock())
        idp.enqueue(.failure(FetchFailure("the IdP refused the client", kind: .oauthError, code: "invalid_client")), for: "demo")
        let app = try await AppHarness.start(profiles: Self.demo + "retry_min = \"1s\"\nretry_max = \"1s\"\ntimeout = \"2s\"\n", idp: idp)
        let client = try app.client()
        // The first attempt failed; the client waits for the retry, which serves.
        let answer = try #require(client.request("GET demo", timeout: 10))
        #expect(answer.hasPrefix("OK scripted-"), "\(answer)")
        let status = client.request("STATUS demo") ?? ""
        #expect(status.contains(#""failures":1"#), "\(status)")
        client.close()
        #expect(await app.stop() == 0)
    }

    @Test func everyVerbAndErrorCode() async throws {
        let idp = ScriptedIdP(clock: SystemClock())
        idp.enqueue(.failure(FetchFailure("invalid_client: Client authentication failed", kind: .oauthError, code: "invalid_client")),
                    for: "broken")
        let app = try await AppHarness.start(profiles: "max_connections = 3\n" + Self.demo
            + "[profile.broken]\ntoken_url = \"https://idp.example/token\"\nclient_id = \"b\"\nclient_secret = \"wrong\"\ntimeout = \"1s\"\nretry_min = \"5s\"\n",
                                             idp: idp)
        let client = try app.client()
        do {
            // max_connections (3) + 1 gets ERR busy and is closed.
            let a = try app.client(), b = try app.client()
            #expect(client.request("PING") == "OK PONG" && a.request("PING") == "OK PONG" && b.request("PING") == "OK PONG")
            let d = try app.client()
            #expect(d.readLine()?.hasPrefix("ERR busy") == true)
            #expect(d.isClosed())
        }
        let get = try #require(client.request("GET demo"))
        let parts = get.split(separator: " ")
        #expect(parts.count == 3 && parts[0] == "OK" && Int(parts[2])! > 3500)
        #expect(client.request("header demo") == "OK Authorization: Bearer \(parts[1])")
        #expect(client.request("VERSION")?.hasPrefix("OK tokend ") == true)
        #expect(client.request("LIST") == "OK broken demo")
        #expect(client.request("GET nope")?.hasPrefix("ERR unknown-profile") == true)
        #expect(client.request("FROB")?.hasPrefix("ERR bad-request") == true)
        let broken = try #require(client.request("GET broken"))
        #expect(broken.hasPrefix("ERR unavailable ") && broken.contains("invalid_client: Client authentication failed"), "\(broken)")
        let status = try #require(client.request("STATUS demo"))
        #expect(status.hasPrefix("OK {\"version\":") && status.contains("\"state\":\"fresh\""))
        // REFRESH right after a fetch reuses the young token.
        #expect(client.request("REFRESH demo")?.hasPrefix("OK \(parts[1]) ") == true)
        // Pipelining: 100 requests in one write, answered in order; CR LF tolerated.
        client.send(String(repeating: "PING\r\nGET demo\n", count: 50))
        for i in 0..<100 {
            let line = client.readLine()
            #expect(i % 2 == 0 ? line == "OK PONG" : line?.hasPrefix("OK \(parts[1]) ") == true)
        }
        // 4096 bytes are accepted (as a bad request), 4097 are refused and the connection closed.
        #expect(client.request("GET " + String(repeating: "a", count: 4092))?.hasPrefix("ERR bad-request") == true)
        #expect(client.request("GET " + String(repeating: "a", count: 4093)) == "ERR too-long request line longer than 4096 bytes")
        #expect(client.isClosed())
        let quitter = try app.client()
        #expect(quitter.request("QUIT") == "OK BYE")
        #expect(quitter.isClosed())
        #expect(await app.stop() == 0)
        #expect(access(app.socket, F_OK) != 0)
    }

    @Test func renewsAShortLivedTokenWithNoGap() async throws {
        let app = try await AppHarness.start(profiles: "[profile.short]\ntoken_url = \"https://idp.example/token\"\nclient_id = \"i\"\n"
            + "client_secret = \"s\"\nrenew_at = 0.5\njitter = 0.05\n", idp: ScriptedIdP(clock: SystemClock(), defaultStep: .token(lifetime: 3)))
        let client = try app.client()
        let started = SystemClock().now()
        var tokens = Set<String>()
        while SystemClock().now() - started < .milliseconds(6500) {
            let answer = try #require(client.request("GET short"))
            #expect(answer.hasPrefix("OK "), "gap in validity: \(answer)")
            tokens.insert(String(answer.split(separator: " ")[1]))
            _ = poll(nil, 0, 100)  // pace the client, not a synchronisation
        }
        #expect(app.idp.requests.count >= 4)  // first fetch + at least three renewals
        #expect(tokens.count >= 4)
        client.close()
        #expect(await app.stop() == 0)
    }
}
