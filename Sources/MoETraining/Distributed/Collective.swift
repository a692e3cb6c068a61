/// The collectives data-parallel training needs (DESIGN §11), so that `MoETraining` stays
/// free of MPI: `MoEDataParallel` adapts an MPI communicator to it, tests use in-process
/// fakes.
///
/// Every rank must call each method in the same order with the same element counts (they
/// are collective operations); the sums must not depend on the calling rank, so every
/// rank ends with identical values and applies the identical optimiser step.
public protocol Collective: AnyObject {
    /// This process's rank in `0..<size`.
    var rank: Int { get }
    /// The number of ranks training together.
    var size: Int { get }
    /// `values[i] ← Σ_ranks values[i]`, in place.
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// `values[i] ← Σ_ranks values[i]` for a few doubles (losses, counts, routing means).
    func allreduceSum(_ values: inout [Double]) throws
}

/// One process alone: every sum is the value itself. A `Trainer` with it steps exactly as
/// one without data parallelism (the distributed code paths are skipped when `size == 1`).
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    public func allreduceSum(_ values: inout [Double]) throws {}
}
