/// One trainable tensor: its dotted name, value, accumulated gradient and policy flags.
///
/// A class so that a kernel may read one parameter's `value` while it accumulates into
/// another's (or the same one's) `grad`: distinct stored properties of distinct objects never
/// trip Swift's exclusivity checks, whereas elements of one array would.
public final class Parameter {
    /// Dotted path, e.g. `blocks.3.moe.experts.w1`.
    public let name: String
    public var value: Tensor
    /// Same shape as `value`; backward passes accumulate into it.
    public var grad: Tensor { didSet { hasGradient = true } }
    /// Whether `grad` was written since the last `ParameterStore.zeroGradients()`. False for
    /// parameters the backward pass never reached (another dataset's head or router); the
    /// optimisers skip those, as PyTorch skips a parameter whose `grad` is `None`, so a head
    /// gets neither weight decay nor stale-momentum steps while other datasets train.
    public fileprivate(set) var hasGradient = true
    /// Frozen parameters get no gradient, no weight decay and are never changed.
    public var isTrainable: Bool
    /// Whether decoupled weight decay applies (false for norms, biases, embeddings).
    public var decays: Bool
    /// For a trainable parameter stacked along its first axis (an expert bank), which slices
    /// learn; `nil` means all. Layers that know the stacking (the MoE expert bank) leave the
    /// gradient of frozen slices zero, so with zero optimiser state and `decays == false`
    /// every optimiser leaves those slices bit-identical (adaptation with N trainable experts).
    public var trainableSlices: [Bool]?

    public init(name: String, value: Tensor, isTrainable: Bool = true, decays: Bool = true) {
        self.name = name
        self.value = value
        self.grad = Tensor(shape: value.shape)
        self.isTrainable = isTrainable
        self.decays = decays
    }
}

/// Typed index of a parameter in a `ParameterStore`: layers hold these, not tensors, so the
/// optimiser, clipping, freezing and checkpoints all work on one flat list of named tensors.
public struct ParameterID: Hashable, Sendable {
    public let index: Int
    public init(_ index: Int) { self.index = index }
}

/// Errors from looking parameters up by name.
public enum ParameterError: Error, CustomStringConvertible, Equatable {
    case unknownName(String)
    case duplicateName(String)
    case shapeMismatch(name: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .unknownName(let name): "no parameter named '\(name)'"
        case .duplicateName(let name): "parameter '\(name)' is defined twice"
        case .shapeMismatch(let name, let expected, let got):
            "parameter '\(name)' has shape \(got), expected \(expected)"
        }
    }
}

/// The ordered set of a model's parameters (llm.c's `ParameterTensors` with names).
///
/// A reference type on purpose: the training loop mutates values and gradients in place
/// through pointers, and every layer of one model shares the one store.
public final class ParameterStore {
    public private(set) var parameters: [Parameter] = []
    private var indexByName: [String: Int] = [:]

    public init() {}

    /// Adds a parameter and returns its handle. Names must be unique.
    @discardableResult
    public func add(
        _ name: String, _ value: Tensor, isTrainable: Bool = true, decays: Bool = true
    ) -> ParameterID {
        precondition(indexByName[name] == nil, "parameter '\(name)' is defined twice")
        indexByName[name] = parameters.count
        parameters.append(
            Parameter(name: name, value: value, isTrainable: isTrainable, decays: decays))
        return ParameterID(parameters.count - 1)
    }

    public var count: Int { parameters.count }
    public var names: [String] { parameters.map(\.name) }

    /// Total number of scalar values.
    public var scalarCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
    /// Number of scalar values that the optimiser may change (only the learning slices of a
    /// parameter with `trainableSlices`).
    public var trainableScalarCount: Int {
        parameters.reduce(0) { total, p in
            guard p.isTrainable else { return total }
            guard let slices = p.trainableSlices, !slices.isEmpty else { return total + p.value.count }
            return total + p.value.count / slices.count * slices.filter { $0 }.count
        }
    }

    public func id(_ name: String) throws -> ParameterID {
        guard let i = indexByName[name] else { throw ParameterError.unknownName(name) }
        return ParameterID(i)
    }

    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    public subscript(id: ParameterID) -> Parameter { parameters[id.index] }

    /// The parameter called `name`; throws if there is none.
    public func parameter(named name: String) throws -> Parameter { self[try id(name)] }

    /// Replaces a parameter's value (same shape), e.g. when loading a checkpoint.
    public func setValue(_ value: Tensor, for name: String) throws {
        let i = try id(name)
        guard parameters[i.index].value.shape == value.shape else {
            throw ParameterError.shapeMismatch(
                name: name, expected: parameters[i.index].value.shape, got: value.shape)
        }
        parameters[i.index].value = value
    }

    /// Replaces a parameter's value with one of a new shape (model surgery); resets its grad.
    public func reshapeValue(_ value: Tensor, for name: String) throws {
        let i = try id(name)
        parameters[i.index].value = value
        parameters[i.index].grad = Tensor(shape: value.shape)
    }

    /// Marks parameters trainable or frozen by a predicate over their names.
    public func setTrainable(_ isTrainable: Bool, where predicate: (String) -> Bool) {
        for parameter in parameters where predicate(parameter.name) {
            parameter.isTrainable = isTrainable
        }
    }

    /// Zeroes every gradient (before a backward pass, which accumulates) and marks none as
    /// written yet.
    public func zeroGradients() {
        for parameter in parameters {
            parameter.grad.zero()
            parameter.hasGradient = false
        }
    }

    /// Read pointer to a parameter's value, valid for the duration of `body`.
    public func withValue<R>(_ id: ParameterID, _ body: (UnsafePointer<Float>) throws -> R)
        rethrows -> R
    {
        let parameter = parameters[id.index]
        return try parameter.value.withUnsafePointer(body)
    }

    /// Mutable pointer to a parameter's gradient, valid for the duration of `body`.
    public func withGrad<R>(
        _ id: ParameterID, _ body: (UnsafeMutablePointer<Float>) throws -> R
    ) rethrows -> R {
        let parameter = parameters[id.index]
        return try parameter.grad.withUnsafeMutablePointer(body)
    }

    /// Applies `body` in order, in place, to each parameter an update may change: trainable
    /// and with a gradient this step (optimisers, clipping).
    public func updateEachTrainable(_ body: (inout Parameter) throws -> Void) rethrows {
        for parameter in parameters where parameter.isTrainable && parameter.hasGradient {
            var reference = parameter
            try body(&reference)
        }
    }
}
