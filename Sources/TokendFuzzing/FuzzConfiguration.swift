import TokendCore

/// A host with one secret file and one user and group, nothing else.
private struct FuzzHost: HostEnvironment {
    func readFile(_ path: String, limit: Int) -> Result<[UInt8], HostError> {
        path == "/etc/tokend/secret" ? .success(Array("file-secret\n".utf8)) : .failure(HostError("No such file or directory"))
    }
    func fileMode(_ path: String) -> UInt32? { 0o600 }
    func environment(_ name: String) -> String? { name == "CREDENTIALS_DIRECTORY" ? "/run/credentials/tokend.service" : nil }
    func userID(named name: String) -> UInt32? { name == "alice" ? 1001 : nil }
    func groupID(named name: String) -> UInt32? { name == "tokend" ? 990 : nil }
    func directoryProblem(_ path: String) -> String? { path == "/run/tokend/files" ? nil : "No such file or directory" }
    func fileGroupProblem(_ gid: UInt32, directory: String) -> String? { gid == 990 || gid == 995 ? nil : "not a member" }
}

/// libFuzzer entry point: a configuration file's bytes, through TOMLKit and
/// every check. Either a configuration or a list of one-line errors.
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let loaded = try ConfigurationLoader.load(text: text, path: "/etc/tokend/tokend.toml", host: FuzzHost())
        for profile in loaded.configuration.profiles { precondition(!profile.name.isEmpty, "a profile without a name") }
    } catch {
        precondition(!error.errors.isEmpty, "a refusal without a reason")
        for problem in error.errors {
            precondition(!problem.description.utf8.contains(10), "an error message spans lines")
        }
    }
    return 0
}
