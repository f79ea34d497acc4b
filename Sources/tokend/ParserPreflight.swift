import Glibc
import TokendCore

/// Runs the TOML parser on a configuration text in a child process first.
/// TOMLKit's C++ parser (toml++ 3) aborts on some malformed files, such as
/// `[(a."b c"]`, instead of reporting an error (found by fuzzing); in the
/// daemon that would turn a typo and a SIGHUP into a crash. The child is
/// `tokend --parse-stdin-only`, given the text on stdin, so the file is read
/// once and parsed twice from the same bytes.
enum ParserPreflight {
    static let flag = "--parse-stdin-only"

    /// True when the parser returned (with or without errors) in the child.
    static func parserSurvives(_ text: String) -> Bool {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return true }  // cannot check: parse as before
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = ["/proc/self/exe", flag].map { $0.withCString { strdup($0) } } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = ["SWIFT_BACKTRACE=enable=no"].map { $0.withCString { strdup($0) } } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, "/proc/self/exe", &actions, &attributes, argv, envp)
        close(fds[0])
        guard spawned == 0 else { close(fds[1]); return true }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
        close(fds[1])
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0, errno == EINTR {}
        return (status & 0x7f) == 0  // exited (any code), not killed by a signal
    }

    /// The child's side: parse stdin, exit 0 whatever the outcome.
    static func runChild() -> Never {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        _ = try? ConfigurationParser.parse(text: String(decoding: bytes, as: UTF8.self), file: "-")
        exit(0)
    }
}
