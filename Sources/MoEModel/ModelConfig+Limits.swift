extension ModelConfig {
    /// Upper bounds on the architecture (DESIGN §2.1). With them every product of sizes the
    /// model computes fits an `Int`, and the parameter count is bounded before anything is
    /// allocated; `estimatedTrainingBytes` then checks a run against the machine's memory.
    public enum Limits {
        public static let channels = 1...4
        public static let imageSize = 1...2_048
        public static let patchSize = 1...64
        public static let width = 1...8_192
        public static let depth = 1...128
        public static let heads = 1...128
        public static let mlpRatio = 1...16
        public static let experts = 0...512
        public static let expertHidden = 1...65_536
        public static let classes = 1...100_000
        /// Tokens per image, N = (H/P)·(W/P) + 1.
        public static let tokens = 2...16_385
        public static let datasets = 0...64
        public static let layerNormEpsilon: ClosedRange<Float> = 1e-12...1
        /// Parameters of the whole model (values, gradients and two moments: 16 bytes each).
        public static let parameters = 1...(1 << 30)
    }

    /// Checks each size against `Limits`; throws `ModelError.invalidConfig` naming the field.
    func validateLimits() throws {
        func inRange(_ value: Int, _ range: ClosedRange<Int>, _ field: String) throws {
            guard range.contains(value) else {
                throw ModelError.invalidConfig(
                    field: field, reason: "must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
            }
        }
        try inRange(channels, Limits.channels, "channels")
        try inRange(imageSize, Limits.imageSize, "imageSize")
        try inRange(patchSize, Limits.patchSize, "patchSize")
        try inRange(width, Limits.width, "width")
        try inRange(depth, Limits.depth, "depth")
        try inRange(heads, Limits.heads, "heads")
        try inRange(mlpRatio, Limits.mlpRatio, "mlpRatio")
        try inRange(experts, Limits.experts, "experts")
        if let hidden = expertHiddenOverride { try inRange(hidden, Limits.expertHidden, "expertHidden") }
        try inRange(datasets.count, Limits.datasets, "datasets")
        guard Limits.layerNormEpsilon.contains(layerNormEpsilon) else {
            throw ModelError.invalidConfig(
                field: "layerNormEpsilon", reason: "must be in 1e-12...1, got \(layerNormEpsilon)")
        }
        for d in datasets {
            try inRange(d.classes, Limits.classes, "datasets.\(d.name).classes")
            try inRange(d.height, Limits.imageSize, "datasets.\(d.name).height")
            try inRange(d.width, Limits.imageSize, "datasets.\(d.name).width")
            if let names = d.classNames, names.count != d.classes {
                throw ModelError.invalidConfig(
                    field: "datasets.\(d.name).classNames", reason: "has \(names.count) names for \(d.classes) classes")
            }
            if d.inputMean != nil || d.inputStd != nil {
                let mean = d.inputMean ?? []
                let std = d.inputStd ?? []
                guard mean.count == channels, std.count == channels, mean.allSatisfy(\.isFinite),
                    std.allSatisfy({ $0.isFinite && $0 > 0 })
                else {
                    throw ModelError.invalidConfig(
                        field: "datasets.\(d.name).inputStd",
                        reason: "needs \(channels) finite means and positive stds, got \(mean) and \(std)")
                }
            }
        }
    }

    /// Checks the token count and the parameter count against `Limits` (after the other
    /// checks, so the divisions are exact).
    func validateSize() throws {
        for d in datasets {
            let tokens = (d.height / patchSize) * (d.width / patchSize) + 1
            guard Limits.tokens.contains(tokens) else {
                throw ModelError.invalidConfig(
                    field: "datasets.\(d.name).size",
                    reason: "\(d.height)x\(d.width) in patches of \(patchSize) gives \(tokens) tokens; "
                        + "allowed \(Limits.tokens.lowerBound)...\(Limits.tokens.upperBound)")
            }
        }
        guard let count = parameterCount, Limits.parameters.contains(count) else {
            throw ModelError.invalidConfig(
                field: "width",
                reason: "the model would have \(parameterCount.map(String.init) ?? "more than Int.max") "
                    + "parameters; at most \(Limits.parameters.upperBound) are allowed")
        }
    }

    /// The number of parameters, computed with checked arithmetic; nil on overflow.
    public var parameterCount: Int? {
        var total = CheckedCount()
        let d = width
        total.add(patchDim, d)
        total.add(d)  // patch bias
        total.add(d)  // class token
        total.add(baseGrid * baseGrid + 1, d)
        for block in 0..<depth {
            total.add(4, d)  // two LayerNorms
            total.add(d, 3 * d)
            total.add(3 * d)
            total.add(d, d)
            total.add(d)
            if isMoEBlock(block) {
                let f = expertHidden
                total.add(experts, 2 * d * f + f + d)
                for spec in datasets { total.add(d, routerExperts(of: spec)) }
            } else {
                total.add(2 * mlpRatio * d, d)
                total.add(mlpRatio * d + d)
            }
        }
        for spec in datasets {
            total.add(2, d)
            total.add(d + 1, spec.outputChannels)
        }
        return total.value
    }
}

/// A running sum of products that turns nil on the first overflow.
struct CheckedCount {
    private(set) var value: Int? = 0

    mutating func add(_ factors: Int...) {
        var product = 1
        for f in factors {
            let (p, overflow) = product.multipliedReportingOverflow(by: f)
            if overflow || f < 0 {
                value = nil
                return
            }
            product = p
        }
        if let v = value {
            let (sum, overflow) = v.addingReportingOverflow(product)
            value = overflow ? nil : sum
        }
    }
}
