import ArgumentParser
import Foundation
import MoETraining

/// Whether this process is a rank other than 0 of an MPI job (set once by `MPILaunch.run`
/// before any work): its output would repeat rank 0's, so `say`, `sayOnStandardError` and
/// progress lines print nothing.
nonisolated(unsafe) var isSecondaryRank = false

/// Writes a line to standard output unbuffered, so results interleave correctly with the
/// progress lines on standard error.
func say(_ line: String) {
    guard !isSecondaryRank else { return }
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes a line to standard error (notes that must not mix with JSON on standard output).
func sayOnStandardError(_ line: String) {
    guard !isSecondaryRank else { return }
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Runs a command body that trains; Ctrl-C (after the run saved itself) prints where the
/// run is and exits with 130 (128 + SIGINT, like a shell), so scripts never take a partial
/// run for a finished one.
func exitingOnInterrupt<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as TrainingError {
        guard case .interrupted = error else { throw error }
        sayOnStandardError(error.description)
        throw ExitCode(130)
    }
}
