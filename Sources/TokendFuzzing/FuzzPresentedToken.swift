import TokendCore

/// libFuzzer entry point: the content of a federated assertion or subject
/// token file (SPEC §13) through the JWS `exp` peek and the send-or-refuse
/// rule, at a wall-clock time taken from the input's first byte. Never a
/// trap; a refusal never quotes the content, an accepted token is printable.
public func fuzzPresentedToken(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let now = Double(bytes.first ?? 0) * 1e7
    _ = PresentedToken.shape(String(decoding: bytes, as: UTF8.self))
    for kind in [PresentedToken.Kind.assertion, .subjectToken] {
        switch PresentedToken.evaluate(bytes, kind: kind, path: "/fuzz", unixNow: now) {
        case .success(let token):
            precondition(!token.isEmpty && token.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "sent a token that is not printable")
        case .failure(let refusal):
            let text = String(decoding: bytes, as: UTF8.self)
            precondition(text.utf8.count < 8 || !refusal.message.contains(text), "a refusal quoted the file")
        }
    }
    return 0
}
