import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Data parallelism over disjoint index ranges: the one place besides `gemm` where `moe`
/// uses threads.
///
/// A small pool of persistent threads runs the chunks. (Dispatch's `concurrentPerform`
/// proved unreliable here: on Linux it often ran both chunks on the calling thread, halving
/// GEMM throughput at random.)
public enum Parallel {
    /// Worker threads, the calling thread included. Set once at start-up (`--threads`);
    /// defaults to 2, the machine's core count.
    public static var threads: Int {
        get { requestedThreads.load(ordering: .relaxed) }
        set { requestedThreads.store(max(1, newValue), ordering: .relaxed) }
    }

    private static let requestedThreads = Atomic<Int>(2)
    // One pool per thread count, never freed: their threads hold them, and a pool may still
    // be finishing a job for another caller when the count changes.
    private static let pools = Mutex<[Int: WorkerPool]>([:])

    static func currentPool() -> WorkerPool {
        let n = threads
        return pools.withLock { pools in
            if let pool = pools[n] { return pool }
            let fresh = WorkerPool(threads: n)
            pools[n] = fresh
            return fresh
        }
    }

    /// Runs `body(range)` over `count` items split into at most `threads` contiguous
    /// chunks (`chunks(count:minimumPerThread:)`); runs inline when the work is small
    /// (`count < minimumPerThread * 2`), and chunk after chunk on the calling thread when
    /// called from inside another parallel region.
    public static func forEachChunk(
        count: Int, minimumPerThread: Int = 4096, _ body: (Range<Int>) -> Void
    ) {
        let ranges = chunks(count: count, minimumPerThread: minimumPerThread)
        if ranges.count <= 1 {
            ranges.first.map(body)
            return
        }
        currentPool().run(count: ranges.count) { w in body(ranges[w]) }
    }

    /// The chunks `forEachChunk` splits `count` items into: ⌈count/w⌉ items each (the last
    /// may be shorter) for w = min(threads, count / minimumPerThread), at least 1.
    public static func chunks(count: Int, minimumPerThread: Int) -> [Range<Int>] {
        let workers = min(threads, max(1, count / max(1, minimumPerThread)))
        let size = (count + workers - 1) / workers
        return stride(from: 0, to: count, by: max(1, size)).map { $0..<min(count, $0 + size) }
    }

    /// Sets `count` elements from `start` to zero, spans of 64 Ki or more over the worker
    /// threads (a serial fill of the backward's scratch was about 7 % of a two-thread step).
    /// Inlinable so that it is specialised per element type: the generic version fills
    /// element by element and cost a third of a training step.
    @inlinable
    public static func zero<Element: BitwiseCopyable & Numeric>(_ start: UnsafeMutablePointer<Element>, count: Int) {
        guard count >= 1 << 16 else { return start.update(repeating: 0, count: count) }
        forEachChunk(count: count, minimumPerThread: 1 << 15) { range in
            (start + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, items spread over the worker threads.
    public static func forEach(count: Int, _ body: (Int) -> Void) {
        forEachChunk(count: count, minimumPerThread: 1) { range in
            for i in range { body(i) }
        }
    }
}

/// Persistent worker threads that claim the indices of a job: the caller and the workers
/// take indices `0..<count` from one atomic claim word until none are left, and the caller
/// returns once every index has run. What index `i` computes does not depend on which thread
/// runs it, so results are the same bit for bit however the indices fall.
///
/// Claiming (rather than index `w` always on thread `w`) matters when the cores are shared:
/// a worker that the scheduler has not run yet never holds the caller up — the caller takes
/// its index instead — so a descheduled worker costs at most the index it already started.
///
///     claim word = generation << 32 | count << 16 | next index      (CAS next → next + 1)
///
/// A worker that wakes late sees a newer generation (or next = count) and claims nothing, so
/// it never calls a job whose caller has returned.
///
/// Idle workers spin for a couple of milliseconds before sleeping on a condition variable:
/// a worker that blocks between the many short parallel regions of a training step tends to
/// be woken on the caller's core and stay there, which halved throughput at random.
final class WorkerPool: @unchecked Sendable {
    let threads: Int
    private let generation = Atomic<Int>(0)
    private let claim = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let sleeping = Atomic<Int>(0)
    private let lock = NSCondition()
    // Written by the caller before the claim word is published (release), read by a thread
    // only after a successful claim (acquire); unchanged until every index has completed.
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    /// Held by the one caller whose job is running; others (and nested calls) run serially.
    private let busy = Atomic<Bool>(false)

    /// How long an idle worker spins before it sleeps.
    private static let spinNanoseconds: UInt64 = 2_000_000

    init(threads: Int) {
        self.threads = max(threads, 1)
        for _ in 1..<self.threads {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            seen = waitForJob(after: seen)
            runClaimedIndices(generation: seen)
        }
    }

    /// Claims and runs indices of job `g` until none are left or a newer job replaced it.
    private func runClaimedIndices(generation g: Int) {
        while true {
            let word = claim.load(ordering: .acquiring)
            let (next, count) = (word & 0xFFFF, (word >> 16) & 0xFFFF)
            guard word >> 32 == g, next < count else { return }
            guard claim.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing).exchanged
            else { continue }
            if let body = job { body(next) }
            completed.add(1, ordering: .releasing)
        }
    }

    /// Spins, then sleeps, until the generation moves past `seen`; returns the new one.
    private func waitForJob(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while true {
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            spins += 1
            if spins % 256 == 0 {
                if DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
                sched_yield()
            }
        }
        lock.lock()
        sleeping.add(1, ordering: .sequentiallyConsistent)
        var g = generation.load(ordering: .sequentiallyConsistent)
        while g == seen {
            lock.wait()
            g = generation.load(ordering: .acquiring)
        }
        sleeping.subtract(1, ordering: .sequentiallyConsistent)
        lock.unlock()
        return g
    }

    /// Runs `body(i)` for `i` in `0..<count` (count ≤ threads) on the caller and the workers.
    func run(count: Int, _ body: (Int) -> Void) {
        precondition(count <= threads && count < 0xFFFF, "a pool of \(threads) threads cannot run \(count) indices")
        if threads == 1
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        {
            // No workers, a nested call from inside a running job, or another thread's job
            // in flight: run here, serially.
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // Only this caller writes the generation (under `busy`), so load + store is safe.
            // 31 bits, wrapping, so `g << 32` stays positive in the claim word however long
            // the process runs.
            let g = (generation.load(ordering: .relaxed) + 1) & 0x7FFF_FFFF
            job = body
            completed.store(0, ordering: .relaxed)
            claim.store(g << 32 | count << 16, ordering: .releasing)
            generation.store(g, ordering: .sequentiallyConsistent)
            if sleeping.load(ordering: .sequentiallyConsistent) > 0 {
                lock.lock()
                lock.broadcast()
                lock.unlock()
            }
            runClaimedIndices(generation: g)
            var spins = 0
            while completed.load(ordering: .acquiring) < count {
                // On a busy machine a worker may be waiting for this very core.
                spins += 1
                if spins % 1024 == 0 { sched_yield() }
            }
            job = nil
            busy.store(false, ordering: .releasing)
        }
    }
}
