import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP

/// The listening socket in a directory others may touch.
@Suite(.serialized) struct SocketSafetyTests {
    func mode(_ path: String) -> (mode: UInt32, gid: UInt32)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt32(st.st_mode) & 0o7777, st.st_gid)
    }

    /// A symlink planted at the socket path right after bind() is never
    /// followed: the file it points to keeps its mode and group.
    @Test func aSymlinkSwappedInIsNeverFollowed() throws {
        let dir = temporaryDirectory()
        let victim = dir + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        chmod(victim, 0o600)
        let before = try #require(mode(victim))
        let daemon = try DaemonProcess(config: "socket_mode = \"0666\"\nsocket_group = 65534\n"
            + profileConfig("demo", url: "http://127.0.0.1:9/token"), extraEnvironment: preloadEnvironment(["TOKEND_TEST_SWAP_SOCKET_TO": victim]),
            directory: dir)
        #expect(daemon.waitForExit(timeout: 10), "tokend started on a socket path that was swapped for a symlink")
        if daemon.isRunning { daemon.stop() }
        #expect(daemon.wait() != 0)
        let after = try #require(mode(victim))
        #expect(after.mode == before.mode && after.gid == before.gid, "the victim became \(String(after.mode, radix: 8)) gid \(after.gid)")
        #expect(daemon.log.contains("no longer the socket"), "\(daemon.log)")
    }

    /// A second daemon that cannot connect to the first one's socket
    /// (EACCES, another user) must not take the path over.
    @Test(.enabled(if: runningAsRoot, "running a second daemon as another user needs root"))
    func aSocketThatCannotBeProbedIsLeftAlone() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        chmod(dir, 0o777)
        let first = try DaemonProcess(config: "socket_mode = \"0600\"\n" + profileConfig("demo", url: idp.tokenURL), directory: dir)
        #expect(first.waitReady())
        let secondConfig = dir + "/second.toml"
        try ("socket = \"\(first.socket)\"\nstate_dir = \"\"\n" + profileConfig("demo", url: idp.tokenURL)).write(toFile: secondConfig, atomically: true, encoding: .utf8)
        chmod(secondConfig, 0o644)
        let (status, _, errors) = try runTool("/usr/bin/timeout", ["--signal=KILL", "10", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                                   productsDirectory + "/tokend", "--config", secondConfig])
        #expect(status != 0 && status != 137, "\(status): \(errors)")
        #expect(try LineClient(path: first.socket).request("PING") == "OK PONG", "the first daemon lost its socket")
        #expect(first.stop() == 0)
        try await idp.shutdown()
    }

    /// A live listener whose backlog is full is "already running", found
    /// without blocking.
    @Test func aFullBacklogIsAnswerNotAHang() throws {
        let dir = temporaryDirectory()
        let path = dir + "/tokend.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        #expect(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } } == 0)
        #expect(listen(listener, 0) == 0)
        defer { close(listener) }
        var filled: [Int32] = []
        defer { filled.forEach { close($0) } }
        for _ in 0..<64 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            filled.append(fd)
            let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
            if r != 0 && errno == EAGAIN { break }
        }
        let config = dir + "/tokend.toml"
        try ("socket = \"\(path)\"\nstate_dir = \"\"\n" + profileConfig("demo", url: "http://127.0.0.1:9/token")).write(toFile: config, atomically: true, encoding: .utf8)
        let (status, _, errors) = try runTool("/usr/bin/timeout", ["--signal=KILL", "10", productsDirectory + "/tokend", "--config", config])
        #expect(status == 1 && errors.contains("already running"), "\(status): \(errors)")
        #expect(mode(path) != nil, "the live socket was removed")
    }

    /// Two daemons started together on one path: exactly one serves, and
    /// the socket file is the one it listens on.
    @Test func twoDaemonsStartingTogetherAgree() async throws {
        let idp = try await TestIdP.start()
        for _ in 0..<8 {
            let dir = temporaryDirectory()
            let config = profileConfig("demo", url: idp.tokenURL)
            let a = try DaemonProcess(config: config, directory: dir)
            let b = try DaemonProcess(config: config, directory: dir)
            // The loser exits at once; wait for either to have exited.
            let deadline = Date().addingTimeInterval(15)
            while !a.waitForExit(timeout: 0.01) && !b.waitForExit(timeout: 0.01) && Date() < deadline {}
            let survivors = [a, b].filter { $0.isRunning }
            #expect(survivors.count == 1)
            let loser = a.isRunning ? b : a
            #expect(loser.log.contains("already running"), "\(loser.log)")
            if let winner = survivors.first {
                #expect(winner.waitReady())
                #expect(try LineClient(path: winner.socket).request("PING") == "OK PONG")
                #expect(winner.stop() == 0)
            }
        }
        try await idp.shutdown()
    }

    /// Under systemd's `UMask=0077`, a socket directory tokend creates must
    /// still be enterable by the clients.
    @Test func aCreatedDirectoryIsEnterableWhateverTheUmask() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let daemon = try DaemonProcess(config: profileConfig("demo", url: idp.tokenURL), directory: dir,
                                       wrapper: ["/bin/sh", "-c", "umask 077; exec \"$@\"", "sh"], socket: dir + "/run/tokend/tokend.sock")
        #expect(daemon.waitReady())
        #expect(mode(dir + "/run")?.mode == 0o755)
        #expect(mode(dir + "/run/tokend")?.mode == 0o755)
        #expect(mode(daemon.socket)?.mode == 0o660)
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
