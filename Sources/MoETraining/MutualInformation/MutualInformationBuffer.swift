import Foundation
import MoEBalancing
import MoEData
import MoEModel
import MoEOptim
import MoERecipe
import MoETensor

/// The running dataset–expert buffer of ONE MoE layer and its mutual-information loss
/// (DESIGN §4, [MTHL eq. 4-5]; the port of MTHL's `TaskMoE.get_MIloss` without its bugs).
///
/// Shapes: `T` datasets, `E` experts. All buffer arithmetic is in **Double** (`values` is
/// stored, and saved in checkpoints, as Double); the per-step input `q` and the returned
/// gradient are Float, like the model's activations.
///
/// ## State
/// - `B[T, E]` (`values`, row-major): a running estimate of the joint `P(t, e)` with the
///   uniform dataset prior `P(t) = 1/T`. Each row that has seen data sums to `1/T`
///   (softmax rows sum to 1), so once every dataset has data `B` sums to 1 over `(t, e)`.
/// - `n[t]` (`counts`): how many times dataset `t`'s row has been updated (per dataset, not
///   per layer as in MTHL, whose shared counter biases late datasets low).
///
/// ## One training step on a batch of dataset t
/// `q[E]` is the mean over the batch's tokens of the **full** softmax vectors of dataset t's
/// router (before top-k). `step(dataset:batchMeanProbabilities:)`:
/// 1. `n[t] += 1`;  `m = 1 − 1/n[t]` while `n[t] ≤ warmUp` (a running mean: the first update
///    sets `B[t] = q/T`), else `m = momentum` (0.99);
/// 2. `B[t] ← m·B[t] + (1 − m)·q/T` (q detached: the buffer is never differentiated);
/// 3. if `n[t] ≤ warmUp` returns nil (no MI term during dataset t's warm-up), else returns
///    `g = ∂L_MI/∂q` evaluated with the buffer **after** this update (the order of DESIGN §4
///    and of MTHL, whose `PTE` is written before the loss reads it):
///
///        B_E[e] = Σ_t B[t, e]                                        (detached)
///        L_MI(q) = −(1/T) · Σ_e q_e · (log(B[t, e] + eps) − log(B_E[e] + eps))
///        g_e     = ∂L_MI/∂q_e = −(1/T) · (log(B[t, e] + eps) − log(B_E[e] + eps))
///
///    `L_MI` is linear in `q`, so `g` is all the caller needs: multiply by `w_MI` and
///    back-propagate through the token mean (each token's softmax gets `w_MI · g / tokens`)
///    and the softmax.
///
/// ## Why the surrogate: the gradient relationship (tested in `MutualInformationBufferTests`)
/// Let `MI(B) = Σ_{t,e} B log(B / (P(t)·B_E))` with `P(t) = 1/T` held fixed. Differentiating
/// (the `B_E` terms contribute `−Σ_t' B[t',e]/B_E[e] = −1`, cancelling the `+1` of `B log B`):
///
///     ∂MI/∂B[t, e] = log B[t, e] − log B_E[e] + log T.
///
/// With the updated row `B'[t] = m·B[t] + (1 − m)·q/T` a function of this batch's `q`
/// (`∂B'[t,e]/∂q_e = (1 − m)/T`), the chain rule gives, exactly and at the updated buffer:
///
///     ∂(−MI(B'(q)))/∂q_e = (1 − m) · g_e|_{eps=0} − (1 − m) · log(T)/T.
///
/// So the step's gradient equals the gradient of −MI up to the positive factor `(1 − m)`
/// (0.01 after warm-up) and a shift common to every expert, which does nothing on the
/// probability simplex (`Σ_e q_e = 1`): the centred gradients `g − mean(g)` are exactly
/// `1/(1 − m)` times the centred gradients of −MI. With `eps > 0` each log moves by at most
/// `eps/B`, so `|g_e − g_e|_{eps=0}| ≤ (eps/B[t,e] + eps/B_E[e]) / T`.
/// The surrogate's *value* is not MI; log `mutualInformation` as the specialisation metric.
///
/// ## Checkpoints
/// Saved through `Codable` (a JSON string in the checkpoint's metadata, e.g. with
/// `Checkpoint.encodeMetadata`), not as tensors: checkpoint tensors are float32 and the
/// buffer is Double. Swift's JSON coding of Double is shortest-round-trip, so a save/load
/// round trip is bit-for-bit; decoding validates the shapes.
public struct MutualInformationBuffer: Codable, Sendable, Equatable {
    /// Default EMA momentum after warm-up (MTHL).
    public static let defaultMomentum = 0.99
    /// Default number of running-mean updates per dataset before the MI term starts.
    public static let defaultWarmUp = 100
    /// Default `eps` inside the surrogate's logarithms.
    public static let defaultEpsilon = 1e-4

