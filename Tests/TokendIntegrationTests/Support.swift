import Foundation
import Glibc
import TokendTesting

/// Where `swift build` put tokend and tokenctl.
let productsDirectory = TestFiles.productsDirectory

func temporaryDirectory() -> String { TestFiles.temporaryDirectory() }

/// Runs a program to its end; returns (status, stdout, stderr).
func runTool(_ path: String, _ arguments: [String]) throws -> (Int32, String, String) {
    try ChildProcess.run(path, arguments)
}

/// Runs tokenctl; returns (status, stdout, stderr).
func tokenctl(_ arguments: [String], socket: String?) throws -> (Int32, String, String) {
    try runTool(productsDirectory + "/tokenctl", (socket.map { ["--socket", $0] } ?? []) + arguments)
}

func profileConfig(_ name: String, url: String, id: String = "demo", secret: String = "demo-secret", extra: String = "") -> String {
    "\n[profile.\(name)]\ntoken_url = \"\(url)\"\nclient_id = \"\(id)\"\nclient_secret = \"\(secret)\"\n\(extra)\n"
}

/// A TCP listener on 127.0.0.1 that never accepts: connections complete in
/// the kernel's backlog and no answer ever comes, like a wedged IdP.
final class BlackHoleServer {
    let fd: Int32
    let port: UInt16

    init() {
        // Listening, never accepting: connections complete in the backlog.
        let (fd, port) = LoopbackTCP.bind(listening: true)
        self.fd = fd
        self.port = UInt16(port)
    }

    var url: String { "http://127.0.0.1:\(port)/token" }

    deinit { close(fd) }
}

/// The repository's root, for the scripts in tests/support.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A server written by someone else's rules: a Python script from
/// tests/support that prints its port as its first line and serves until
/// killed.
final class PythonServer {
    let process: ChildProcess
    let port: Int

    init(script: String, _ arguments: [String]) throws {
        process = try ChildProcess("/usr/bin/env", ["python3", repositoryRoot + "/tests/support/" + script] + arguments,
                                   stdout: .capture, stderr: .capture)
        guard let line = process.stdout!.firstLine(timeout: 30), let port = Int(line) else {
            process.signal(SIGKILL)
            process.wait()
            throw ServerFailure(message: "\(script) did not start: \(process.stderr!.text(waitingForEOF: true))")
        }
        self.port = port
    }

    /// What the server wrote to stderr so far.
    var log: String { process.stderr!.text() }

    /// Its log as JSON objects, one a line, once at least `count` have been
    /// written (within 10 s).
    func records(atLeast count: Int = 1) -> [[String: Any]] {
        let deadline = Clocks.deadline(in: 10)
        var parsed: [[String: Any]] = []
        repeat {
            parsed = log.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
            if parsed.count >= count { break }
            _ = process.stderr!.await("\n", timeout: 0.05)
        } while Clocks.monotonic() < deadline
        return parsed
    }

    struct ServerFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

/// A throw-away PKI made by tests/support/make-test-pki.sh.
func makeTestPKI(caName: String = "tokend test CA") throws -> String {
    let pki = temporaryDirectory()
    let (status, _, errors) = try runTool("/bin/bash", [repositoryRoot + "/tests/support/make-test-pki.sh", pki, caName])
    guard status == 0 else { throw PythonServer.ServerFailure(message: "openssl could not make the test PKI: \(errors)") }
    return pki
}

/// Whether the tests run as root (some need to mount or change users).
var runningAsRoot: Bool { geteuid() == 0 }

/// tests/support/preload.c, compiled once: an LD_PRELOAD library that makes
/// tokend's environment hostile on purpose (see the file for its variables).
let preloadLibrary: String = {
    let output = temporaryDirectory() + "/preload.so"
    let (status, _, errors) = (try? runTool("/usr/bin/cc", ["-shared", "-fPIC", "-O1", "-o", output,
                                                          repositoryRoot + "/tests/support/preload.c", "-ldl"])) ?? (-1, "", "cc did not run")
    precondition(status == 0, "cannot build tests/support/preload.c: \(errors)")
    return output
}()

/// A temporary directory that other users may enter: for a daemon whose
/// socket a client of another user (nobody) must reach (with `socket_mode = "0666"`).
func sharedTemporaryDirectory() -> String {
    let dir = temporaryDirectory()
    chmod(dir, 0o755)
    return dir
}

/// The environment that loads tests/support/preload.c into tokend, with
/// `variables` to switch its behaviours on. Under AddressSanitizer the
/// runtime must be told that it is not first in the library list.
func preloadEnvironment(_ variables: [String: String]) -> [String: String] {
    var environment = variables
    environment["LD_PRELOAD"] = preloadLibrary
    if ProcessInfo.processInfo.environment["TOKEND_SANITIZER"] == "address" {
        environment["ASAN_OPTIONS"] = (ProcessInfo.processInfo.environment["ASAN_OPTIONS"] ?? "") + " verify_asan_link_order=0"
    }
    return environment
}

/// Runs a program as nobody (uid and gid 65534, no supplementary group); needs root.
func runAsNobody(_ path: String, _ arguments: [String]) throws -> (Int32, String, String) {
    try runTool("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", path] + arguments)
}
