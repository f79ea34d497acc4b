import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP

/// A proxy that records the first line of every connection (`CONNECT host:443`
/// or `POST http://...`) and never answers, on 127.0.0.1.
final class RecordingProxy: @unchecked Sendable {  // `lines` under `lock`
    let fd: Int32
    let port: UInt16
    private let lock = NSLock()
    private var lines: [String] = []
    private let seen = DispatchSemaphore(value: 0)

    init() {
        let server = BlackHoleServer()
        fd = dup(server.fd)
        port = server.port
        let fd = self.fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                var line: [UInt8] = []
                var byte: UInt8 = 0
                while read(client, &byte, 1) == 1, byte != 10 { line.append(byte) }
                lock.withLock { lines.append(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) }
                seen.signal()
                // Never answer; the client's timeout ends the exchange.
            }
        }
    }

    var requestLines: [String] { lock.withLock { lines } }

    /// Waits until a connection's first line has been read.
    func awaitRequest(timeout: Double) -> Bool { seen.wait(timeout: .now() + timeout) == .success }

    var url: String { "http://127.0.0.1:\(port)" }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

/// The standard proxy variables are honoured, except for a
/// loopback `token_url`, whose credentials never travel to a proxy.
@Suite(.serialized) struct ProxyTests {
    @Test func aLoopbackTokenURLIsReachedDirectlyAndOthersThroughTheProxy() async throws {
        let idp = try await TestIdP.start()
        let proxy = RecordingProxy()
        var environment: [String: String] = [:]
        for name in ["http_proxy", "https_proxy", "all_proxy", "HTTPS_PROXY", "ALL_PROXY"] { environment[name] = proxy.url }
        environment["no_proxy"] = ""
        environment["NO_PROXY"] = ""
        let slow = "timeout = \"2s\"\nretry_min = \"60s\"\nretry_max = \"60s\"\n"
        let daemon = try DaemonProcess(config: profileConfig("local", url: idp.tokenURL, extra: slow)
            + profileConfig("remote", url: "https://idp.invalid/oauth/token", extra: slow), extraEnvironment: environment)
        #expect(daemon.waitReady())
        let client = try LineClient(path: daemon.socket)
        let local = try #require(client.request("GET local"))
        #expect(local.hasPrefix("OK "), "\(local)")
        #expect(idp.requests.count == 1)
        // The remote profile's prefetch went to the proxy: proxies are honoured.
        #expect(proxy.awaitRequest(timeout: 10))
        let remote = try #require(client.request("GET remote"))
        #expect(remote.hasPrefix("ERR unavailable"), "\(remote)")
        let lines = proxy.requestLines
        #expect(lines.contains { $0.hasPrefix("CONNECT idp.invalid:443") }, "\(lines)")
        #expect(!lines.contains { $0.contains("127.0.0.1") || $0.contains("localhost") }, "\(lines)")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
