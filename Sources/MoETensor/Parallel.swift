import Foundation

/// Data parallelism over disjoint index ranges: the one place besides `gemm` where `moe`
/// uses threads.
///
/// A small pool of persistent threads runs the chunks. (Dispatch's `concurrentPerform`
/// proved unreliable here: on Linux it often ran both chunks on the calling thread, halving
/// GEMM throughput at random.)
public enum Parallel {
    /// Worker threads, the calling thread included. Set once at start-up (`--threads`);
    /// defaults to 2, the machine's core count.
    nonisolated(unsafe) public static var threads: Int = 2 {
        didSet { threads = max(1, threads) }
    }

    nonisolated(unsafe) static var pool: WorkerPool?

    static func currentPool() -> WorkerPool {
        if let pool, pool.threads == threads { return pool }
        let fresh = WorkerPool(threads: threads)
        pool = fresh
        return fresh
    }

    /// Runs `body(range)` over `count` items split into at most `threads` contiguous
    /// chunks; runs inline when the work is small (`count < minimumPerThread * 2`) or when
    /// called from inside another parallel region.
    public static func forEachChunk(
        count: Int, minimumPerThread: Int = 4096, _ body: (Range<Int>) -> Void
    ) {
        let workers = min(threads, max(1, count / max(1, minimumPerThread)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = (count + workers - 1) / workers
        currentPool().run(count: workers) { w in
            let lo = w * chunk
            let hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, items spread over the worker threads.
    public static func forEach(count: Int, _ body: (Int) -> Void) {
        forEachChunk(count: count, minimumPerThread: 1) { range in
            for i in range { body(i) }
        }
    }
}

/// Persistent threads that claim job indices under one lock. The caller works too, and
/// `run` returns only when every index is done, so `body` may capture non-Sendable state.
final class WorkerPool: @unchecked Sendable {
    let threads: Int
    private let lock = NSCondition()
    private var job: ((Int) -> Void)?
    private var jobCount = 0
    private var nextIndex = 0
    private var finished = 0
    private var generation = 0

    init(threads: Int) {
        self.threads = threads
        for _ in 1..<max(threads, 1) {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private func workerLoop() {
        var seen = 0
        lock.lock()
        while true {
            while generation == seen { lock.wait() }
            seen = generation
            claimAndRun()
        }
    }

    /// Runs claimed indices; called and returns with the lock held.
    private func claimAndRun() {
        while nextIndex < jobCount, let body = job {
            let index = nextIndex
            nextIndex += 1
            lock.unlock()
            body(index)
            lock.lock()
            finished += 1
            if finished == jobCount { lock.broadcast() }
        }
    }

    /// Runs `body(i)` for `i` in `0..<count` on the pool and the calling thread.
    func run(count: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            lock.lock()
            if job != nil {
                // Nested call from inside a running job: do it here, serially.
                lock.unlock()
                for i in 0..<count { body(i) }
                return
            }
            job = body
            jobCount = count
            nextIndex = 0
            finished = 0
            generation &+= 1
            lock.broadcast()
            claimAndRun()
            while finished < jobCount { lock.wait() }
            job = nil
            lock.unlock()
        }
    }
}
