import Foundation
import MoEBalancing
import MoEData
import MoEModel
import MoEOptim
import MoETensor

/// How long to train and how often to log, evaluate and save.
public struct TrainingSettings: Codable, Sendable, Equatable {
    /// Optimiser steps; overrides `epochs` when both are given.
    public var steps: Int?
    /// Passes over the data: steps = epochs × Σ_t (examples_t / batch_t).
    public var epochs: Double?
    public var logEvery: Int = 50
    /// Evaluate on the test splits every N steps (0: only at the end).
    public var evalEvery: Int = 0
    /// Save a checkpoint every N steps (0: only at the end).
    public var checkpointEvery: Int = 0
    public var evalBatchSize: Int = 256
    /// Worker threads for OpenBLAS and the element-wise kernels.
    public var threads: Int = 2
    /// w_MI: weight of the mutual-information loss summed over MoE layers (DESIGN §4);
    /// used when a run has several datasets and experts.
    public var miWeight: Float = 5e-4
    /// `sampled` (one dataset per step) or `roundRobin` (every dataset each step); nil:
    /// roundRobin when the balancing method needs it, else sampled.
    public var stepMode: StepMode?
    /// Log gradient-conflict diagnostics every N steps (roundRobin only; 0 = never).
    public var diagnosticsEvery: Int = 0
    /// P: under `mpirun -np N`, split every MoE layer's experts over groups of P ranks
    /// (DESIGN §11.2); P must divide the expert count and N. nil or 1: data-parallel only.
    public var expertParallel: Int?

    /// P, 1 when not set.
    public var expertGroupSize: Int { expertParallel ?? 1 }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, epochs, logEvery, evalEvery, checkpointEvery, evalBatchSize, threads, miWeight
        case stepMode, diagnosticsEvery, expertParallel
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        epochs = try c.decodeIfPresent(Double.self, forKey: .epochs)
        try c.decodeIfPresent(&logEvery, forKey: .logEvery)
        try c.decodeIfPresent(&evalEvery, forKey: .evalEvery)
        try c.decodeIfPresent(&checkpointEvery, forKey: .checkpointEvery)
        try c.decodeIfPresent(&evalBatchSize, forKey: .evalBatchSize)
        try c.decodeIfPresent(&threads, forKey: .threads)
        try c.decodeIfPresent(&miWeight, forKey: .miWeight)
        stepMode = try c.decodeIfPresent(StepMode.self, forKey: .stepMode)
        try c.decodeIfPresent(&diagnosticsEvery, forKey: .diagnosticsEvery)
        expertParallel = try c.decodeIfPresent(Int.self, forKey: .expertParallel)
    }
}
