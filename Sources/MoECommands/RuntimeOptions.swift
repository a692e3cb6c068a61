import ArgumentParser
import MoERecipe
import MoETensor

/// Options every compute-heavy command shares.
struct RuntimeOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: "Threads for OpenBLAS and the element-wise kernels (default: the recipe's, else 2).")
    var threads: Int?

    func validate() throws {
        if let threads { try checkOption(threads, in: Recipe.Limits.threads, "--threads") }
    }

    /// Applies the thread count: the flag wins over `fallback`.
    func apply(fallback: Int = 2) -> Int {
        let n = threads ?? fallback
        BLASThreads.set(1)  // `gemm` splits large products over `Parallel.threads` itself
        Parallel.threads = n
        return n
    }
}

/// Throws a `ValidationError` when `value` of `option` is outside `range`: "--steps must be
/// at least 1, got 0" or "--threads must be at most 256, got 100000".
func checkOption<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ option: String) throws {
    if value < range.lowerBound {
        throw ValidationError("\(option) must be at least \(range.lowerBound), got \(value)")
    }
    if value > range.upperBound {
        throw ValidationError("\(option) must be at most \(range.upperBound), got \(value)")
    }
}
