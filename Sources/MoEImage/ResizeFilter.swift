/// How `DecodedImage` resizes.
public enum ResizeFilter: Sendable, Equatable {
    /// Pillow's `Image.BILINEAR`, bit-exact: a triangle filter whose support widens with the
    /// downscale factor (so downscaling is antialiased, each output pixel averaging all the
    /// source pixels under it), applied horizontally then vertically with 22-bit fixed-point
    /// weights and rounding to 8 bits after each pass (`BilinearResampler`).
    case bilinear
    /// Nearest neighbour: output index i takes source index ⌊(i + ½) · in / out⌋, computed in
    /// integers. Never blends values, so use it for label masks (class-index images).
    case nearest
}
