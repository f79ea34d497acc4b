import CProcessShim
import Glibc
import TestIdP
import TokendCore
import TokendPlatform

/// `tokend --dev` (SPEC §6): an embedded token endpoint on 127.0.0.1 and a
/// profile `demo` served on a socket in a fresh temporary directory.
final class DevMode: @unchecked Sendable {  // immutable after init (`let` fields only)
    let idp: TestIdP
    let directory: String
    let configuration: Configuration
    static let lifetime: Double = 60

    private init(idp: TestIdP, directory: String, configuration: Configuration) {
        self.idp = idp
        self.directory = directory
        self.configuration = configuration
    }

    static func start() async throws -> DevMode {
        var template = Array("/tmp/tokend-dev.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw StartupError("cannot create a temporary directory") }
        let directory = String(cString: made)
        let secret = randomSecret()
        var settings = TestIdP.Settings()
        settings.clients = [TestIdP.Client(id: "demo", secret: secret)]
        settings.lifetime = lifetime
        let idp = try await TestIdP.start(settings: settings)
        // No persistent cache: every run has a new embedded IdP and secret.
        var configuration = Configuration(socketPath: directory + "/tokend.sock", socketMode: 0o600, stateDirectory: nil)
        // Metrics on a free loopback port (0: the kernel picks; the banner shows it).
        configuration.metricsListen = .tcp(host: "127.0.0.1", port: 0)
        configuration.profiles = [ProfileConfiguration(
            name: "demo", tokenURL: idp.tokenURL, clientID: "demo", clientSecret: Secret(secret),
            audience: "https://api.example.test", timeout: .seconds(5 as Int64))]
        return DevMode(idp: idp, directory: directory, configuration: configuration)
    }

    /// The banner a newcomer reads: where the socket is and what to type.
    func printBanner(socket: String, metrics: String?) {
        let ctl = siblingTool("tokenctl")
        print("""

        tokend --dev is running.
          token endpoint: \(idp.tokenURL) (embedded, tokens live \(Int(DevMode.lifetime))s and are renewed at ~75%)
          socket:         \(socket)
          metrics:        \(metrics ?? "off")  (also /healthz and /readyz)

        Try, in another terminal:
          \(ctl) --socket \(socket) get demo
          \(ctl) --socket \(socket) status
          printf 'GET demo\\n' | nc -U -N \(socket)
          export TOKEND_SOCKET=\(socket); curl -H @<(\(ctl) header demo) https://api.example.test/

        Stop with Ctrl-C.

        """)
        fflush(nil)
    }

    /// Stops the endpoint and removes the temporary directory with what the
    /// daemon left in it (the socket's lock file, say): Ctrl-C leaves nothing.
    func stop() async {
        try? await idp.shutdown()
        if let stream = opendir(directory) {
            var names: [String] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(stream)
            for name in names { unlink(directory + "/" + name) }
        }
        rmdir(directory)
    }

    private static func randomSecret() -> String {
        var bytes = [UInt8](repeating: 0, count: 18)
        _ = bytes.withUnsafeMutableBytes { tokend_random_bytes($0.baseAddress, $0.count) }
        return Base64.encode(bytes)
    }

    private func siblingTool(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return name }
        let exe = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let candidate = String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)]) + "/" + name
        return access(candidate, X_OK) == 0 ? candidate : name
    }
}

struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
