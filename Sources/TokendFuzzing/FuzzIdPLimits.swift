import TokendCore

/// libFuzzer entry point: header lines `Name: value` (SPEC §10 limits),
/// through `IdPLimits.parse`; never a trap, never a negative number.
public func fuzzIdPLimits(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var headers: [(name: String, value: String)] = []
    for line in text.split(separator: "\n").prefix(32) {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { headers.append((String(parts[0]), String(parts[1]))) }
    }
    if let limits = IdPLimits.parse(headers) {
        for window in limits.windows { precondition(window.limit >= 0 && window.remaining >= 0, "a negative limit") }
        _ = limits.json
    }
    return 0
}
