import TokendTesting

extension DaemonProcess {
    /// A tokend on `configuration` (after its `socket` line) in `directory`,
    /// its log kept in `directory/tokend.log`, awaited through `READY=1`.
    public static func started(tokend: String, directory: String, configuration: String) throws -> DaemonProcess {
        let daemon = try DaemonProcess(config: configuration, tokend: tokend, directory: directory,
                                       logFile: directory + "/tokend.log")
        guard daemon.waitReady() else {
            throw HarnessFailure("tokend did not become ready; its log: \(directory)/tokend.log")
        }
        return daemon
    }

    public var probe: ProcessProbe { ProcessProbe(pid: pid) }
}
