import Foundation
import MoEModel
import MoETensor

/// Shape of the learning-rate schedule; see `LRSchedule.learningRate(step:totalSteps:peakLR:)`.
public enum ScheduleKind: String, Codable, Sendable {
    case constant, cosine, onecycle
}

/// A learning-rate schedule: one pure function of the step (nanoGPT's `get_lr`).
///
/// With peak η, warm-up W, total steps T, step s (0-based), and the peak step
/// P = max(W − 1, 0):
///
/// - `constant`: η·(s + 1)/W for s < W, then η.
/// - `cosine`: η·(s + 1)/W for s < W; then with ρ = clamp((s − P)/(T − 1 − P), 0, 1),
///   η·(f + (1 − f)·½(1 + cos πρ)) where f = `minFactor` — so the last warm-up step (or
///   step 0 without warm-up) is η and the last step s = T − 1 is f·η (later steps stay there).
/// - `onecycle`: `torch.optim.lr_scheduler.OneCycleLR` with `three_phase=False,
///   anneal_strategy='linear'` (warm-up is ignored): with η₀ = η/`divFactor`,
///   η_min = η₀/`finalDivFactor` and E = `pctStart`·T − 1 (pctStart·T snapped to an
///   integer when within 10⁻⁴ of one), linear from η₀ at s = 0 to η at
///   s = E, then linear to η_min at s = T − 1 (steps past the end stay at η_min).
///
/// Decodes from partial YAML/JSON with defaults for absent keys: `kind`, `warmup`,
/// `minFactor`, `pctStart`, `divFactor`, `finalDivFactor`.
public struct LRSchedule: Codable, Sendable, Equatable {
    public var kind: ScheduleKind = .constant
    /// Linear warm-up steps (constant and cosine); coding key `warmup`.
    public var warmupSteps: Int = 0
    /// Final LR as a fraction of peak (cosine); coding key `minFactor`.
    public var minFactor: Float = 0.0
    /// onecycle: fraction of steps rising; coding key `pctStart`.
    public var pctStart: Float = 0.3
    /// onecycle: initial LR = peak / divFactor.
    public var divFactor: Float = 25
    /// onecycle: final LR = initial LR / finalDivFactor.
    public var finalDivFactor: Float = 1e4

    public init() {}

    public init(
        kind: ScheduleKind = .constant,
        warmupSteps: Int = 0,
        minFactor: Float = 0,
        pctStart: Float = 0.3,
        divFactor: Float = 25,
        finalDivFactor: Float = 1e4
    ) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.minFactor = minFactor
        self.pctStart = pctStart
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case warmupSteps = "warmup"
        case minFactor, pctStart, divFactor, finalDivFactor
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.decodeIfPresent(&kind, forKey: .kind)
        try c.decodeIfPresent(&warmupSteps, forKey: .warmupSteps)
        try c.decodeIfPresent(&minFactor, forKey: .minFactor)
        try c.decodeIfPresent(&pctStart, forKey: .pctStart)
        try c.decodeIfPresent(&divFactor, forKey: .divFactor)
        try c.decodeIfPresent(&finalDivFactor, forKey: .finalDivFactor)
    }

    /// The learning rate at `step` (0-based) of `totalSteps`, for peak `peakLR`: the
    /// schedule's multiplier applied to the peak. Pure; computed in Double.
    public func learningRate(step: Int, totalSteps: Int, peakLR: Float) -> Float {
        let peak = Double(peakLR)
        let s = max(step, 0)
        switch kind {
        case .constant:
            if s < warmupSteps { return Float(peak * Double(s + 1) / Double(warmupSteps)) }
            return peakLR
        case .cosine:
            if s < warmupSteps { return Float(peak * Double(s + 1) / Double(warmupSteps)) }
            let peakStep = max(warmupSteps - 1, 0)
            let span = totalSteps - 1 - peakStep
            let ratio = span > 0 ? min(max(Double(s - peakStep) / Double(span), 0), 1) : 1
            let coeff = 0.5 * (1 + cos(Double.pi * ratio))
            let f = Double(minFactor)
            return Float(peak * (f + (1 - f) * coeff))
        case .onecycle:
            let initial = peak / Double(divFactor)
            let final = initial / Double(finalDivFactor)
            let last = Double(max(totalSteps - 1, 0))
            let x = min(Double(s), last)
            // pctStart·T, snapped to the nearest step when within float noise of one (0.3 as
            // a Float times 100 is 30.0000012), so the peak lands exactly on a step.
            let raw = Double(pctStart) * Double(totalSteps)
            let rise = abs(raw - raw.rounded()) < 1e-4 ? raw.rounded() : raw
            let riseEnd = min(max(rise - 1, 0), last)
            if x <= riseEnd {
                let pct = riseEnd > 0 ? x / riseEnd : 1
                return Float(initial + (peak - initial) * pct)
            }
            let pct = (x - riseEnd) / (last - riseEnd)
            return Float(peak + (final - peak) * pct)
        }
    }
}
