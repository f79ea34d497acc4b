#if FUZZING
import CLibFuzzer
#endif
import Glibc

/// The `main` of every fuzz target. Built with `-sanitize=fuzzer -DFUZZING`
/// (scripts/fuzz.sh) it hands the command line to libFuzzer's driver; in a
/// normal build it replays the files given, so the committed seed corpus and
/// every input that once crashed run as a regression test (`fuzz-X fuzz/corpus/X`).
public enum FuzzReplay {
    public static func main(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, body))
        #else
        run(body)
        #endif
    }

    static func run(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            for path in files(at: argument) {
                guard let bytes = read(path) else {
                    print("cannot read \(path)")
                    exit(66)
                }
                bytes.withUnsafeBufferPointer { buffer in
                    let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    _ = body(base, buffer.count)
                }
                count += 1
            }
        }
        print("replayed \(count) inputs")
        exit(count > 0 ? 0 : 66)
    }

    /// The regular files in `path` (sorted), or `path` itself.
    static func files(at path: String) -> [String] {
        guard let dir = opendir(path) else { return [path] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }
}
