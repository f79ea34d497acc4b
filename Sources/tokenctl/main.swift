import Glibc
import TokenctlCommandLine

// A daemon that closes its end while we write must give EPIPE, which
// DaemonConnection reports, not a silent death by SIGPIPE; the same holds for
// stdout piped into a reader that went away.
signal(SIGPIPE, SIG_IGN)

// Every error leaves as one `tokenctl: ` line on stderr with an exit status
// from SPEC §7. The command line is parsed by hand (CommandLineParser), not by
// ArgumentParser, whose reflection and Foundation cost more at start-up than
// the whole exchange with the daemon.
let parsed: ParsedCommandLine
do {
    parsed = try CommandLineParser.parse(Array(CommandLine.arguments.dropFirst())) { name in
        getenv(name).map { String(cString: $0) }
    }
} catch {
    StandardStreams.error(TokenctlFailure.usage(error.message).message)
    exit(ExitStatus.usage.rawValue)
}

switch parsed {
case .help(let command):
    StandardStreams.out(HelpText.text(for: command))
    exit(ExitStatus.success.rawValue)
case .completionScript(let shell):
    StandardStreams.out(CompletionScript.render(shell))
    exit(ExitStatus.success.rawValue)
case .run(let command, let connection):
    do {
        try Tokenctl.run(command, connection: connection)
        exit(ExitStatus.success.rawValue)
    } catch {
        StandardStreams.error(error.message)
        exit(error.status.rawValue)
    }
}
