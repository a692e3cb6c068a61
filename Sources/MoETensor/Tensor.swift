/// A dense, row-major, contiguous float32 tensor.
///
/// Storage is a Swift `Array`, so a `Tensor` is a value type with copy-on-write and is
/// `Sendable`. Reshaping changes only `shape`; transposes are expressed as GEMM flags.
public struct Tensor: Sendable, Equatable {
    /// Extent of each dimension, outermost first.
    public var shape: [Int]
    /// `shape.reduce(1, *)` elements, row-major.
    public var storage: [Float]

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of `shape` over `storage`, which must hold exactly `shape.reduce(1, *)` values.
    public init(shape: [Int], storage: [Float]) {
        precondition(
            storage.count == shape.reduce(1, *),
            "storage of \(storage.count) values does not fit shape \(shape)")
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    @inlinable public var count: Int { storage.count }

    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The same values viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// Sets every element to zero, keeping the allocation; large tensors over the worker
    /// threads (`Parallel.zero`, as `GrowableBuffer.zero`).
    @inlinable public mutating func zero() {
        storage.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            Parallel.zero(base, count: buffer.count)
        }
    }

    /// Read-only access to the contiguous values.
    @inlinable public func withUnsafePointer<R>(
        _ body: (UnsafePointer<Float>) throws -> R
    ) rethrows -> R {
        try storage.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Mutable access to the contiguous values.
    @inlinable public mutating func withUnsafeMutablePointer<R>(
        _ body: (UnsafeMutablePointer<Float>) throws -> R
    ) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }

    @inlinable public subscript(index: Int) -> Float {
        get { storage[index] }
        set { storage[index] = newValue }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = storage.prefix(6).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 6 ? ", …" : "")]"
    }
}

#if canImport(Foundation)
import Foundation
#endif