    /// Number of datasets `T`; `P(t) = 1/T`.
    public private(set) var datasets: Int
    /// Number of experts `E`.
    public private(set) var experts: Int
    /// `B[T, E]`, row-major: `values[t * experts + e]`.
    public private(set) var values: [Double]
    /// Per-dataset update counters `n[t]`.
    public private(set) var counts: [Int]
    /// EMA momentum after warm-up.
    public let momentum: Double
    /// Updates of a dataset's row that are running-mean warm-up with no MI term.
    public let warmUp: Int
    /// `eps` inside the surrogate's logarithms (not used by `mutualInformation`).
    public let epsilon: Double

    /// An all-zero buffer for `datasets × experts`, counters 0.
    public init(
        datasets: Int, experts: Int,
        momentum: Double = defaultMomentum, warmUp: Int = defaultWarmUp,
        epsilon: Double = defaultEpsilon
    ) {
        precondition(datasets >= 1 && experts >= 1, "need at least one dataset and one expert")
        precondition(momentum >= 0 && momentum < 1, "momentum must be in [0, 1)")
        precondition(warmUp >= 0 && epsilon >= 0, "warm-up and eps must be non-negative")
        self.datasets = datasets
        self.experts = experts
        self.values = [Double](repeating: 0, count: datasets * experts)
        self.counts = [Int](repeating: 0, count: datasets)
        self.momentum = momentum
        self.warmUp = warmUp
        self.epsilon = epsilon
    }

    /// `B[t, e]`.
    public subscript(dataset: Int, expert: Int) -> Double {
        values[dataset * experts + expert]
    }

    /// Row `B[t, :]` (sums to `1/T` once dataset t has data, before surgery).
    public func row(_ dataset: Int) -> [Double] {
        Array(values[(dataset * experts)..<((dataset + 1) * experts)])
    }

    /// `B_E[e] = Σ_t B[t, e]`, the buffer's expert marginal.
    public var expertMarginal: [Double] {
        var marginal = [Double](repeating: 0, count: experts)
        for t in 0..<datasets {
            for e in 0..<experts { marginal[e] += values[t * experts + e] }
        }
        return marginal
    }

    /// Whether dataset t is past its warm-up (`n[t] > warmUp`): its last `step` returned a
    /// gradient, and so will every later one.
    public func isWarm(dataset: Int) -> Bool { counts[dataset] > warmUp }

    /// Updates `B[t]` with this batch's mean probabilities `q[E]` and returns `∂L_MI/∂q[E]`
    /// at the updated buffer, or nil while dataset t is in warm-up (`n[t] ≤ warmUp` after
    /// counting this update). See the type's documentation for the formulas.
    public mutating func step(dataset t: Int, batchMeanProbabilities q: [Float]) -> [Float]? {
        precondition(t >= 0 && t < datasets, "dataset \(t) out of range 0..<\(datasets)")
        precondition(q.count == experts, "q has \(q.count) values, expected \(experts) experts")
        precondition(q.allSatisfy(\.isFinite), "q must be finite")
        counts[t] += 1
        let n = counts[t]
        let m = n <= warmUp ? 1 - 1 / Double(n) : momentum
        let scale = (1 - m) / Double(datasets)
        let base = t * experts
        for e in 0..<experts {
            values[base + e] = m * values[base + e] + scale * Double(q[e])
        }
        if n <= warmUp { return nil }
        return gradient(dataset: t).map { Float($0) }
    }

    /// `g_e = ∂L_MI/∂q_e = −(1/T)·(log(B[t,e] + eps) − log(B_E[e] + eps))` at the current
    /// buffer, in Double, whether or not dataset t is warm.
    public func gradient(dataset t: Int) -> [Double] {
        let marginal = expertMarginal
        let invT = 1 / Double(datasets)
        return (0..<experts).map { e in
            -invT * (Self.log(values[t * experts + e] + epsilon) - Self.log(marginal[e] + epsilon))
        }
    }

    /// The surrogate's value `L_MI(q) = Σ_e q_e · g_e` at the current buffer, for logging
    /// (call after `step` with the same q to get that step's loss). Not MI.
    public func surrogateLoss(dataset t: Int, q: [Float]) -> Float {
        precondition(q.count == experts, "q has \(q.count) values, expected \(experts) experts")
        let g = gradient(dataset: t)
        var sum = 0.0
        for e in 0..<experts { sum += Double(q[e]) * g[e] }
        return Float(sum)
    }

