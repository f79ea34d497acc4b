import TokendProtocol

/// libFuzzer entry point: one request line as a client could send it (the
/// decoder strips the LF; anything else reaches the parser), plus the
/// one-line sanitiser every error message goes through.
public func fuzzRequestLine(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    switch RequestLineParser.parse(bytes) {
    case .success(let request):
        // Whatever parses names a valid profile, if it names one.
        if let name = request.profile { precondition(ProfileName.isValid(name), "accepted an invalid profile name") }
    case .failure(let error):
        let line = Array(AnswerLine.error(.badRequest, error.message).rendered.utf8)
        precondition(!line.dropLast().contains(10) && !line.contains(13), "an error answer spans lines")
    }
    return 0
}
