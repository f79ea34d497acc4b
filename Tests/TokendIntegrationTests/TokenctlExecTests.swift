import Foundation
import Glibc
import TestIdP
import Testing
import TokendTesting

/// `tokenctl exec` (SPEC §11): the token in a command's environment, the
/// command's exit status, and no command at all when there is no token.
@Suite(.serialized) struct TokenctlExecTests {
    func exec(_ socket: String, _ arguments: [String]) throws -> (Int32, String, String) {
        try tokenctl(["exec"] + arguments, socket: socket)
    }

    @Test func theCommandGetsTheTokenAndItsStatusIsTokenctls() async throws {
        let idp = try await TestIdP.start()
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL))
        #expect(daemon.waitReady())
        let first = try LineClient(path: daemon.socket).request("GET api")
        let token = try #require(first?.split(separator: " ").dropFirst().first.map(String.init))

        let (status, output, _) = try exec(daemon.socket, ["api", "--", "/bin/sh", "-c", #"printf %s "$ACCESS_TOKEN""#])
        #expect(status == 0 && output == token)
        // --env renames the variable; ACCESS_TOKEN is then not set.
        let (renamed, both, _) = try exec(daemon.socket, ["api", "--env", "API_TOKEN", "--", "/bin/sh", "-c", #"printf '%s %s' "$API_TOKEN" "${ACCESS_TOKEN-unset}""#])
        #expect(renamed == 0 && both == "\(token) unset")
        // The command's status is the status; tokenctl is gone (exec, not a child).
        let (seven, _, _) = try exec(daemon.socket, ["api", "--", "/bin/sh", "-c", "exit 7"])
        #expect(seven == 7)
        let (samePID, pids, _) = try exec(daemon.socket, ["api", "--", "/bin/sh", "-c", "echo $$ $PPID"])
        #expect(samePID == 0 && pids.split(separator: " ").count == 2)
        // SIGPIPE is the default again in the command.
        let (_, ignored, _) = try exec(daemon.socket, ["api", "--", "/bin/grep", "SigIgn", "/proc/self/status"])
        let mask = UInt64(ignored.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16)
        #expect(mask.map { $0 & (1 << (UInt64(SIGPIPE) - 1)) == 0 } == true, "SIGPIPE ignored in the command: \(ignored)")
        // --min-ttl: the command's token has at least that long left.
        let (fresh, minimum, _) = try exec(daemon.socket, ["api", "--min-ttl", "3500", "--", "/bin/sh", "-c", #"printf %s "$ACCESS_TOKEN""#])
        #expect(fresh == 0)
        let issued = try #require(idp.issued.first { $0.token == minimum })
        #expect(issued.expiresAt > Clocks.boot() + 3_500_000_000_000)
        // Not found and not executable, as a shell says.
        #expect(try exec(daemon.socket, ["api", "--", "/no/such/command"]).0 == 127)
        let notExecutable = temporaryDirectory() + "/data"
        try TestFiles.write(notExecutable, "#!/bin/sh\nexit 0\n", mode: 0o644)
        #expect(try exec(daemon.socket, ["api", "--", notExecutable]).0 == 126)
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }

    @Test func withoutATokenTheCommandNeverRuns() async throws {
        let dir = temporaryDirectory()
        let marker = dir + "/ran"
        let command = ["--", "/bin/sh", "-c", "touch \(marker)"]
        // No daemon: 69.
        let (down, _, errors) = try exec(dir + "/nobody.sock", ["api"] + command)
        #expect(down == 69, "\(errors)")
        // A profile whose IdP refuses the client: ERR, the usual status.
        let idp = try await TestIdP.start()
        let daemon = try DaemonProcess(config: profileConfig("api", url: idp.tokenURL, secret: "wrong", extra: "retry_min = \"30s\"\nretry_max = \"30s\""))
        #expect(daemon.waitReady())
        let (refused, _, _) = try exec(daemon.socket, ["api"] + command)
        #expect(refused != 0)
        let (unknown, _, _) = try exec(daemon.socket, ["nope"] + command)
        #expect(unknown == 1)
        #expect(access(marker, F_OK) != 0, "the command ran without a token")
        #expect(daemon.stop() == 0)
        try await idp.shutdown()
    }
}