    /// The true mutual information of the buffer, in nats:
    /// `MI = Σ_{t,e} B[t,e] · log(B[t,e] / (P(t)·B_E[e]))`, `P(t) = 1/T`, `0·log 0 = 0`.
    /// `B` sums to 1 once every dataset has data (each row sums to `1/T`), and then this is
    /// `I(D; E)` of the joint `B`, between 0 (all rows equal) and `log T` (datasets on
    /// disjoint experts). Before that (or right after pruning) the mass is below 1 and the
    /// value is only indicative.
    public var mutualInformation: Double {
        let marginal = expertMarginal
        let T = Double(datasets)
        var sum = 0.0
        for t in 0..<datasets {
            for e in 0..<experts {
                let b = values[t * experts + e]
                if b > 0 { sum += b * Self.log(b * T / marginal[e]) }
            }
        }
        return sum
    }

    /// Adds a dataset (adaptation to a new dataset): a zero row with counter 0. Old rows are
    /// kept (the buffer remembers old datasets, so the new router is still pushed towards
    /// its own experts) but multiplied by `T/(T + 1)` so every row that has data keeps
    /// summing to the new `P(t) = 1/(T + 1)` and `B` stays a joint distribution. Returns the
    /// new dataset's index.
    @discardableResult
    public mutating func addDataset() -> Int {
        let rescale = Double(datasets) / Double(datasets + 1)
        for i in values.indices { values[i] *= rescale }
        values.append(contentsOf: [Double](repeating: 0, count: experts))
        counts.append(0)
        datasets += 1
        return datasets - 1
    }

    /// Pruning surgery: keeps the columns `keeping` (distinct expert indices, in that order;
    /// the new expert i is old expert `keeping[i]`), values and counters unchanged. Rows then
    /// sum to less than `1/T` until post-pruning updates refresh them.
    public mutating func removeExperts(keeping: [Int]) {
        precondition(!keeping.isEmpty, "must keep at least one expert")
        precondition(Set(keeping).count == keeping.count, "kept experts must be distinct")
        precondition(keeping.allSatisfy { $0 >= 0 && $0 < experts }, "kept expert out of range")
        var kept = [Double]()
        kept.reserveCapacity(datasets * keeping.count)
        for t in 0..<datasets {
            for e in keeping { kept.append(values[t * experts + e]) }
        }
        values = kept
        experts = keeping.count
    }

    /// Expansion surgery: appends `count` zero columns (new experts, unused so far).
    public mutating func appendExperts(count: Int) {
        precondition(count >= 0, "cannot append a negative number of experts")
        var grown = [Double]()
        grown.reserveCapacity(datasets * (experts + count))
        for t in 0..<datasets {
            grown.append(contentsOf: values[(t * experts)..<((t + 1) * experts)])
            grown.append(contentsOf: [Double](repeating: 0, count: count))
        }
        values = grown
        experts += count
    }

    // MARK: Codable (validated)

    private enum CodingKeys: String, CodingKey {
        case datasets, experts, values, counts, momentum, warmUp, epsilon
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        datasets = try c.decode(Int.self, forKey: .datasets)
        experts = try c.decode(Int.self, forKey: .experts)
        values = try c.decode([Double].self, forKey: .values)
        counts = try c.decode([Int].self, forKey: .counts)
        momentum = try c.decode(Double.self, forKey: .momentum)
        warmUp = try c.decode(Int.self, forKey: .warmUp)
        epsilon = try c.decode(Double.self, forKey: .epsilon)
        guard datasets >= 1, experts >= 1,
            case (let size, let overflow) = datasets.multipliedReportingOverflow(by: experts), !overflow,
            values.count == size,
            counts.count == datasets, counts.allSatisfy({ (0...(1 << 40)).contains($0) }),
            values.allSatisfy({ $0.isFinite && $0 >= 0 }),
            momentum >= 0, momentum < 1, (0...(1 << 40)).contains(warmUp), epsilon >= 0, epsilon.isFinite
        else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: c.codingPath,
                    debugDescription:
                        "inconsistent MI buffer: \(datasets) datasets × \(experts) experts, "
                        + "\(values.count) values, \(counts.count) counters"))
        }
    }

    static func log(_ x: Double) -> Double { Foundation.log(x) }
}
