import Foundation
import MoEProtobuf

/// A TensorBoard event file (`events.out.tfevents.<time>.<host>`) in a run's folder, so
/// `tensorboard --logdir checkpoints/` shows the run beside `metrics.jsonl`.
///
/// Records are TFRecords — `uint64 length, uint32 masked CRC-32C(length), data, uint32
/// masked CRC-32C(data)` — holding `tensorflow.Event` protos: `wall_time` (1), `step` (2),
/// `file_version` (3, the first record: "brain.Event:2") or `summary` (5) with `Summary.Value`
/// entries `tag` (1) and `simple_value` (2) or `histo` (5, a `HistogramProto`).
public final class TensorBoardLog {
    public let path: String
    private let handle: FileHandle

    /// Creates a new event file in `folder` (which must exist).
    public init(folder: String) throws {
        let host = ProcessInfo.processInfo.hostName
        let time = Int(Date().timeIntervalSince1970)
        path = (folder as NSString).appendingPathComponent("events.out.tfevents.\(time).\(host)")
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw TrainingError.cannotWrite(path: path) }
        self.handle = handle
        try append { $0.string(3, "brain.Event:2") }
    }

    deinit { try? handle.close() }

    /// One scalar per tag at `step`.
    public func scalars(_ values: [(tag: String, value: Double)], step: Int) throws {
        guard !values.isEmpty else { return }
        try append(step: step) { summary in
            for (tag, value) in values {
                summary.message(1) { v in
                    v.string(1, tag)
                    v.float(2, Float(value))
                }
            }
        }
    }

    /// A histogram of `counts[i]` observations in bucket `i` (bucket `i` covers (i − 1, i]),
    /// e.g. how often each expert was picked.
    public func histogram(tag: String, counts: [Double], step: Int) throws {
        let total = counts.reduce(0, +)
        let indices = counts.indices.map(Double.init)
        let sum = zip(indices, counts).map { $0 * $1 }.reduce(0, +)
        let squares = zip(indices, counts).map { $0 * $0 * $1 }.reduce(0, +)
        try append(step: step) { summary in
            summary.message(1) { v in
                v.string(1, tag)
                v.message(5) { h in
                    h.double(1, 0)
                    h.double(2, Double(max(counts.count - 1, 0)))
                    h.double(3, total)
                    h.double(4, sum)
                    h.double(5, squares)
                    h.packedDoubles(6, indices)
                    h.packedDoubles(7, counts)
                }
            }
        }
    }

    /// The numbers of a `metrics.jsonl` record as scalars, tagged
    /// `<event>[/<dataset>]/<key path>`: `train/fmnist/loss`, `train/all/task_losses/detect`,
    /// `eval/segment/mIoU`, `mi/buffer_mi/3`, `grad/…`.
    public static func scalars(of record: [String: Any]) -> [(tag: String, value: Double)] {
        var prefix = record["event"] as? String ?? "metrics"
        if let dataset = record["dataset"] as? String { prefix += "/" + dataset }
        var out: [(tag: String, value: Double)] = []
        func walk(_ value: Any, _ tag: String) {
            switch value {
            case let number as Double: if number.isFinite { out.append((tag, number)) }
            case let number as Float: if number.isFinite { out.append((tag, Double(number))) }
            case let number as Int: out.append((tag, Double(number)))
            case let object as [String: Any]:
                for key in object.keys.sorted() { walk(object[key]!, tag + "/" + key) }
            case let array as [Any]:
                for (i, item) in array.enumerated() { walk(item, tag + "/\(i)") }
            default: break
            }
        }
        for key in record.keys.sorted() where !["event", "dataset", "step", "split", "task"].contains(key) {
            walk(record[key]!, prefix + "/" + key)
        }
        return out
    }

    private func append(step: Int, summary: (inout ProtobufWriter) -> Void) throws {
        try append { event in
            event.int64(2, Int64(step))
            event.message(5, summary)
        }
    }

    private func append(_ build: (inout ProtobufWriter) -> Void) throws {
        var event = ProtobufWriter()
        event.double(1, Date().timeIntervalSince1970)
        build(&event)
        do {
            try handle.write(contentsOf: Self.record(event.bytes))
        } catch {
            throw TrainingError.cannotWrite(path: path)
        }
    }

    /// TFRecord framing of `data`.
    static func record(_ data: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { length.append(contentsOf: $0) }
        var out = length
        withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { out.append(contentsOf: $0) }
        out += data
        withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { out.append(contentsOf: $0) }
        return out
    }
}
