import Glibc
import TokendProtocol
import TokenctlCommandLine

/// Runs one command of tokenctl (SPEC §7): one short exchange with tokend per
/// call, because scripts call it in loops. The command line was parsed and
/// checked before (CommandLineParser); what is left can only fail at the
/// daemon or on stdout.
enum Tokenctl {
    static func run(_ command: TokenctlCommand, connection: ConnectionOptions) throws(TokenctlFailure) {
        switch command {
        case .get(let profile, let minTTL, let json): try get(profile, minTTL: minTTL, json: json, connection)
        case .header(let profile, let minTTL): try header(profile, minTTL: minTTL, connection)
        case .refresh(let profile): try refresh(profile, connection)
        case .status(let profile, let json): try status(profile, json: json, connection)
        case .list: try list(connection)
        case .ping: try ping(connection)
        case .exec(let profile, let minTTL, let variable, let command):
            try exec(profile, minTTL: minTTL, variable: variable, command: command, connection)
        }
    }

    /// `exec PROFILE -- COMMAND`: the token in the environment of COMMAND,
    /// which replaces tokenctl (SPEC §11). Returns only by throwing: no token
    /// (the usual statuses, and COMMAND never runs) or an exec that failed
    /// (127 not found, 126 cannot run, as in a shell).
    private static func exec(
        _ profile: String, minTTL: Int?, variable: String, command: [String], _ connection: ConnectionOptions
    ) throws(TokenctlFailure) {
        let reply = try connection.exchange([Request.get(profile: profile, minTTL: minTTL).line])
        let token = try DaemonReply.token(reply.payload(0)).token
        guard setenv(variable, token, 1) == 0 else {
            throw TokenctlFailure(.failure, "cannot set \(variable): \(String(cString: strerror(errno)))")
        }
        // tokenctl ignores SIGPIPE for itself; the command gets the default,
        // or `COMMAND | head` would see EPIPE instead of ending quietly.
        signal(SIGPIPE, SIG_DFL)
        let argv = command.map { strdup($0) } + [nil]
        execvp(command[0], argv)
        let reason = errno
        argv.forEach { free($0) }
        signal(SIGPIPE, SIG_IGN)
        let status: ExitStatus = reason == ENOENT ? .notFound : .cannotExecute
        throw TokenctlFailure(status, "cannot run \(command[0]): \(String(cString: strerror(reason)))")
    }

    /// Prints `text` and a LF in one write; a stdout that is gone is a failure.
    static func emit(_ text: String) throws(TokenctlFailure) {
        if let reason = StandardStreams.out(text + "\n") {
            throw TokenctlFailure(.failure, "cannot write to stdout: \(reason)")
        }
    }

    /// `get PROFILE`: the token alone, for `$(tokenctl get api)`.
    private static func get(
        _ profile: String, minTTL: Int?, json: Bool, _ connection: ConnectionOptions
    ) throws(TokenctlFailure) {
        let get = Request.get(profile: profile, minTTL: minTTL).line
        guard json else {
            let reply = try connection.exchange([get])
            try emit(try DaemonReply.token(reply.payload(0)).token)
            return
        }
        // GET alone lacks the token type and HEADER alone lacks the expiry:
        // ask both on one connection. If a renewal slipped between them the
        // tokens differ; GET's token and expiry belong together, and the
        // type of a profile does not change with a renewal.
        let reply = try connection.exchange([get, Request.header(profile: profile, minTTL: minTTL).line])
        let token = try DaemonReply.token(reply.payload(0))
        let header = try DaemonReply.authorization(reply.payload(1))
        let object = JSONValue.object([
            ("access_token", .string(token.token)),
            ("token_type", .string(header.type)),
            ("expires_in", .int(token.expiresIn)),
        ])
        try emit(JSONWriter.write(object))
    }

    /// `header PROFILE`: a ready header line, for `curl -H @-`.
    private static func header(_ profile: String, minTTL: Int?, _ connection: ConnectionOptions) throws(TokenctlFailure) {
        let reply = try connection.exchange([Request.header(profile: profile, minTTL: minTTL).line])
        let payload = try reply.payload(0)
        _ = try DaemonReply.authorization(payload)  // refuse to print anything but a header
        try emit(payload)
    }

    /// `refresh PROFILE`: the answer to a 401 from the API.
    private static func refresh(_ profile: String, _ connection: ConnectionOptions) throws(TokenctlFailure) {
        let reply = try connection.exchange([Request.refresh(profile: profile).line])
        try emit(try DaemonReply.token(reply.payload(0)).token)
    }

    /// `status [PROFILE]`: a table for people, the daemon's JSON for scripts.
    private static func status(_ profile: String?, json: Bool, _ connection: ConnectionOptions) throws(TokenctlFailure) {
        let reply = try connection.exchange([Request.status(profile: profile).line])
        let payload = try reply.payload(0)
        // Parse even for --json: a script must not get a zero status with
        // something that is not the documented JSON.
        guard let document = StatusDocument.parse(payload) else {
            throw TokenctlFailure.malformed("OK \(payload)")
        }
        if json { try emit(payload) } else { try emit(String(StatusTable.render(document).dropLast())) }
    }

    /// `list`: the readable profiles, one a line, for `for p in $(tokenctl list)`.
    private static func list(_ connection: ConnectionOptions) throws(TokenctlFailure) {
        let reply = try connection.exchange([Request.list.line])
        let payload = try reply.payload(0)
        let names = payload.split(whereSeparator: { $0 == " " || $0 == "\t" })
        // Names go to shells (completions, loops): only valid profile names.
        guard names.allSatisfy({ ProfileName.isValid(String($0)) }) else { throw TokenctlFailure.malformed("OK \(payload)") }
        if !names.isEmpty { try emit(names.joined(separator: "\n")) }
    }

    /// `ping`: whether the daemon is up and answering.
    private static func ping(_ connection: ConnectionOptions) throws(TokenctlFailure) {
        let reply = try connection.exchange([Request.ping.line])
        let payload = try reply.payload(0)
        guard payload == "PONG" else { throw TokenctlFailure.malformed("OK \(payload)") }
        try emit(payload)
    }
}
