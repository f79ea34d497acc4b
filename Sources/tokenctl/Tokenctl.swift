import ArgumentParser
import TokendProtocol

/// The command line of tokenctl (SPEC §7): one short exchange with tokend per
/// call, because scripts call it in loops.
struct Tokenctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenctl",
        abstract: "Ask tokend for OAuth access tokens.",
        discussion: """
            Exit status: 0 success; 1 another error from the daemon; 64 usage error; \
            69 the daemon cannot be reached; 75 no token available now (try again later); \
            77 access denied.
            """,
        subcommands: [Get.self, Header.self, Refresh.self, Status.self, List.self, Ping.self]
    )

    @OptionGroup var connection: ConnectionOptions

    /// Reached only without a command: a usage error, not help on stdout with
    /// status 0, so that a script with a missing argument fails visibly.
    func run() throws {
        throw TokenctlFailure.usage("missing command (get, header, refresh, status, list, ping); see 'tokenctl --help'")
    }

    /// Prints `text` and a LF in one write; a stdout that is gone is a failure.
    static func emit(_ text: String) throws(TokenctlFailure) {
        if let reason = StandardStreams.out(text + "\n") {
            throw TokenctlFailure(.failure, "cannot write to stdout: \(reason)")
        }
    }
}

extension Tokenctl {
    /// `get PROFILE`: the token alone, for `$(tokenctl get api)`.
    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the access token of a profile.",
            discussion: "--json prints {\"access_token\",\"token_type\",\"expires_in\"} on one line.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The profile.") var profile: String
        @Option(name: .customLong("min-ttl"), help: ArgumentHelp(
            "Renew first if the token has fewer seconds left.", valueName: "seconds"))
        var minTTL: Int?
        @Flag(help: "Print a JSON object with the token, its type and seconds left.") var json = false

        func validate() throws {
            try ArgumentChecks.profile(profile)
            try ArgumentChecks.minTTL(minTTL)
        }

        func run() throws {
            let get = ArgumentChecks.request("GET", profile, minTTL: minTTL)
            guard json else {
                let reply = try connection.exchange([get])
                try Tokenctl.emit(try DaemonReply.token(reply.payload(0)).token)
                return
            }
            // GET alone lacks the token type and HEADER alone lacks the expiry:
            // ask both on one connection. If a renewal slipped between them the
            // tokens differ; GET's token and expiry belong together, and the
            // type of a profile does not change with a renewal.
            let reply = try connection.exchange([get, ArgumentChecks.request("HEADER", profile, minTTL: minTTL)])
            let token = try DaemonReply.token(reply.payload(0))
            let header = try DaemonReply.authorization(reply.payload(1))
            let object = JSONValue.object([
                ("access_token", .string(token.token)),
                ("token_type", .string(header.type)),
                ("expires_in", .int(token.expiresIn)),
            ])
            try Tokenctl.emit(JSONWriter.write(object))
        }
    }

    /// `header PROFILE`: a ready header line, for `curl -H @-`.
    struct Header: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print 'Authorization: Bearer TOKEN' for a profile (for curl -H @-).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The profile.") var profile: String
        @Option(name: .customLong("min-ttl"), help: ArgumentHelp(
            "Renew first if the token has fewer seconds left.", valueName: "seconds"))
        var minTTL: Int?

        func validate() throws {
            try ArgumentChecks.profile(profile)
            try ArgumentChecks.minTTL(minTTL)
        }

        func run() throws {
            let reply = try connection.exchange([ArgumentChecks.request("HEADER", profile, minTTL: minTTL)])
            let payload = try reply.payload(0)
            _ = try DaemonReply.authorization(payload)  // refuse to print anything but a header
            try Tokenctl.emit(payload)
        }
    }

    /// `refresh PROFILE`: the answer to a 401 from the API.
    struct Refresh: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a new token for a profile now and print it.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The profile.") var profile: String

        func validate() throws { try ArgumentChecks.profile(profile) }

        func run() throws {
            let reply = try connection.exchange(["REFRESH \(profile)"])
            try Tokenctl.emit(try DaemonReply.token(reply.payload(0)).token)
        }
    }

    /// `status [PROFILE]`: a table for people, the daemon's JSON for scripts.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the state of the profiles (all those you may read, or one).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Only this profile.") var profile: String?
        @Flag(help: "Print the daemon's JSON as is.") var json = false

        func validate() throws {
            if let profile { try ArgumentChecks.profile(profile) }
        }

        func run() throws {
            let reply = try connection.exchange([profile.map { "STATUS \($0)" } ?? "STATUS"])
            let payload = try reply.payload(0)
            // Parse even for --json: a script must not get a zero status with
            // something that is not the documented JSON.
            guard let value = try? JSONParser.parse(payload), let table = StatusTable.render(value) else {
                throw TokenctlFailure.malformed("OK \(payload)")
            }
            if json { try Tokenctl.emit(payload) } else { try Tokenctl.emit(String(table.dropLast())) }
        }
    }

    /// `list`: the readable profiles, one a line, for `for p in $(tokenctl list)`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the profiles you may read.")

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            let reply = try connection.exchange(["LIST"])
            let names = try reply.payload(0).split(whereSeparator: { $0 == " " || $0 == "\t" })
            if !names.isEmpty { try Tokenctl.emit(names.joined(separator: "\n")) }
        }
    }

    /// `ping`: whether the daemon is up and answering.
    struct Ping: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that the daemon answers.")

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            let reply = try connection.exchange(["PING"])
            let payload = try reply.payload(0)
            guard payload == "PONG" else { throw TokenctlFailure.malformed("OK \(payload)") }
            try Tokenctl.emit(payload)
        }
    }
}
