import Foundation
import Testing
import TokendFuzzing
import TokendStress

/// The shortened chaos and abuse runs, in this process against a real
/// tokend, and the replay of every committed fuzz input. `make chaos` /
/// `make abuse` (tokend-bench, Benchmarks/) and `make fuzz` (Fuzz/) run the
/// long versions.
@Suite(.serialized) struct StressRunTests {
    /// 32 clients for 30 s against IdPs failing 30 % of requests: no token
    /// served at or after its expiry, no ERR while a valid token existed,
    /// IdP attempts within the back-off bounds, flat memory.
    @Test func chaos() async throws {
        // AddressSanitizer holds freed memory in quarantine (up to 256 MiB): no memory bound there.
        let growth: UInt64 = ProcessInfo.processInfo.environment["TOKEND_SANITIZER"] == nil ? 4 : 1024
        let report = RunReport()
        let ok = try await ChaosRun(tokend: productsDirectory + "/tokend", duration: 30, clients: 32,
                                    memoryGrowthLimit: growth * 1_048_576).run(report: report)
        #expect(ok, "\(report.text)")
        #expect(report.text.contains("| violations | 0 |"))
        #expect(report.text.contains("| ERR while a valid token existed | 0 |"))
    }

    /// 500 held connections, garbage, invalid UTF-8, 1 MiB lines, half-closes,
    /// vanishing and non-reading clients: a fresh client is served within 1 s
    /// throughout, and descriptors come back to their idle level.
    @Test func abuse() async throws {
        // The suite runs a debug build, several times slower than release
        // (`make abuse` holds the release build to 1 s): 2 s here, and 10 s
        // under a sanitizer, whose quarantine also keeps freed memory
        // resident. Nothing else is relaxed.
        let sanitized = ProcessInfo.processInfo.environment["TOKEND_SANITIZER"] != nil
        let report = RunReport()
        let ok = try await AbuseRun(tokend: productsDirectory + "/tokend", duration: 8, probeLimit: sanitized ? 10 : 2,
                                    memoryLimit: (sanitized ? 1024 : 16) * 1_048_576).run(report: report)
        #expect(ok, "\(report.text)")
        #expect(report.text.contains("| problems | 0 |"))
    }

    /// Every committed fuzz input (seeds and past crashes) still passes, and
    /// every fuzz target has a corpus.
    @Test func fuzzCorpusReplays() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fuzz/corpus").path
        let corpora = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        #expect(corpora == fuzzTargets.map(\.name).sorted())
        for (name, body) in fuzzTargets {
            let directory = root + "/" + name
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
            #expect(!files.isEmpty, "no corpus for fuzz-\(name)")
            // A body traps on a broken invariant, and takes the process with it: say which corpus ran.
            print("replaying fuzz/corpus/\(name): \(files.count) inputs")
            for file in files {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)))
                let status = bytes.withUnsafeBufferPointer { buffer in
                    body(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, buffer.count)
                }
                #expect(status == 0, "fuzz-\(name) on \(file)")
            }
        }
    }
}
