import TokendCore
import TokendPlatform
import TokendProtocol

/// The client secret of the fuzzed profile: an IdP that echoes it back in an
/// error body must never get it into a message.
private let fuzzSecret = "S3cr3t-Fuzz-Value"

/// libFuzzer entry point: an IdP answer. Byte 0 picks the HTTP status, byte 1
/// the length of a `Retry-After` value that follows; the rest is the body.
public func fuzzTokenResponse(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let statuses = [200, 200, 200, 400, 401, 403, 429, 500, 502, 503, 201, 302]
    let status = bytes.first.map { statuses[Int($0) % statuses.count] } ?? 200
    var rest = bytes.dropFirst()
    var retryAfter: String?
    if let length = rest.first {
        rest = rest.dropFirst()
        let n = min(Int(length % 40), rest.count)
        if length >= 128 { retryAfter = String(decoding: rest.prefix(n), as: UTF8.self); rest = rest.dropFirst(n) }
    }
    let body = Array(rest)
    switch TokenResponseParser.parse(status: status, retryAfter: retryAfter, body: body, defaultTTL: .seconds(3600 as Int64),
                                     unixTime: 1_800_000_000, redact: [fuzzSecret]) {
    case .success(let token):
        precondition(!token.accessToken.isEmpty && token.accessToken.utf8.allSatisfy { $0 > 32 && $0 < 127 },
                     "accepted an access token that cannot go on a protocol line")
        precondition(token.lifetime > .zero, "accepted a token without lifetime")
    case .failure(let failure):
        precondition(!failure.message.contains(fuzzSecret), "the client secret reached an error message")
        precondition(!failure.message.utf8.contains(10) && !failure.message.utf8.contains(13), "an error message spans lines")
        if let wait = failure.retryAfter { precondition(wait >= .zero && wait <= maximumRetryAfter, "Retry-After out of bounds") }
    }
    _ = try? JSONParser.parse(body)
    return 0
}
