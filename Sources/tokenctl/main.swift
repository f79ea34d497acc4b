import ArgumentParser
import Glibc

// A daemon that closes its end while we write must give EPIPE, which
// DaemonConnection reports, not a silent death by SIGPIPE; the same holds for
// stdout piped into a reader that went away.
signal(SIGPIPE, SIG_IGN)

// Parsing and running are split (rather than Tokenctl.main()) so that every
// error, ArgumentParser's included, leaves as one `tokenctl: ` line on stderr
// with an exit status from SPEC §7.
do {
    var command = try Tokenctl.parseAsRoot()
    try command.run()
    exit(ExitStatus.success.rawValue)
} catch let failure as TokenctlFailure {
    StandardStreams.error(failure.message)
    exit(failure.status.rawValue)
} catch {
    let status = Tokenctl.exitCode(for: error)
    if status == .success {
        // --help, help SUBCOMMAND: the full text, on stdout.
        StandardStreams.out(Tokenctl.fullMessage(for: error) + "\n")
        exit(0)
    }
    // Usage errors are 64 (EX_USAGE) in ArgumentParser already.
    let message = TokenctlFailure(.usage, Tokenctl.message(for: error)).message
    StandardStreams.error(message)
    exit(status.rawValue)
}
