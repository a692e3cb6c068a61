import MoETensor

/// Model surgery: each operation returns a new `VisionMoE` whose config and weights changed
/// together (nanoGPT style); the receiver is left untouched. Parameters the operation does
/// not concern are copied bit for bit; new parameters (routers, heads, experts) come from
/// the new model's own initialisation with `seed` (routers start at zero).
///
/// These are mechanisms only; which experts to keep, how to initialise new experts and
/// what to train afterwards are policies of the adaptation library (`MoEAdaptation`).
extension VisionMoE {
    /// A model of `config` whose every parameter is `value(name, freshValue)`; the result
    /// must have the fresh value's shape.
    public func rebuilt(
        config newConfig: ModelConfig, seed: UInt64,
        value: (_ name: String, _ fresh: Tensor) throws -> Tensor
    ) throws -> VisionMoE {
        let model = try VisionMoE(config: newConfig, seed: seed)
        for parameter in model.store.parameters {
            let v = try value(parameter.name, parameter.value)
            guard v.shape == parameter.value.shape else {
                throw ParameterError.shapeMismatch(
                    name: parameter.name, expected: parameter.value.shape, got: v.shape)
            }
            parameter.value = v
        }
        return model
    }

    /// The parameter of this model called `name`, or `fresh` when there is none.
    private func existing(_ name: String, or fresh: Tensor) throws -> Tensor {
        guard store.contains(name) else { return fresh }
        let old = try store.parameter(named: name).value
        guard old.shape == fresh.shape else {
            throw ParameterError.shapeMismatch(name: name, expected: fresh.shape, got: old.shape)
        }
        return old
    }

    /// Adds `spec` as a new dataset: a zero router per MoE layer and a fresh head. Every
    /// existing parameter is copied unchanged.
    public func addingDataset(_ spec: DatasetSpec, seed: UInt64) throws -> VisionMoE {
        guard !config.datasets.contains(where: { $0.name == spec.name }) else {
            throw ModelError.invalidConfig(
                field: "datasets.\(spec.name)", reason: "the model already has a dataset '\(spec.name)'")
        }
        var newConfig = config
        newConfig.datasets.append(spec)
        return try rebuilt(config: newConfig, seed: seed) { name, fresh in
            try existing(name, or: fresh)
        }
    }

    /// Gives the datasets named in `datasets` a new K (Top-K reduction); weights unchanged.
    public func settingTopK(_ k: Int, datasets: [String]) throws -> VisionMoE {
        var newConfig = config
        for name in datasets {
            _ = try config.dataset(named: name)
            let i = newConfig.datasets.firstIndex { $0.name == name }!
            newConfig.datasets[i].topK = k == config.topK ? nil : k
        }
        return try rebuilt(config: newConfig, seed: 0) { name, fresh in try existing(name, or: fresh) }
    }

    /// Keeps only the datasets in `datasets` (their heads and routers); drops the others.
    public func keepingDatasets(_ datasets: [String]) throws -> VisionMoE {
        for name in datasets { _ = try config.dataset(named: name) }
        var newConfig = config
        newConfig.datasets = config.datasets.filter { datasets.contains($0.name) }
        return try rebuilt(config: newConfig, seed: 0) { name, fresh in try existing(name, or: fresh) }
    }

