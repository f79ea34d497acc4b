import FuzzReplay
import TokendFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzPrivateKey(data, size)
}

@main
struct FuzzTarget {
    static func main() { FuzzReplay.main(fuzzTestOneInput) }
}
