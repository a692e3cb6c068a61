import Dispatch

/// Data parallelism over disjoint index ranges, the one place besides OpenBLAS where `moe`
/// uses threads.
public enum Parallel {
    /// Worker threads for element-wise kernels and per-(batch, head) loops.
    /// Set once at start-up (`--threads`); defaults to 2, the machine's core count.
    nonisolated(unsafe) public static var threads: Int = 2

    /// Runs `body(range)` over `count` items split into at most `threads` contiguous
    /// chunks; runs inline when the work is small (`count < minimumPerThread * 2`).
    @inlinable
    public static func forEachChunk(
        count: Int, minimumPerThread: Int = 4096, _ body: (Range<Int>) -> Void
    ) {
        let workers = min(threads, max(1, count / max(1, minimumPerThread)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = (count + workers - 1) / workers
        // Chunks are disjoint and `concurrentPerform` returns only when all are done, so
        // handing the non-Sendable closure to the workers is safe.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * chunk
                let hi = min(count, lo + chunk)
                if lo < hi { shared.value(lo..<hi) }
            }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, items spread over the worker threads.
    @inlinable
    public static func forEach(count: Int, _ body: (Int) -> Void) {
        forEachChunk(count: count, minimumPerThread: 1) { range in
            for i in range { body(i) }
        }
    }
}

/// Carries a value across a concurrency boundary the caller has proven safe.
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}
