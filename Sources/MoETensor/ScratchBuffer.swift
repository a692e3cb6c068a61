/// A reusable, growable buffer for activations, scratch space and index lists.
///
/// Activations are reused step after step (llm.c allocates them once), so a training step
/// allocates nothing once shapes settle. The pointer is stable until a `resize` grows the
/// buffer.
public final class GrowableBuffer<Element: BitwiseCopyable & Numeric> {
    public private(set) var pointer: UnsafeMutablePointer<Element>
    public private(set) var capacity: Int
    /// Elements in use (≤ capacity).
    public private(set) var count: Int = 0

    public init(count: Int = 0) {
        capacity = max(count, 1)
        pointer = .allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        self.count = count
    }

    deinit { pointer.deallocate() }

    /// Makes room for `count` elements; contents are unspecified after growing.
    public func resize(_ count: Int) {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: capacity)
            pointer.initialize(repeating: 0, count: capacity)
        }
        self.count = count
    }

    /// Sets the used elements to zero (gradient buffers before accumulation). Inlinable so
    /// that it is specialised per element type: the generic version fills element by
    /// element and cost a third of a training step.
    @inlinable public func zero() { pointer.update(repeating: 0, count: count) }

    public var readPointer: UnsafePointer<Element> { UnsafePointer(pointer) }
}

/// Float activations and gradient scratch.
public typealias ScratchBuffer = GrowableBuffer<Float>
/// Expert ids and token lists.
public typealias IndexBuffer = GrowableBuffer<Int32>

extension GrowableBuffer where Element == Float {
    /// A copy of the used elements as a tensor of `shape`.
    public func tensor(shape: [Int]) -> Tensor {
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not fit \(count) values")
        return Tensor(shape: shape, storage: Array(UnsafeBufferPointer(start: pointer, count: count)))
    }
}
