import MoECheckpoint
import MoEModel
import MoEOptim
import MoETensor

/// The sharded expert store (DESIGN §11.2): group rank g of P keeps only rows
/// `[g·E/P, (g+1)·E/P)` of every expert bank `[E, …]` (w1, b1, w2, b2 of each MoE layer),
/// for weights, gradients and optimiser state alike, so each rank holds E/P experts.
///
/// Full banks come back by a gather within the group: a group sum to which every rank
/// contributes its slice at its own rows and exact zeros elsewhere (x + 0 = x).
struct ExpertShard {
    let groupSize: Int
    let groupRank: Int
    /// Each bank's full shape `[E, …]` and full `trainableSlices` (one flag per expert).
    let banks: [String: (shape: [Int], trainableSlices: [Bool]?)]

    /// The banks of `model` as they are now (full).
    init(model: VisionMoE, groupSize: Int, groupRank: Int) throws {
        self.groupSize = groupSize
        self.groupRank = groupRank
        var banks: [String: (shape: [Int], trainableSlices: [Bool]?)] = [:]
        for l in model.config.moeBlocks {
            for part in ParameterName.ExpertPart.allCases {
                let p = try model.store.parameter(named: ParameterName.experts(block: l, part))
                banks[p.name] = (p.value.shape, p.trainableSlices)
            }
        }
        self.banks = banks
    }

    /// The bank a parameter or optimiser-state tensor (`optim.<slot>.<bank>`) belongs to.
    func bank(of name: String) -> String? {
        if banks[name] != nil { return name }
        return banks.keys.first { name.hasSuffix(".\($0)") }
    }

    /// Rows `[g·E/P, (g+1)·E/P)` of `full` `[E, …]`.
    func slice(_ full: Tensor) -> Tensor {
        let rows = full.count / groupSize
        let start = groupRank * rows
        var shape = full.shape
        shape[0] /= groupSize
        return Tensor(shape: shape, storage: Array(full.storage[start..<start + rows]))
    }

    /// The full `[E, …]` from every group rank's `[E/P, …]` slice.
    func gather(_ slice: Tensor, over collective: any ExpertCollective) throws -> Tensor {
        var full = [Float](repeating: 0, count: slice.count * groupSize)
        full.replaceSubrange(groupRank * slice.count..<(groupRank + 1) * slice.count, with: slice.storage)
        try full.withUnsafeMutableBufferPointer { try collective.expertGroupSum($0, groupSize: groupSize) }
        var shape = slice.shape
        shape[0] *= groupSize
        return Tensor(shape: shape, storage: full)
    }

    /// Keeps only this rank's slice of every bank in `store` (values, zero gradients, flags).
    func shard(_ store: ParameterStore) throws {
        for (name, bank) in banks {
            let p = try store.parameter(named: name)
            guard p.value.shape == bank.shape else { continue }
            try store.reshapeValue(slice(p.value), for: name)
            p.trainableSlices = bank.trainableSlices.map { flags in
                let per = flags.count / groupSize
                return Array(flags[groupRank * per..<(groupRank + 1) * per])
            }
        }
    }

    /// Puts the full banks back into `store` (gradients reset to zero). Collective.
    func unshard(_ store: ParameterStore, over collective: any ExpertCollective) throws {
        for name in banks.keys.sorted() {
            let p = try store.parameter(named: name)
            guard p.value.shape != banks[name]?.shape else { continue }
            try store.reshapeValue(try gather(p.value, over: collective), for: name)
            p.trainableSlices = banks[name]?.trainableSlices
        }
    }

    /// Keeps only this rank's slice of the optimiser state of every bank; `store` must
    /// already be sharded.
    func shardState(of optimizer: inout any Optimizer, store: ParameterStore) throws {
        let tensors = optimizer.stateTensors().map { named in
            guard let bank = bank(of: named.name), named.tensor.shape == banks[bank]?.shape else {
                return (named.name, named.tensor)
            }
            return (named.name, slice(named.tensor))
        }
        try optimizer.loadState(
            tensors: Dictionary(uniqueKeysWithValues: tensors), metadata: optimizer.stateMetadata, store: store)
    }

    /// `tensors` with every bank and bank-state slice replaced by the full tensor, in order.
    /// Collective: every group rank calls it with the same names.
    func gathered(_ tensors: [NamedTensor], over collective: any ExpertCollective) throws -> [NamedTensor] {
        try tensors.map { named in
            guard let bank = bank(of: named.name), named.tensor.shape != banks[bank]?.shape else { return named }
            return NamedTensor(named.name, try gather(named.tensor, over: collective))
        }
    }
}
