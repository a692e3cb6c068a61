import MoEModel
import MoETensor

/// Which trainable parameters are shared by all tasks (the backbone) and which belong to one
/// dataset (its head `heads.<d>.*` and its routers `blocks.N.moe.routers.<d>`), with the
/// offsets of the shared ones in a flat per-task gradient buffer and their layer groups.
public struct TaskParameterLayout: Sendable {
    /// A contiguous range of the flat buffer: one shared parameter.
    public struct Slice: Sendable {
        public var parameterIndex: Int
        public var name: String
        public var offset: Int
        public var count: Int
        /// Size of the last dimension (the output channel for `x·W` weights and biases).
        public var lastDimension: Int
    }

    public let datasets: [String]
    /// Shared trainable parameters in store order.
    public let shared: [Slice]
    /// Scalars in one per-task buffer.
    public let sharedCount: Int
    /// Store indices of each dataset's own trainable parameters.
    public let owned: [[Int]]
    /// Layer groups of the shared buffer for diagnostics: `embed` (patch embedding, class
    /// token, positions), `blocks.N`, `norm` (anything else), each a list of slice indices.
    public let layers: [(name: String, slices: [Int])]

    /// The dataset index owning `name`, or nil for a shared parameter.
    public static func owner(of name: String, datasets: [String]) -> Int? {
        ParameterName.owner(of: name, datasets: datasets)
    }

    public init(store: ParameterStore, datasets: [String]) {
        self.datasets = datasets
        var shared: [Slice] = []
        var owned = Array(repeating: [Int](), count: datasets.count)
        var offset = 0
        var layerNames: [String] = []
        var layerSlices: [String: [Int]] = [:]
        for (i, p) in store.parameters.enumerated() where p.isTrainable {
            if let t = Self.owner(of: p.name, datasets: datasets) {
                owned[t].append(i)
                continue
            }
            let layer = ParameterName.layerGroup(of: p.name)
            if layerSlices[layer] == nil { layerNames.append(layer) }
            layerSlices[layer, default: []].append(shared.count)
            shared.append(
                Slice(
                    parameterIndex: i, name: p.name, offset: offset, count: p.value.count,
                    lastDimension: p.value.shape.last ?? 1))
            offset += p.value.count
        }
        self.shared = shared
        self.sharedCount = offset
        self.owned = owned
        self.layers = layerNames.map { ($0, layerSlices[$0]!) }
    }

    /// Copies the shared parameters' gradients into `buffer` (resized to `sharedCount`).
    public func gather(_ store: ParameterStore, into buffer: inout [Float]) {
        if buffer.count != sharedCount { buffer = [Float](repeating: 0, count: sharedCount) }
        buffer.withUnsafeMutableBufferPointer { b in
            for s in shared {
                store.parameters[s.parameterIndex].grad.withUnsafePointer { g in
                    (b.baseAddress! + s.offset).update(from: g, count: s.count)
                }
            }
        }
    }

    /// Zeroes the shared parameters' gradients.
    public func zeroShared(_ store: ParameterStore) {
        for s in shared { store.parameters[s.parameterIndex].grad.zero() }
    }

    /// Writes `Σ_t coefficients[t] · rows[t]` into the shared gradients (overwriting).
    public func scatterCombination(_ rows: [[Float]], coefficients: [Float], into store: ParameterStore) {
        for s in shared {
            let p = store.parameters[s.parameterIndex]
            p.grad.withUnsafeMutablePointer { g in
                for i in 0..<s.count { g[i] = 0 }
                for (t, row) in rows.enumerated() where coefficients[t] != 0 {
                    let a = coefficients[t]
                    row.withUnsafeBufferPointer { r in
                        let src = r.baseAddress! + s.offset
                        for i in 0..<s.count { g[i] += a * src[i] }
                    }
                }
            }
        }
    }

    /// Multiplies dataset `t`'s own parameters' gradients by `scale`.
    public func scaleOwned(_ store: ParameterStore, task t: Int, by scale: Float) {
        guard scale != 1 else { return }
        for i in owned[t] {
            let p = store.parameters[i]
            let n = p.grad.count
            p.grad.withUnsafeMutablePointer { g in for j in 0..<n { g[j] *= scale } }
        }
    }

    /// L2 norm of dataset `t`'s own parameters' gradients.
    public func ownedNorm(_ store: ParameterStore, task t: Int) -> Float {
        var sum: Double = 0
        for i in owned[t] {
            let p = store.parameters[i]
            sum += p.grad.withUnsafePointer { OptimKernels.sumOfSquares($0, count: p.grad.count) }
        }
        return Float(sum.squareRoot())
    }

    /// Slice indices whose names start with `prefix` (`all`: every shared slice).
    public func slices(prefix: String) -> [Int] {
        if prefix == "all" { return Array(shared.indices) }
        return shared.indices.filter { shared[$0].name.hasPrefix(prefix) }
    }
}
