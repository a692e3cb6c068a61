import Foundation
import MoEFuzzing

/// libFuzzer's entry point: the target named by `MOE_FUZZ_TARGET` (checkpoint, recipe, idx,
/// csv, coco) gets every input. Returns 0: inputs are never rejected from the corpus.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let name = ProcessInfo.processInfo.environment["MOE_FUZZ_TARGET"] ?? "recipe"
    guard let target = FuzzTargets.all[name] else {
        fatalError("MOE_FUZZ_TARGET must be one of \(FuzzTargets.all.keys.sorted()), got '\(name)'")
    }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    target(bytes)
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The executable's entry (SwiftPM names it `<module>_main`): hands the command line to
/// libFuzzer's driver.
@_cdecl("moe_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
