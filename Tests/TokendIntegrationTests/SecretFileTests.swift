import Foundation
import Glibc
import TokendTesting
import Testing
import TestIdP

/// A secret file must be a regular file. A FIFO or a device
/// is a clear error, at `--check`, at start and on reload, never a hang; a
/// secret file readable by group or others is warned about.
@Suite(.serialized) struct SecretFileTests {
    func check(_ config: String, in dir: String) throws -> (Int32, String) {
        let path = dir + "/check.toml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        // `timeout` turns a hang into status 124 rather than a stuck suite.
        let (status, _, errors) = try runTool("/usr/bin/timeout", ["--signal=KILL", "10", productsDirectory + "/tokend", "--check", "--config", path])
        return (status, errors)
    }

    func profile(secretFile: String) -> String {
        "[profile.p]\ntoken_url = \"https://idp.example.com/t\"\nclient_id = \"id\"\nclient_secret_file = \"\(secretFile)\"\n"
    }

    @Test func aFIFOOrADeviceIsAnErrorNotAHang() throws {
        let dir = temporaryDirectory()
        let fifo = dir + "/secret.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let (fifoStatus, fifoErrors) = try check(profile(secretFile: fifo), in: dir)
        #expect(fifoStatus == 78 && fifoErrors.contains("client_secret_file") && fifoErrors.contains("FIFO"), "\(fifoStatus): \(fifoErrors)")
        let (deviceStatus, deviceErrors) = try check(profile(secretFile: "/dev/zero"), in: dir)
        #expect(deviceStatus == 78 && deviceErrors.contains("device"), "\(deviceStatus): \(deviceErrors)")
        let (dirStatus, dirErrors) = try check(profile(secretFile: dir), in: dir)
        #expect(dirStatus == 78 && dirErrors.contains("directory"), "\(dirStatus): \(dirErrors)")
    }

    @Test func aSecretFileReadableByOthersIsWarnedAbout() throws {
        let dir = temporaryDirectory()
        let secret = dir + "/secret"
        try "s3cret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o644)
        let (open, openErrors) = try check(profile(secretFile: secret), in: dir)
        #expect(open == 0 && openErrors.contains("warning:") && openErrors.contains("readable by group or others"), "\(openErrors)")
        #expect(!openErrors.contains("s3cret"))
        chmod(secret, 0o600)
        let (closed, closedErrors) = try check(profile(secretFile: secret), in: dir)
        #expect(closed == 0 && !closedErrors.contains("warning:"), "\(closedErrors)")
    }

    @Test func aReloadOntoAFIFOIsRefusedAndTheDaemonStillStops() async throws {
        let idp = try await TestIdP.start()
        let dir = temporaryDirectory()
        let secret = dir + "/secret", fifo = dir + "/secret.fifo"
        try "demo-secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        #expect(mkfifo(fifo, 0o600) == 0)
        func config(_ file: String) -> String {
            "\n[profile.demo]\ntoken_url = \"\(idp.tokenURL)\"\nclient_id = \"demo\"\nclient_secret_file = \"\(file)\"\n"
        }
        let daemon = try DaemonProcess(config: config(secret), directory: dir)
        #expect(daemon.waitReady())
        try ("socket = \"\(daemon.socket)\"\n" + config(fifo)).write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.notify.await("READY=1") != nil, "the reload never finished")
        #expect(try LineClient(path: daemon.socket).request("GET demo")?.hasPrefix("OK ") == true)
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("reload refused") && daemon.log.contains("FIFO"), "\(daemon.log)")
        try await idp.shutdown()
    }
}
