import Foundation

/// Runs a Python script (Debian's /usr/bin/python3 with Pillow and NumPy, or $MOE_PYTHON)
/// that writes test fixtures; throws with its output when it fails.
enum Python {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ script: String, arguments: [String]) throws {
        let python = ProcessInfo.processInfo.environment["MOE_PYTHON"] ?? "/usr/bin/python3"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "\(python) failed (it needs python3-pil and numpy; scripts/setup.sh installs them): "
                    + String(decoding: output, as: UTF8.self))
        }
    }

    /// A Fashion-MNIST slice (first `train`/`val` images of each split) as a PNG ImageFolder
    /// `root/png/{train,val}/<label>-<name>/<index>.png`, plus the same images as IDX gz files
    /// in `root/idx/`, ordered as the folder source reads them (class, then file name).
    static let fashionSlice = """
        import gzip, os, sys
        import numpy as np
        from PIL import Image
        root, n_train, n_val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        src = "/usr/share/datasets/fashion-mnist"
        def idx(path, offset):
            with gzip.open(os.path.join(src, path)) as f:
                return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
        os.makedirs(os.path.join(root, "idx"), exist_ok=True)
        for split, prefix, n in [("train", "train", n_train), ("val", "t10k", n_val)]:
            images = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:n]
            labels = idx(f"{prefix}-labels-idx1-ubyte.gz", 8)[:n]
            for i, (image, label) in enumerate(zip(images, labels)):
                d = os.path.join(root, "png", split, f"{label}-class")
                os.makedirs(d, exist_ok=True)
                Image.fromarray(image, "L").save(os.path.join(d, f"{i:05d}.png"))
            order = sorted(range(n), key=lambda i: (labels[i], i))
            header = np.array([2051, n, 28, 28], dtype=">u4").tobytes()
            with gzip.open(os.path.join(root, "idx", f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
                f.write(header + images[order].tobytes())
            with gzip.open(os.path.join(root, "idx", f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
                f.write(np.array([2049, n], dtype=">u4").tobytes() + labels[order].tobytes())
        """
}
