import MoETensor
import Synchronization

/// Scratch buffers for the per-pixel task losses, reused from call to call so that a
/// training step does not allocate (and page-fault in) megabytes of temporaries.
///
/// A small pool hands each concurrent caller its own set; buffers grow to the largest size
/// requested and their contents are unspecified on entry.
final class TaskScratch: @unchecked Sendable {
    /// Pixel rows `[B·H·W, C+1]`: upsampled logits, then their gradient.
    let rows = ScratchBuffer()
    /// Softmax probabilities `[B·H·W, C+1]`.
    let probs = ScratchBuffer()
    /// Per-pixel losses `[B·H·W]`.
    let losses = ScratchBuffer()
    /// Intermediate of the separable upsampling `[B·gh·W, C+1]`.
    let middle = ScratchBuffer()

    private static let pool = Mutex<[TaskScratch]>([])
    /// Sets kept for reuse; more concurrent callers allocate and drop theirs.
    private static let poolLimit = 4

    /// Runs `body` with a scratch set taken from the pool (or a new one) and returns the set.
    static func with<R>(_ body: (TaskScratch) throws -> R) rethrows -> R {
        let scratch = pool.withLock { $0.popLast() } ?? TaskScratch()
        defer { pool.withLock { if $0.count < poolLimit { $0.append(scratch) } } }
        return try body(scratch)
    }
}
