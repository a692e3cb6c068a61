import Foundation
import MoETensor
import Testing

@testable import MoEOptim
@testable import MoETraining

// MARK: - helpers

func randomValues(_ count: Int, _ rng: inout SeededGenerator, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in (rng.uniform() * 2 - 1) * scale }
}

func setGrad(_ store: ParameterStore, _ name: String, _ values: [Float]) {
    let id = try! store.id(name)
    let shape = store[id].value.shape
    store[id].grad = Tensor(shape: shape, storage: values)
}

func value(_ store: ParameterStore, _ name: String) -> [Float] {
    try! store.parameter(named: name).value.storage
}

/// A deep copy of `store` (values, flags; gradients zero).
func copyStore(_ store: ParameterStore) -> ParameterStore {
    let copy = ParameterStore()
    for p in store.parameters {
        copy.add(p.name, p.value, isTrainable: p.isTrainable, decays: p.decays)
    }
    return copy
}

func expectClose(
    _ actual: [Float], _ expected: [Double], rel: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        let err = abs(Double(a) - e) / max(abs(e), 1e-3)
        #expect(err <= rel, "got \(a), expected \(e)", sourceLocation: sourceLocation)
    }
}

func settings(_ kind: OptimizerKind, lr: Float = 0.01, wd: Float = 0.1) -> OptimizerSettings {
    OptimizerSettings(kind: kind, learningRate: lr, weightDecay: wd)
}

// MARK: - references

struct AdamWCase: Sendable, CustomTestStringConvertible {
    var decays: Bool
    var lr: Float
    var wd: Float
    var testDescription: String { "decays=\(decays) lr=\(lr) wd=\(wd)" }
}

@Test(arguments: [
    AdamWCase(decays: true, lr: 1e-2, wd: 0.05),
    AdamWCase(decays: false, lr: 1e-2, wd: 0.05),
    AdamWCase(decays: true, lr: 3e-3, wd: 0.5),
])
func adamWMatchesReference(_ c: AdamWCase) {
    var rng = SeededGenerator(seed: 11)
    let n = 21  // two SIMD blocks of 8 and a scalar tail of 5
    let theta0 = randomValues(n, &rng)
    let grads = (0..<3).map { _ in randomValues(n, &rng, scale: 2) }
    let s = OptimizerSettings(
        kind: .adamw, learningRate: 99, weightDecay: c.wd, beta1: 0.9, beta2: 0.99,
        epsilon: 1e-8)
    let store = ParameterStore()
    store.add("w", Tensor(shape: [n], storage: theta0), decays: c.decays)
    var opt = AdamW(settings: s)

    // Reference in Double.
    var th = theta0.map(Double.init)
    var m = [Double](repeating: 0, count: n)
    var v = [Double](repeating: 0, count: n)
    let (b1, b2, eps, lr) = (0.9, 0.99, Double(Float(1e-8)), Double(c.lr))
    let wd = c.decays ? Double(c.wd) : 0
    for t in 1...3 {
        let g = grads[t - 1].map(Double.init)
        for i in 0..<n {
            th[i] -= lr * wd * th[i]
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            let mh = m[i] / (1 - pow(b1, Double(t)))
            let vh = v[i] / (1 - pow(b2, Double(t)))
            th[i] -= lr * mh / (vh.squareRoot() + eps)
        }
        setGrad(store, "w", grads[t - 1])
        opt.step(store, lr: c.lr)
        expectClose(value(store, "w"), th)
    }
    #expect(opt.stepCount == 3)
}

struct SGDCase: Sendable, CustomTestStringConvertible {
    var momentum: Float
    var nesterov: Bool
    var decays: Bool
    var testDescription: String { "μ=\(momentum) nesterov=\(nesterov) decays=\(decays)" }
}

@Test(arguments: [
    SGDCase(momentum: 0.9, nesterov: false, decays: true),
    SGDCase(momentum: 0.9, nesterov: true, decays: true),
    SGDCase(momentum: 0.8, nesterov: true, decays: false),
    SGDCase(momentum: 0, nesterov: false, decays: true),
])
func sgdMatchesReference(_ c: SGDCase) {
    var rng = SeededGenerator(seed: 12)
    let n = 11
    let theta0 = randomValues(n, &rng)
    let grads = (0..<3).map { _ in randomValues(n, &rng) }
    let s = OptimizerSettings(
        kind: .sgd, weightDecay: 0.1, momentum: c.momentum, nesterov: c.nesterov)
    let store = ParameterStore()
    store.add("w", Tensor(shape: [n], storage: theta0), decays: c.decays)
    var opt = SGD(settings: s)
    let lr = 0.05
    let mu = Double(c.momentum)
    let wd = c.decays ? Double(Float(0.1)) : 0
    var th = theta0.map(Double.init)
    var b = [Double](repeating: 0, count: n)
    for t in 0..<3 {
        for i in 0..<n {
            let g = Double(grads[t][i]) + wd * th[i]
            b[i] = mu * b[i] + g
            th[i] -= lr * (c.nesterov ? g + mu * b[i] : b[i])
        }
        setGrad(store, "w", grads[t])
        opt.step(store, lr: Float(lr))
        expectClose(value(store, "w"), th)
    }
    #expect(opt.stateTensors().count == (c.momentum == 0 ? 0 : 1))
}

// MARK: - LAMB