    /// Pruning: keeps, in MoE layer i, the experts `kept[i]` (every layer the same number N,
    /// each list strictly increasing) and removes the others from the expert weights, every
    /// router's columns and every mask; `config.experts` becomes N. The expert hidden size
    /// stays as it was, and the model's K becomes min(K, N).
    ///
    /// A dataset keeps the kept experts it could use before; if some layer leaves it fewer
    /// than its K, this throws `ModelError.invalidConfig` naming the dataset (drop it first
    /// with `keepingDatasets`, or keep more experts). Outputs are unchanged for inputs
    /// whose tokens never picked a removed expert (the removed softmax terms are then the
    /// only difference, so this holds exactly with `renormalize` or when they were −∞).
    public func keepingExperts(_ kept: [[Int]]) throws -> VisionMoE {
        try requireFullExpertBanks(for: "expert surgery")
        let layers = config.moeBlocks
        guard !config.isDense, kept.count == layers.count else {
            throw ModelError.invalidConfig(
                field: "experts",
                reason: "pruning needs one list of kept experts per MoE layer (\(layers.count)), got \(kept.count)")
        }
        let n = kept.first?.count ?? 0
        for (i, row) in kept.enumerated() {
            guard row.count == n, n >= 1 else {
                throw ModelError.invalidConfig(
                    field: "experts",
                    reason:
                        "every MoE layer must keep the same positive number of experts; layer \(i) keeps \(row.count), layer 0 keeps \(n)"
                )
            }
            guard zip(row, row.dropFirst()).allSatisfy({ $0 < $1 }),
                row.allSatisfy({ (0..<config.experts).contains($0) })
            else {
                throw ModelError.invalidConfig(
                    field: "experts",
                    reason: "kept experts of layer \(i) must be increasing indices in 0..<\(config.experts), got \(row)"
                )
            }
        }
        var newConfig = config
        newConfig.experts = n
        newConfig.expertHiddenOverride = config.expertHidden
        newConfig.topK = min(config.topK, n)
        for (d, spec) in config.datasets.enumerated() {
            let visible = config.routerExperts(of: spec)
            var mask: [[Bool]] = []
            for (i, row) in kept.enumerated() {
                mask.append(row.map { config.allows(spec, moeLayer: i, expert: $0) })
            }
            let k = config.topK(of: spec)
            for (i, row) in mask.enumerated() where row.filter({ $0 }).count < k {
                throw ModelError.invalidConfig(
                    field: "datasets.\(spec.name)",
                    reason:
                        "keeps only \(row.filter { $0 }.count) of its experts in MoE layer \(i), fewer than its top-\(k) (visible: \(visible))"
                )
            }
            var updated = spec
            updated.routerExperts = nil
            updated.expertMask = mask.allSatisfy { $0.allSatisfy { $0 } } ? nil : mask
            updated.topK = k == newConfig.topK ? nil : k
            newConfig.datasets[d] = updated
        }
        let layerOfBlock = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, $0) })
        return try rebuilt(config: newConfig, seed: 0) { name, fresh in
            guard let (block, rest) = ParameterName.moeParameter(name), let i = layerOfBlock[block] else {
                return try existing(name, or: fresh)
            }
            let old = try store.parameter(named: name).value
            if rest.hasPrefix("routers.") {
                return Self.columns(old, kept[i].map { $0 < old.shape[1] ? $0 : nil })
            }
            return Self.slices(old, kept[i])
        }
    }

    /// Expansion: appends `count` experts to every MoE layer (fresh initialisation; the
    /// adaptation library may overwrite them). Every existing dataset's router keeps
    /// covering only the experts it covered, so its outputs stay bit-identical; datasets
    /// added afterwards with `addingDataset` see all experts.
    public func appendingExperts(_ count: Int, seed: UInt64) throws -> VisionMoE {
        try requireFullExpertBanks(for: "expert surgery")
        guard !config.isDense, count >= 1 else {
            throw ModelError.invalidConfig(
                field: "experts", reason: "expansion appends at least one expert to an MoE model, got \(count)")
        }
        var newConfig = config
        newConfig.experts = config.experts + count
        newConfig.expertHiddenOverride = config.expertHidden
        for (d, spec) in config.datasets.enumerated() {
            newConfig.datasets[d].routerExperts = config.routerExperts(of: spec)
        }
        let old = config.experts
        return try rebuilt(config: newConfig, seed: seed) { name, fresh in
            guard let (_, rest) = ParameterName.moeParameter(name), rest.hasPrefix("experts.") else {
                return try existing(name, or: fresh)
            }
            let previous = try store.parameter(named: name).value
            let sliceSize = previous.count / old
            var storage = previous.storage
            storage.append(contentsOf: fresh.storage[(old * sliceSize)...])
            return Tensor(shape: fresh.shape, storage: storage)
        }
    }

    /// Slices `indices` of `t` along its first axis, in order.
    public static func slices(_ t: Tensor, _ indices: [Int]) -> Tensor {
        let size = t.count / max(t.shape[0], 1)
        var storage: [Float] = []
        storage.reserveCapacity(indices.count * size)
        for i in indices { storage.append(contentsOf: t.storage[(i * size)..<((i + 1) * size)]) }
        return Tensor(shape: [indices.count] + t.shape.dropFirst(), storage: storage)
    }

    /// Columns `indices` of a matrix `t[R, C]` (nil: a zero column).
    public static func columns(_ t: Tensor, _ indices: [Int?]) -> Tensor {
        let (rows, cols) = (t.shape[0], t.shape[1])
        var out = Tensor(shape: [rows, indices.count])
        for r in 0..<rows {
            for (c, source) in indices.enumerated() {
                if let source { out.storage[r * indices.count + c] = t.storage[r * cols + source] }
            }
        }
        return out
    }
}
