import Foundation
import TokendTesting
import TestIdP
import Testing

/// Checks the test IdP itself against the system curl, so a failing
/// integration test can be trusted to be about tokend, not about its fake server.
@Suite struct TestIdPSmokeTests {
    struct CurlResult {
        var status: Int
        var headers: [String: String]  // lower-cased names
        var body: String
    }

    /// Runs `/usr/bin/curl -sS ARGS` and returns its standard output.
    func run(_ arguments: [String]) throws -> String {
        try ChildProcess.run("/usr/bin/curl", ["-sS"] + arguments).1
    }

    /// Runs curl with `-i` and splits its answer.
    func curl(_ arguments: [String]) throws -> CurlResult {
        let text = try run(["-i"] + arguments)
        let (head, body) = text.range(of: "\r\n\r\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) } ?? (text, "")
        let lines = head.components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return CurlResult(status: status, headers: headers, body: body)
    }

    @Test func answersLikeATokenEndpoint() async throws {
        let idp = try await TestIdP.start()
        let url = idp.tokenURL
        async let fourArrived = idp.waitForRequests(4, timeout: 10)

        let basic = try curl(["-u", "demo:demo-secret", "-d", "grant_type=client_credentials", url])
        #expect(basic.status == 200)
        #expect(basic.headers["content-type"] == "application/json")
        #expect(basic.headers["cache-control"] == "no-store")
        #expect(basic.body.contains(#""token_type":"Bearer","expires_in":3600"#))

        let post = try curl(["-d", "grant_type=client_credentials&client_id=demo&client_secret=demo-secret&scope=read", url])
        #expect(post.status == 200)
        #expect(post.body.contains(#""scope":"read""#))

        let wrong = try curl(["-u", "demo:nope", "-d", "grant_type=client_credentials", url])
        #expect(wrong.status == 401)
        #expect(wrong.headers["www-authenticate"] == #"Basic realm="test-idp""#)
        #expect(wrong.body == #"{"error":"invalid_client","error_description":"Client authentication failed"}"#)

        idp.enqueue(.retryAfter(status: 503, value: "2"))
        let unavailable = try curl(["-u", "demo:demo-secret", "-d", "grant_type=client_credentials", url])
        #expect(unavailable.status == 503)
        #expect(unavailable.headers["retry-after"] == "2")

        #expect(await fourArrived)
        #expect(await idp.waitForRequests(5, timeout: 0.2) == false)
        #expect(idp.requests.count == 4)
        #expect(idp.requests[0].header("authorization")?.hasPrefix("Basic ") == true)
        #expect(idp.requests[1].form["client_id"] == "demo")
        #expect(idp.issued.count == 2)
        #expect(idp.issued.allSatisfy { $0.expiresAt - $0.issuedAt == 3_600_000_000_000 })
        try await idp.shutdown()
    }

    @Test func keepsConnectionsAliveAndDelaysWithoutBlocking() async throws {
        let idp = try await TestIdP.start()
        let url = idp.tokenURL
        // Two requests in one curl run: the second must reuse the connection.
        let connects = try run(["-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}/%{num_connects} ",
                                "-u", "demo:demo-secret", "-d", "grant_type=client_credentials", url, url])
        #expect(connects == "200/1 200/0 ")
        idp.enqueue(.delay(seconds: 2))
        let slow = Task { try curl(["-u", "demo:demo-secret", "-d", "grant_type=client_credentials", url]) }
        #expect(await idp.waitForRequests(3, timeout: 5))
        let started = Date()
        let fast = try curl(["-u", "demo:demo-secret", "-d", "grant_type=client_credentials", url])
        #expect(fast.status == 200)
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(try await slow.value.status == 200)
        try await idp.shutdown()
    }
}
