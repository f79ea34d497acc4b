import Glibc
import Logging
import NIOConcurrencyHelpers
import TokendApp
import TokendCore
import TokendHost
import TokendPlatform
import TokendSystemd

/// The whole daemon in process, in the spirit of HummingbirdTesting: the
/// application that `tokend` runs (TokendApp), on a socket in a fresh
/// directory, with a `ScriptedIdP` behind the TokenFetcher seam instead of
/// libcurl. Tests connect real clients (`LineClient`) to its socket, send it
/// SIGHUP with a new configuration and SIGTERM, and wait for each outcome:
/// no process to start, no sleep. What only a process shows (signals from
/// the kernel, systemd, non-dumpable, the sandbox) stays with `DaemonProcess`.
public final class AppHarness: Sendable {
    /// What the application did, in order.
    enum Event: Sendable {
        case serving
        case reloaded(TokendApplication.ReloadOutcome)
        case stopped(Int32)
    }

    public let directory: String
    public let socket: String
    public let idp: ScriptedIdP
    private let signals: AsyncStream<Int32>.Continuation
    private let events: Mailbox<Event>
    /// What the next SIGHUP loads.
    private let next: NIOLockedValueBox<String>
    private let run: Task<Int32, Never>

    public struct StartFailure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts the application with `profiles` (TOML, `[profile.NAME]` tables;
    /// the socket and state directory are the harness's) and waits until it
    /// serves. Throws the configuration's errors, or a start that failed.
    public static func start(profiles: String, idp: ScriptedIdP = ScriptedIdP(clock: SystemClock()),
                             logger: Logger = Logger(label: "tokend-app", factory: { _ in SwiftLogNoOpLogHandler() })) async throws -> AppHarness {
        let directory = TestFiles.temporaryDirectory()
        let loaded = try load(profiles, directory: directory)
        let harness = AppHarness(directory: directory, configuration: loaded.configuration, profiles: profiles, idp: idp, logger: logger)
        switch await harness.events.receive() {
        case .serving: return harness
        case .stopped(let status): throw StartFailure(description: "the application did not start (status \(status))")
        case .reloaded: throw StartFailure(description: "a reload before the start")
        }
    }

    private init(directory: String, configuration: Configuration, profiles: String, idp: ScriptedIdP, logger: Logger) {
        self.directory = directory
        self.socket = configuration.socketPath
        self.idp = idp
        let events = Mailbox<Event>()
        self.events = events
        let next = NIOLockedValueBox(profiles)
        self.next = next
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        signals = continuation
        let parts = TokendApplication.Parts(
            fetchers: idp.factory, clock: SystemClock(), notifier: ServiceNotifier(environment: [:]),
            reload: { () async throws(ConfigurationErrors) -> LoadedConfiguration in
                try AppHarness.load(next.withLockedValue { $0 }, directory: directory)
            },
            socketActivation: false,
            onServing: { _, _ in events.post(.serving) },
            onReload: { events.post(.reloaded($0)) })
        run = Task {
            let status = await TokendApplication.run(configuration: configuration, parts: parts, signals: stream, logger: logger)
            events.post(.stopped(status))
            return status
        }
    }

    /// The harness's configuration file text: its socket and cache, then `profiles`.
    static func load(_ profiles: String, directory: String) throws(ConfigurationErrors) -> LoadedConfiguration {
        let text = "socket = \"\(directory)/tokend.sock\"\nstate_dir = \"\(directory)/state\"\n" + profiles
        return try ConfigurationLoader.load(text: text, path: directory + "/tokend.toml", host: SystemHost())
    }

    /// A client connected to the socket.
    public func client() throws -> LineClient { try LineClient(path: socket) }

    /// SIGHUP with `profiles` as the new file; returns what the reload did.
    public func reload(profiles: String) async -> TokendApplication.ReloadOutcome? {
        next.withLockedValue { $0 = profiles }
        signals.yield(SIGHUP)
        guard case .reloaded(let outcome) = await events.receive() else { return nil }
        return outcome
    }

    /// SIGTERM; returns the exit status once every stage is down.
    public func stop() async -> Int32 {
        signals.yield(SIGTERM)
        signals.finish()
        return await run.value
    }
}

/// A queue of values posted from any thread and received in order by one
/// task at a time.
final class Mailbox<Value: Sendable>: Sendable {
    private struct State {
        var values: [Value] = []
        var waiter: CheckedContinuation<Value, Never>?
    }
    private let state = NIOLockedValueBox(State())

    func post(_ value: Value) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Value, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.values.append(value)
            return nil
        }
        waiter?.resume(returning: value)
    }

    func receive() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state -> Value? in
                if !state.values.isEmpty { return state.values.removeFirst() }
                precondition(state.waiter == nil, "one receiver at a time")
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
