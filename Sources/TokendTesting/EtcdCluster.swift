import Glibc
import TokendCore
import TokendPlatform

/// A cluster of real etcd members (Debian's `etcd-server`) on loopback
/// ports, for the fleet store's tests and the chaos run (SPEC §14): short
/// election timeouts, each member killable and restartable on its data.
/// Calls to its gateway go through the `curl` tool, an implementation
/// independent of tokend's.
public final class EtcdCluster: @unchecked Sendable {  // one thread drives it
    public struct Member {
        public let name: String
        public let clientPort: Int
        public let peerPort: Int
        public let scheme: String
        public var endpoint: String { "\(scheme)://127.0.0.1:\(clientPort)" }
    }

    /// Serving clients over TLS, requiring a client certificate signed by `ca`.
    public struct TLS {
        public var certificate: String
        public var key: String
        public var ca: String
        /// The client certificate and key the fixture's own calls present.
        public var clientCertificate: String
        public var clientKey: String

        public init(certificate: String, key: String, ca: String, clientCertificate: String, clientKey: String) {
            self.certificate = certificate
            self.key = key
            self.ca = ca
            self.clientCertificate = clientCertificate
            self.clientKey = clientKey
        }
    }

    public static let binary = "/usr/bin/etcd"
    public let directory: String
    public let members: [Member]
    public let tls: TLS?
    private var processes: [ChildProcess?]

    public var endpoints: [String] { members.map(\.endpoint) }

    /// Starts `size` members and waits until the cluster accepts a write.
    /// Further etcd options of every member (e.g. `--auth-token-ttl`).
    public let extraArguments: [String]

    public init(size: Int = 3, tls: TLS? = nil, extraArguments: [String] = [],
                directory: String = TestFiles.temporaryDirectory(prefix: "tokend-etcd")) throws {
        self.directory = directory
        self.tls = tls
        self.extraArguments = extraArguments
        var members: [Member] = []
        for index in 0..<size {
            members.append(Member(name: "m\(index)", clientPort: LoopbackTCP.freePort(), peerPort: LoopbackTCP.freePort(),
                                  scheme: tls == nil ? "http" : "https"))
        }
        self.members = members
        processes = Array(repeating: nil, count: size)
        for index in 0..<size { try start(index) }
        guard waitWritable(timeout: 30) else { throw HarnessFailure("the etcd cluster did not become writable: \(logs())") }
    }

    deinit {
        for process in processes.compactMap({ $0 }) where process.isRunning {
            process.signal(SIGKILL)
            _ = process.wait()
        }
    }

    /// Starts (or restarts, on its data) member `index`.
    public func start(_ index: Int) throws {
        if let running = processes[index], running.isRunning { return }
        let member = members[index]
        let cluster = members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
        let arguments = [
            "--name", member.name, "--data-dir", "\(directory)/\(member.name)",
            "--listen-client-urls", member.endpoint, "--advertise-client-urls", member.endpoint,
            "--listen-peer-urls", "http://127.0.0.1:\(member.peerPort)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(member.peerPort)",
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "tokend-test",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn",
        ] + (tls.map { ["--cert-file", $0.certificate, "--key-file", $0.key, "--trusted-ca-file", $0.ca, "--client-cert-auth"] } ?? [])
            + extraArguments
        processes[index] = try ChildProcess(Self.binary, arguments, environment: ["ETCD_UNSUPPORTED_ARCH": ""],
                                            stderr: .file("\(directory)/\(member.name).log"))
    }

    /// SIGKILL to member `index`, and waits for its exit.
    public func kill(_ index: Int) {
        guard let process = processes[index] else { return }
        process.signal(SIGKILL)
        _ = process.wait()
        processes[index] = nil
    }

    public func stopAll() {
        for index in members.indices {
            guard let process = processes[index] else { continue }
            process.signal(SIGTERM)
            _ = process.wait()
            processes[index] = nil
        }
    }

    public func startAll() throws {
        for index in members.indices { try start(index) }
    }

    /// The index of the member that leads now, as the members report it.
    public func leader() -> Int? {
        for (index, member) in members.enumerated() where processes[index] != nil {
            guard let status = post(member.endpoint, "/v3/maintenance/status", "{}"),
                  let leader = Self.field(status, "leader") else { continue }
            for (other, candidate) in members.enumerated() where processes[other] != nil {
                if let own = post(candidate.endpoint, "/v3/maintenance/status", "{}").flatMap({ Self.field($0, "member_id") }), own == leader {
                    return other
                }
            }
        }
        return nil
    }

    /// Waits until a write through some member's gateway succeeds.
    public func waitWritable(timeout: Double) -> Bool {
        let deadline = Clocks.monotonic() + UInt64(timeout * 1e9)
        while Clocks.monotonic() < deadline {
            for member in members where post(member.endpoint, "/v3/kv/put", "{\"key\":\"X19wcm9iZV9f\",\"value\":\"MQ==\"}")?.contains("revision") == true {
                return true
            }
            usleep(100_000)
        }
        return false
    }

    /// Every key and value under `prefix`, read back through the gateway by curl.
    public func dump(prefix: String) -> [(key: String, value: [UInt8])] {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        for member in members {
            guard let answer = post(member.endpoint, "/v3/kv/range",
                                    "{\"key\":\"\(Base64.encode(Array(prefix.utf8)))\",\"range_end\":\"\(Base64.encode(end))\"}"),
                  let keys = try? EtcdMessages.rangeAnswer(Array(answer.utf8)) else { continue }
            return keys.map { (String(decoding: $0.key, as: UTF8.self), $0.value) }
        }
        return []
    }

    /// Puts `value` under `key` (no lease).
    @discardableResult
    public func put(_ key: String, _ value: [UInt8]) -> Bool {
        members.contains { post($0.endpoint, "/v3/kv/put", "{\"key\":\"\(Base64.encode(Array(key.utf8)))\",\"value\":\"\(Base64.encode(value))\"}")?.contains("revision") == true }
    }

    /// Runs etcdctl against the cluster (users, roles, `auth enable`); its status and output.
    @discardableResult
    public func etcdctl(_ arguments: [String]) -> (Int32, String) {
        let certificates = tls.map { ["--cacert", $0.ca, "--cert", $0.clientCertificate, "--key", $0.clientKey] } ?? []
        let result = try? ChildProcess.run("/usr/bin/etcdctl", ["--endpoints", endpoints.joined(separator: ",")] + certificates + arguments,
                                           environment: ["ETCDCTL_API": "3"])
        return (result?.0 ?? -1, (result?.1 ?? "") + (result?.2 ?? ""))
    }

    /// The members' logs, for a failure message.
    public func logs() -> String {
        members.map { member in
            let text = (try? ChildProcess.run("/usr/bin/tail", ["-n", "20", "\(directory)/\(member.name).log"]).1) ?? ""
            return "\(member.name): \(text)"
        }.joined(separator: "\n")
    }

    /// A POST through curl; nil when it fails.
    public func post(_ endpoint: String, _ path: String, _ body: String) -> String? {
        let certificates = tls.map { ["--cacert", $0.ca, "--cert", $0.clientCertificate, "--key", $0.clientKey] } ?? []
        guard let (status, out, _) = try? ChildProcess.run("/usr/bin/curl", ["-sS", "--max-time", "2"] + certificates + ["-X", "POST", endpoint + path, "-d", body]),
              status == 0 else { return nil }
        return out
    }

    static func field(_ json: String, _ name: String) -> String? {
        guard let range = json.firstRange(of: "\"\(name)\":\"") else { return nil }
        return String(json[range.upperBound...].prefix { $0 != "\"" })
    }
}
