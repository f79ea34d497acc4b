import Atomics
import Logging
import NIOCore
import TokendCore
import TokendCrypto
import TokendHost
import TokendPlatform

/// What a store answered for a profile.
public enum StoreLoad: Sendable {
    case found(CacheEntry)
    case nothing
    /// An entry was there and is not used (corrupt, another key, a changed
    /// configuration...), or the store failed: one warning, no cache.
    case unusable(String)
}

/// Where the engine keeps tokens and back-off across restarts (SPEC §9).
/// The renewal machine never sees it: a runner records its state after each
/// request and asks for it at start. A store may be slow or fail: the
/// engine waits for a load only up to a deadline before it starts a profile
/// without, never waits for a save or a removal, and a failing store means
/// no cache (the store warns once). The file store is the first; a shared
/// store across hosts (a key-value service) can be added behind the same
/// three calls.
public protocol TokenStore: Sendable {
    /// What the store holds for `profile` whose configuration has `fingerprint`.
    func load(profile: String, fingerprint: String, on loop: any EventLoop) -> EventLoopFuture<StoreLoad>
    /// Remembers `entry` in place of what it held for the profile.
    func save(_ entry: CacheEntry, on loop: any EventLoop)
    /// Forgets the profile (removed, or `persist = false`).
    func remove(profile: String, on loop: any EventLoop)
}

/// The cache in files under `state_dir`: one entry per profile, replaced
/// atomically (temporary file, `fsync`, `rename`, `fsync` of the directory),
/// mode 0600 in a 0700 directory, sealed with AES-256-GCM when a cache key
/// is set. All I/O happens on the engine's `DiskQueue` thread.
public final class FileTokenStore: TokenStore {
    public let directory: String
    private let key: CacheKey?
    private let queue: DiskQueue
    private let logger: Logger
    private let warned = ManagedAtomic(false)

    public init(directory: String, key: CacheKey?, queue: DiskQueue, logger: Logger) {
        self.directory = directory
        self.key = key
        self.queue = queue
        self.logger = logger
    }

    public func load(profile: String, fingerprint: String, on loop: any EventLoop) -> EventLoopFuture<StoreLoad> {
        let path = StateDirectory.entryPath(directory, profile: profile)
        let key = self.key
        return queue.value(on: loop) { () -> StoreLoad in
            let bytes: [UInt8]?
            do throws(HostError) { bytes = try StateDirectory.readEntry(path) } catch { return .unusable(error.message) }
            guard var bytes else { return .nothing }
            defer { for i in bytes.indices { bytes[i] = 0 } }
            do {
                return .found(try CacheEntry.open(bytes, profile: profile, fingerprint: fingerprint, key: key?.bytes))
            } catch {
                return .unusable("\(path): \(error)")
            }
        }.recover { .unusable("the cache thread is stopped: \($0)") }
    }

    public func save(_ entry: CacheEntry, on loop: any EventLoop) {
        let path = StateDirectory.entryPath(directory, profile: entry.profile)
        let key = self.key
        // A fresh nonce for every write, from the kernel's CSPRNG (getrandom).
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<AESGCM.nonceLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let finished = queue.run(on: loop) { () throws(HostError) in
            var bytes: [UInt8]
            do { bytes = try entry.sealed(key: key?.bytes, nonce: nonce) } catch { throw HostError("cannot seal the entry: \(error)") }
            defer { for i in bytes.indices { bytes[i] = 0 } }
            try TokenFileWriter.replace(path, with: bytes, mode: 0o600)
        }
        report(finished, "cannot save the cache entry")
    }

    public func remove(profile: String, on loop: any EventLoop) {
        let path = StateDirectory.entryPath(directory, profile: profile)
        report(queue.run(on: loop) { () throws(HostError) in try TokenFileWriter.remove(path) }, "cannot remove the cache entry")
    }

    /// One warning for the first failure; later ones at debug level.
    private func report(_ outcome: EventLoopFuture<HostError?>, _ what: String) {
        let logger = self.logger
        let warned = self.warned
        outcome.whenComplete { result in
            let message: String?
            switch result {
            case .success(let error): message = error?.message
            case .failure(let error): message = "\(error)"
            }
            guard let message else { return }
            if warned.exchange(true, ordering: .relaxed) {
                logger.debug("\(what)", metadata: ["error": .string(message)])
            } else {
                logger.warning("\(what); the token cache may not survive a restart", metadata: ["error": .string(message)])
            }
        }
    }
}
