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
}
