/// The body of every libFuzzer target, by the name of its corpus
/// (`fuzz/corpus/NAME`): driven by libFuzzer in the nested `Fuzz/` package
/// (`make fuzz`), and replayed on every committed input by the test suite.
/// A body returns 0, and traps on a broken invariant.
public let fuzzTargets: [(name: String, body: @Sendable (UnsafePointer<UInt8>?, Int) -> CInt)] = [
    ("cache-entry", fuzzCacheEntry),
    ("configuration", fuzzConfiguration),
    ("etcd-response", fuzzEtcdResponse),
    ("idp-limits", fuzzIdPLimits),
    ("presented-token", fuzzPresentedToken),
    ("private-key", fuzzPrivateKey),
    ("request-line", fuzzRequestLine),
    ("token-response", fuzzTokenResponse),
]
