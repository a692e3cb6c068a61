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
        try requireIn(Recipe.Limits.threads, threads, for: "--threads")
        do { try GEMMKernel.validateEnvironment() } catch { throw ValidationError("\(error)") }
    }

    /// Applies the thread count: the flag wins over `fallback`.
    func apply(fallback: Int = 2) -> Int {
        let n = threads ?? fallback
        BLASThreads.set(1)  // `gemm` splits large products over `Parallel.threads` itself
        Parallel.threads = n
        return n
    }
}
