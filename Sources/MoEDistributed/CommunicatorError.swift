/// A failed MPI call, naming the rank, the operation and MPI's own message.
public struct CommunicatorError: Error, CustomStringConvertible, Equatable {
    public let rank: Int
    public let operation: String
    public let message: String

    public var description: String { "MPI rank \(rank): \(operation) failed: \(message)" }
}
