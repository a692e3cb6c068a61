import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A wall-clock profiler of the step, by kernel class: off unless `start()` was called, and
/// then costing one relaxed atomic load per region.
///
/// Regions are timed **on the thread that called `start()` only** (the training loop's
/// thread); regions entered on pool workers are not timed. A region's *exclusive* time is its
/// wall time minus that of the regions nested in it, so over a step
///
///     Σ_labels exclusive(label) + other = step wall time
///
/// and each share is the fraction of the caller's timeline spent in that class. With several
/// threads a parallel kernel's region includes the caller waiting for the workers, so shares
/// stay shares of wall time; nested regions inside a parallel loop are timed only for the
/// caller's part of it (their share is still a share of the caller's timeline).
///
/// FLOPs are what the region's caller declares (2 per multiply-add of the matrix products;
/// element-wise kernels declare 0), and GFLOP/s = FLOPs / exclusive time.
public enum Profiler {
    /// One row of the report: a class and a detail (for GEMMs, the shape M×N×K and role).
    public struct Label: Hashable, Sendable, Comparable {
        public var kind: Kind
        public var detail: String

        public init(_ kind: Kind, _ detail: String = "") {
            self.kind = kind
            self.detail = detail
        }

        public static func < (a: Label, b: Label) -> Bool {
            (a.kind.order, a.detail) < (b.kind.order, b.detail)
        }
    }

    /// Kernel classes, in report order.
    public enum Kind: String, CaseIterable, Sendable {
        case gemm = "GEMM"
        case attention = "attention products"
        case softmax
        case layerNorm = "LayerNorm"
        case gelu = "GELU"
        case bias = "bias"
        case dispatch = "MoE gather/scatter"
        case routing = "MoE routing"
        case optimizer = "optimiser"
        case loss
        case data = "data/batch"
        case other

        var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    }

    /// Accumulated totals of one label.
    public struct Total: Sendable {
        public var seconds: Double = 0
        public var flops: Double = 0
        public var calls: Int = 0
    }

    private struct Frame {
        var start: UInt64
        var children: UInt64
        var opaque: Bool
    }

    private struct State {
        var owner: pthread_t?
        var stack: [Frame] = []
        var totals: [Label: Total] = [:]
    }

    @usableFromInline static let enabled = Atomic<Bool>(false)
    private static let state = Mutex(State())

    /// Whether regions are being timed.
    @inlinable public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Clears the totals and times regions entered on the calling thread from now on.
    public static func start() {
        state.withLock { s in
            s = State()
            s.owner = pthread_self()
        }
        enabled.store(true, ordering: .releasing)
    }

    /// Stops timing and returns the totals since `start()`.
    @discardableResult
    public static func stop() -> [Label: Total] {
        enabled.store(false, ordering: .releasing)
        return state.withLock { s in
            let totals = s.totals
            s = State()
            return totals
        }
    }

    /// Runs `body`; while profiling, adds its exclusive time, `flops` and one call to
    /// `kind`/`detail`. An `opaque` region takes the time of everything inside it (nested
    /// regions are not timed): use it for composite ops (a loss, an optimiser step).
    @inlinable
    public static func measure<R>(
        _ kind: Kind, _ detail: @autoclosure () -> String = "", flops: @autoclosure () -> Double = 0,
        opaque: Bool = false, _ body: () throws -> R
    ) rethrows -> R {
        guard isEnabled else { return try body() }
        guard let token = enter(opaque: opaque) else { return try body() }
        defer { leave(token, label: Label(kind, detail()), flops: flops()) }
        return try body()
    }

    /// Opens a frame on the owner thread; nil elsewhere or inside an opaque region.
    @usableFromInline
    static func enter(opaque: Bool) -> Int? {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.withLock { s -> Int? in
            guard let owner = s.owner, pthread_equal(owner, pthread_self()) != 0 else { return nil }
            if let top = s.stack.last, top.opaque { return nil }
            s.stack.append(Frame(start: now, children: 0, opaque: opaque))
            return s.stack.count
        }
    }

    /// Closes the frame opened by `enter` and credits its exclusive time to `label`.
    @usableFromInline
    static func leave(_ depth: Int, label: Label, flops: Double) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { s in
            guard s.stack.count == depth, let frame = s.stack.popLast() else { return }
            let wall = now - frame.start
            if !s.stack.isEmpty { s.stack[s.stack.count - 1].children += wall }
            let exclusive = wall >= frame.children ? wall - frame.children : 0
            s.totals[label, default: Total()].seconds += Double(exclusive) / 1e9
            s.totals[label, default: Total()].flops += flops
            s.totals[label, default: Total()].calls += 1
        }
    }
}
