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
        pointer = Self.allocateZeroed(capacity)
        self.count = count
    }

    deinit { pointer.deallocate() }

    /// Makes room for `count` elements; contents are unspecified after growing.
    public func resize(_ count: Int) {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = Self.allocateZeroed(capacity)
        }
        self.count = count
    }

    /// `capacity` zeroed elements, set as bytes: all-zero bits are 0 for every integer and
    /// float type, and a byte fill is one `memset` where the generic element-by-element
    /// initialisation went through value witnesses (1.4 % of a benchmark run). On a cache line,
    /// so rows of 16 floats are whole lines for sixteen-lane loads and stores.
    private static func allocateZeroed(_ capacity: Int) -> UnsafeMutablePointer<Element> {
        let bytes = UnsafeMutableRawPointer.allocate(
            byteCount: capacity * MemoryLayout<Element>.stride, alignment: max(64, MemoryLayout<Element>.alignment))
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * MemoryLayout<Element>.stride)
        return bytes.bindMemory(to: Element.self, capacity: capacity)
    }

    /// Sets the used elements to zero (gradient buffers before accumulation), large buffers
    /// over the worker threads (`Parallel.zero`).
    @inlinable public func zero() { Parallel.zero(pointer, count: count) }

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
