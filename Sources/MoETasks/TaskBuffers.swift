/// A float array of `count` elements whose contents the caller overwrites completely
/// (skips the zero fill of `Array(repeating:count:)`).
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
