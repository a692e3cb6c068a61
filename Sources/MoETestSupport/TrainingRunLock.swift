import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Serialises, across the test modules of one `swift test` process, every test that runs a
/// `TrainingRun` or touches the global `Interrupt` flag. Swift Testing runs suites of
/// different modules in parallel and `.serialized` only orders tests within one suite; an
/// advisory `flock` on a fixed file works across modules because each opens its own
/// descriptor. (The empty lock file is left behind on purpose: deleting it would race.)
public func withTrainingRunLock<R>(_ body: () throws -> R) rethrows -> R {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("moe-tests-training-run.lock").path
    let fd = open(path, O_CREAT | O_RDONLY | O_CLOEXEC, 0o644)
    if fd >= 0 { flock(fd, LOCK_EX) }
    defer {
        if fd >= 0 {
            flock(fd, LOCK_UN)
            close(fd)
        }
    }
    return try body()
}
