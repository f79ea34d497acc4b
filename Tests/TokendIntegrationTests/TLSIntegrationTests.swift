import Foundation
import Glibc
import Testing

/// HTTPS to the IdP through libcurl: a private CA given by `ca_file`, mutual
/// TLS with `client_cert_file`/`client_key_file`, and the failures when either
/// is missing. The IdP is a small Python HTTPS server on a throw-away PKI.
@Suite(.serialized) struct TLSIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func privateCAAndMutualTLS() throws {
        let pki = temporaryDirectory()
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/bin/bash")
        make.arguments = [Self.repository + "/tests/support/make-test-pki.sh", pki]
        try make.run()
        make.waitUntilExit()
        try #require(make.terminationStatus == 0, "openssl could not make the test PKI")

        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = [Self.repository + "/tests/support/https-idp.py", pki + "/server.pem", pki + "/server.key", pki + "/ca.pem"]
        let out = Pipe()
        server.standardOutput = out
        try server.run()
        // SIGKILL: a child spawned from a test's worker thread inherits its
        // blocked signals, SIGTERM included (tokend itself waits for them with sigwait).
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let port = try #require(readLine(from: out.fileHandleForReading.fileDescriptor, timeout: 10).flatMap { Int($0) })
        let url = "https://127.0.0.1:\(port)/token"
        let fast = "timeout = \"3s\"\nretry_min = \"60s\"\nretry_max = \"60s\"\n"
        let daemon = try DaemonProcess(config:
            profileConfig("mtls", url: url, extra: fast + "ca_file = \"\(pki)/ca.pem\"\nclient_cert_file = \"\(pki)/client.pem\"\nclient_key_file = \"\(pki)/client.key\"")
            + profileConfig("untrusted", url: url, extra: fast)
            + profileConfig("nocert", url: url, extra: fast + "ca_file = \"\(pki)/ca.pem\""))
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        #expect(client.request("GET mtls")?.hasPrefix("OK tls-token-123 ") == true)
        let untrusted = try #require(client.request("GET untrusted"))
        #expect(untrusted.hasPrefix("ERR unavailable ") && untrusted.lowercased().contains("certificate"), "\(untrusted)")
        let nocert = try #require(client.request("GET nocert"))
        #expect(nocert.hasPrefix("ERR unavailable "), "\(nocert)")
        #expect(daemon.stop() == 0)
    }

    /// The first line a process writes, without its LF.
    func readLine(from fd: Int32, timeout: Double) -> String? {
        var line: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(deadline.timeIntervalSinceNow * 1000)) > 0 else { return nil }
            var byte: UInt8 = 0
            guard read(fd, &byte, 1) == 1 else { return nil }
            if byte == 10 { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }
}
