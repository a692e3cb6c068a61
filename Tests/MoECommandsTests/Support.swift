import Foundation
import MoETensor
import MoETestSupport
import Testing

// Helpers for the command tests: a tiny digits recipe, temporary directories, stdout capture
// and the cross-module lock shared with MoETrainingTests.

/// A tiny digits recipe (8×8 images, 2-block ViT of width 16, 4 experts, top-2).
let tinyDigitsRecipe = """
    name: tiny-cli
    seed: 3
    model:
      channels: 1
      imageSize: 8
      patchSize: 4
      width: 16
      depth: 2
      heads: 2
      mlpRatio: 2
      experts: 4
      topK: 2
    datasets:
      digits:
        source: digits
        batchSize: 16
    optimizer:
      kind: adamw
      lr: 3.0e-3
    training:
      steps: 100
      logEvery: 1
      evalBatchSize: 512
      threads: 2

    """

/// Serialises `capturingStandardOutput`.
let standardOutputLock = NSRecursiveLock()

/// Runs `body` with file descriptor 1 redirected to a file and returns what was written.
/// (Other output of the process in that window lands there too; callers search the lines.)
func capturingStandardOutput(in dir: URL, _ body: () throws -> Void) throws -> String {
    // File descriptor 1 is process-wide: two overlapping captures would restore each other's
    // descriptor and lose output, so captures take turns.
    standardOutputLock.lock()
    defer { standardOutputLock.unlock() }
    let url = dir.appendingPathComponent("stdout-\(UUID().uuidString).txt")
    #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
    let file = try FileHandle(forWritingTo: url)
    let saved = dup(STDOUT_FILENO)
    fflush(nil)
    dup2(file.fileDescriptor, STDOUT_FILENO)
    defer {
        fflush(nil)
        dup2(saved, STDOUT_FILENO)
        close(saved)
        try? file.close()
    }
    try body()
    fflush(nil)
    return try String(contentsOf: url, encoding: .utf8)
}

/// Creates `Parallel`'s worker pool once, before tests run models (its lazy creation is not
/// thread-safe; see MoETrainingTests/Support.swift).
let parallelPoolReady: Void = Parallel.forEachChunk(count: 2, minimumPerThread: 1) { _ in }