@Test func lambTrustRatioHandWorked() {
    // θ = [3, 4] (‖θ‖ = 5), g = [1, 1]: first step m̂ = g, v̂ = g², so r ≈ [1, 1] (+ λθ).
    let lr: Float = 0.1
    do {  // no decay: r = [1, 1], ‖r‖ = √2, trust = 5/√2.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [3, 4]))
        setGrad(store, "w", [1, 1])
        var opt = LAMB(settings: settings(.lamb, wd: 0))
        opt.step(store, lr: lr)
        let d = 0.1 * 5 / 2.0.squareRoot()
        expectClose(value(store, "w"), [3 - d, 4 - d])
    }
    do {  // decay 0.1: r = [1.3, 1.4], trust = 5/√3.65.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [3, 4]))
        setGrad(store, "w", [1, 1])
        var opt = LAMB(settings: settings(.lamb, wd: 0.1))
        opt.step(store, lr: lr)
        let trust = 5 / 3.65.squareRoot()
        expectClose(value(store, "w"), [3 - 0.1 * trust * 1.3, 4 - 0.1 * trust * 1.4])
    }
    do {  // ‖θ‖ = 0: trust = 1, θ = −lr·r.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [0, 0]))
        setGrad(store, "w", [1, -2])
        var opt = LAMB(settings: settings(.lamb, wd: 0.1))
        opt.step(store, lr: lr)
        expectClose(value(store, "w"), [-0.1, 0.1])
    }
    do {  // ‖r‖ = 0 (zero grad, no decay): trust = 1 and θ unchanged.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [3, 4]))
        var opt = LAMB(settings: settings(.lamb, wd: 0))
        opt.step(store, lr: lr)
        #expect(value(store, "w") == [3, 4])
    }
    #expect(LAMB.trustRatio(weightNorm: 5, updateNorm: 2) == 2.5)
    #expect(LAMB.trustRatio(weightNorm: 0, updateNorm: 2) == 1)
    #expect(LAMB.trustRatio(weightNorm: 5, updateNorm: 0) == 1)
}

@Test(arguments: [(true, Float(0.1)), (false, Float(0.1)), (true, Float(0))])
func lambMatchesReference(decays: Bool, wd: Float) {
    var rng = SeededGenerator(seed: 13)
    let n = 19
    let theta0 = randomValues(n, &rng)
    let grads = (0..<3).map { _ in randomValues(n, &rng, scale: 2) }
    let store = ParameterStore()
    store.add("w", Tensor(shape: [n], storage: theta0), decays: decays)
    var opt = LAMB(settings: OptimizerSettings(kind: .lamb, weightDecay: wd, beta2: 0.99))
    var th = theta0.map(Double.init)
    var m = [Double](repeating: 0, count: n)
    var v = [Double](repeating: 0, count: n)
    let (b1, b2, eps, lr) = (Double(Float(0.9)), Double(Float(0.99)), Double(Float(1e-8)), 0.02)
    let lambda = decays ? Double(wd) : 0
    for t in 1...3 {
        var r = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let g = Double(grads[t - 1][i])
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            let mh = m[i] / (1 - pow(b1, Double(t)))
            let vh = v[i] / (1 - pow(b2, Double(t)))
            r[i] = mh / (vh.squareRoot() + eps) + lambda * th[i]
        }
        let wn = th.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let rn = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let trust = wn > 0 && rn > 0 ? wn / rn : 1
        for i in 0..<n { th[i] -= lr * trust * r[i] }
        setGrad(store, "w", grads[t - 1])
        opt.step(store, lr: Float(lr))
        expectClose(value(store, "w"), th, rel: 2e-6)
    }
}

@Test func lambTrustRatioIsPerParameter() {
    // Two tensors with gradients of very different scale move by the same relative amount.
    let store = ParameterStore()
    store.add("a", Tensor(shape: [2], storage: [3, 4]))
    store.add("b", Tensor(shape: [2], storage: [30, 40]))
    setGrad(store, "a", [100, 100])
    setGrad(store, "b", [0.01, 0.01])
    var opt = LAMB(settings: settings(.lamb, wd: 0))
    opt.step(store, lr: 0.1)
    let a = value(store, "a")
    let b = value(store, "b")
    #expect(abs((3 - a[0]) / 5 - (30 - b[0]) / 50) < 1e-6)
}

/// AdamW's AVX-512 update keeps the portable kernel's roundings bit for bit: moments, decay
/// and step, over a length with a tail of every lane count, on several steps (bias
/// corrections change) and with gradients of 0, ±huge and tiny.
@Test(.enabled(if: KernelPath.hasAVX512, "the CPU has no AVX-512F"), arguments: [1, 15, 16, 1_000, 70_001])
func adamWWideMatchesPortableBitForBit(count: Int) {
    var rng = SeededGenerator(seed: 31)
    let start = randomValues(count, &rng)
    var grads = (0..<3).map { _ in randomValues(count, &rng, scale: 3) }
    for i in stride(from: 0, to: count, by: 11) { grads[1][i] = [0, 1e30, -1e-30][i % 3] }
    var results: [[Float]] = []
    for path in [KernelPath.automatic, .portable] {
        var (theta, m, v) = (start, [Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
        for (t, g) in grads.enumerated() {
            let (bc1, bc2) = (1 - pow(0.9, Double(t + 1)), 1 - pow(0.999, Double(t + 1)))
            AdamW.kernel(
                theta: &theta, grad: g, m: &m, v: &v, count: count, decay: 1 - 1e-3 * 0.05, beta1: 0.9,
                beta2: 0.999, stepSize: Float(1e-3 / bc1), bc2Sqrt: Float(bc2.squareRoot()), eps: 1e-8, path: path)
        }
        results.append(theta + m + v)
    }
    let first = results[0].indices.first { results[0][$0].bitPattern != results[1][$0].bitPattern }
    #expect(first == nil, "θ, m, v differ first at \(first ?? -1)")
}
