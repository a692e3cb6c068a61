import CZstd

/// Thin, safe wrappers over libzstd for whole-buffer compression of one frame.
enum Zstd {
    /// The four magic bytes every zstd frame starts with (0xFD2FB528, little-endian).
    static let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// `ZSTD_CONTENTSIZE_UNKNOWN` / `ZSTD_CONTENTSIZE_ERROR` (C macros Swift does not import).
    static let contentSizeUnknown: UInt64 = UInt64.max
    static let contentSizeError: UInt64 = UInt64.max - 1

    static var compressionLevels: ClosedRange<Int32> {
        Int32(ZSTD_minCLevel())...Int32(ZSTD_maxCLevel())
    }

    static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }

    static func isError(_ code: Int) -> Bool { ZSTD_isError(code) != 0 }

    struct CompressionFailure: Error { var detail: String }

    /// Compresses `source` into a single frame that records the content size in its header and
    /// ends with a content checksum.
    static func compress(_ source: UnsafeRawBufferPointer, level: Int32) throws(CompressionFailure)
        -> [UInt8]
    {
        guard let cctx = ZSTD_createCCtx() else {
            throw CompressionFailure(detail: "ZSTD_createCCtx failed")
        }
        defer { ZSTD_freeCCtx(cctx) }
        let parameters: [(ZSTD_cParameter, Int32, String)] = [
            (ZSTD_c_compressionLevel, level, "compression level"),
            (ZSTD_c_checksumFlag, 1, "checksum flag"),
            (ZSTD_c_contentSizeFlag, 1, "content size flag"),
        ]
        for (parameter, value, label) in parameters {
            let rc = ZSTD_CCtx_setParameter(cctx, parameter, value)
            if isError(rc) {
                throw CompressionFailure(detail: "zstd rejected \(label) \(value): \(errorName(rc))")
            }
        }
        let bound = ZSTD_compressBound(source.count)
        if isError(bound) {
            throw CompressionFailure(detail: "input too large for zstd: \(errorName(bound))")
        }
        var failure: String?
        let output = [UInt8](unsafeUninitializedCapacity: max(bound, 1)) { buffer, initialized in
            let rc = ZSTD_compress2(
                cctx, buffer.baseAddress, buffer.count, source.baseAddress, source.count)
            if isError(rc) {
                failure = errorName(rc)
                initialized = 0
            } else {
                initialized = rc
            }
        }
        if let failure { throw CompressionFailure(detail: "zstd compression failed: \(failure)") }
        return output
    }

    enum DecompressionFailure: Error {
        case truncated
        case corrupt(String)
    }

    /// Decompresses exactly one zstd frame that must span all of `source`.
    ///
    /// Truncation (the input ends before the frame does) and corruption (any zstd error,
    /// including a content-checksum mismatch, a frame without a checksum, or bytes after the end
    /// of the frame) are reported separately. The output buffer is sized from the declared
    /// content size only up to a multiple of the input size and otherwise grows geometrically,
    /// so a damaged size field cannot trigger a huge allocation.
    static func decompressSingleFrame(_ source: UnsafeRawBufferPointer) throws(DecompressionFailure)
        -> [UInt8]
    {
        let declared = try checkedContentSize(source)
        var capacity: Int
        if declared != contentSizeUnknown {
            let cap = UInt64(max(1 << 20, source.count)) &* 64
            capacity = Int(min(declared, cap))
        } else {
            capacity = max(1 << 16, source.count &* 4)
        }
        capacity = max(capacity, 64)

        guard let dstream = ZSTD_createDStream() else {
            throw .corrupt("ZSTD_createDStream failed")
        }
        defer { ZSTD_freeDStream(dstream) }
        let initRC = ZSTD_initDStream(dstream)
        if isError(initRC) { throw .corrupt("zstd: \(errorName(initRC))") }

        var output = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        var consumed = 0
        var frameEnded = false
        while true {
            let before = (consumed, produced)
            var failure: String?
            output.withUnsafeMutableBytes { dst in
                var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: consumed)
                var out = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: produced)
                let rc = ZSTD_decompressStream(dstream, &out, &input)
                consumed = input.pos
                produced = out.pos
                if isError(rc) {
                    failure = errorName(rc)
                } else if rc == 0 {
                    frameEnded = true
                }
            }
            if let failure { throw .corrupt("zstd: \(failure)") }
            if frameEnded { break }
            if produced == output.count {
                // Output full: grow and call again (the decoder may hold more to flush).
                let (grown, overflow) = output.count.multipliedReportingOverflow(by: 2)
                if overflow { throw .corrupt("decompressed size overflows") }
                output.append(contentsOf: [UInt8](repeating: 0, count: grown - output.count))
                continue
            }
            // Output not full and frame not finished: the decoder is waiting for more input.
            if consumed == source.count { throw .truncated }
            if before == (consumed, produced) { throw .corrupt("zstd made no progress") }
        }
        if consumed != source.count {
            throw .corrupt(
                "\(source.count - consumed) unexpected bytes after the end of the zstd frame")
        }
        if declared != contentSizeUnknown && UInt64(produced) != declared {
            throw .corrupt("the frame declares \(declared) bytes but \(produced) were decoded")
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Checks the frame header (magic, Frame_Header_Descriptor, then optional window
    /// descriptor, dictionary id and frame content size, whose sizes the descriptor gives)
    /// and returns the declared content size, or `contentSizeUnknown`.
    private static func checkedContentSize(_ source: UnsafeRawBufferPointer) throws(DecompressionFailure)
        -> UInt64
    {
        guard source.count >= 5 else { throw .truncated }
        let descriptor = source[4]
        guard descriptor & 0x08 == 0 else {
            throw .corrupt("invalid zstd frame header (reserved bit set)")
        }
        // Content_Checksum_flag: demand it, so the content is always verified.
        guard descriptor & 0x04 != 0 else {
            throw .corrupt("the zstd frame has no content checksum")
        }
        let singleSegment = descriptor & 0x20 != 0
        let dictionaryIDSize = [0, 1, 2, 4][Int(descriptor & 0x03)]
        let contentSizeSize = [singleSegment ? 1 : 0, 2, 4, 8][Int(descriptor >> 6)]
        let headerSize = 5 + (singleSegment ? 0 : 1) + dictionaryIDSize + contentSizeSize
        if headerSize > source.count { throw .truncated }
        let declared = ZSTD_getFrameContentSize(source.baseAddress, source.count)
        if declared == contentSizeError {
            throw .corrupt("invalid zstd frame header")
        }
        return declared
    }
}
