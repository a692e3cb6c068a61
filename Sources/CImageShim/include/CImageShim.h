// CImageShim: PNG and JPEG decoding from memory buffers, for MoEImage.
//
// libpng reports errors by longjmp (png_error) and libjpeg by calling error_exit, which must
// not return. Every library call here runs inside a C function that has set its own setjmp
// target, so no longjmp ever crosses a Swift frame: errors come back as a status code plus a
// NUL-terminated message in the caller's buffer.
//
// Each decode is two stateless calls: *_info parses the header (cheap, nothing large is
// allocated) so the caller can check the size and allocate the output; *_decode parses the
// header again and writes the pixels into that buffer, row-major, channels interleaved.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes of every moe_* call.
typedef enum {
    MOE_IMAGE_OK = 0,
    /// The library rejected the data (corrupt or truncated); the message says why.
    MOE_IMAGE_CORRUPT = 1,
    /// A JPEG in CMYK or YCCK.
    MOE_IMAGE_CMYK = 2,
    /// A valid file whose layout this shim does not decode; the message says which.
    MOE_IMAGE_UNSUPPORTED = 3,
    /// `capacity` is not width · height · channels of the decoded image.
    MOE_IMAGE_BAD_BUFFER = 4,
    /// malloc failed.
    MOE_IMAGE_NO_MEMORY = 5,
} moe_image_status;

/// How PNG samples are turned into output bytes.
typedef enum {
    /// Pillow-compatible pixels: 8-bit gray (1 channel) or RGB (3); palettes expanded, alpha
    /// and tRNS dropped, 16-bit gray clipped to 255 (Pillow's mode "I"), other 16-bit
    /// samples truncated to their high byte, 1/2/4-bit gray scaled to 0…255.
    MOE_PNG_PIXELS = 0,
    /// Raw samples for label images: palette indices, or gray values (bit depth ≤ 8, not
    /// scaled); alpha dropped. RGB, RGBA and 16-bit files are MOE_IMAGE_UNSUPPORTED.
    MOE_PNG_LABELS = 1,
} moe_png_mode;

/// What a header says, and what decode will write.
typedef struct {
    /// Image size in the file (JPEG: before any DCT scaling).
    uint32_t width;
    uint32_t height;
    /// Channels decode writes per pixel: 1 (gray or labels) or 3 (RGB).
    int32_t channels;
    /// PNG: bit depth and color type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA).
    /// JPEG: 8 and the J_COLOR_SPACE of the file.
    int32_t bit_depth;
    int32_t color_type;
    /// PNG Adam7 interlacing, JPEG progressive mode.
    int32_t interlaced;
} moe_image_info;

/// Parses the PNG header in `data[0..<size]` into `info`.
int moe_png_info(
    const uint8_t *data, size_t size, moe_png_mode mode, moe_image_info *info, char *message,
    size_t message_size);

/// Decodes the PNG into `pixels`, which must hold exactly width · height · channels bytes as
/// moe_png_info reported for the same `mode`.
int moe_png_decode(
    const uint8_t *data, size_t size, moe_png_mode mode, uint8_t *pixels, size_t capacity,
    char *message, size_t message_size);

/// Parses the JPEG header in `data[0..<size]` into `info` (gray → 1 channel, YCbCr/RGB → 3).
int moe_jpeg_info(const uint8_t *data, size_t size, moe_image_info *info, char *message, size_t message_size);

/// Decodes the JPEG at 1/`scale_denom` size (1, 2, 4 or 8; each side ⌈side / scale_denom⌉)
/// into `pixels` (exactly out_width · out_height · channels bytes), with the accurate
/// integer IDCT (JDCT_ISLOW) and fancy upsampling, libjpeg's and Pillow's defaults.
int moe_jpeg_decode(
    const uint8_t *data, size_t size, unsigned scale_denom, uint8_t *pixels, size_t capacity, char *message,
    size_t message_size);

/// Encodes width · height · channels (1 gray, 3 RGB) interleaved 8-bit `pixels` as a PNG
/// (default zlib level, no filter heuristics beyond libpng's) into a buffer allocated with
/// malloc: `*output` and `*output_size` on MOE_IMAGE_OK; release it with moe_png_free.
int moe_png_encode(
    const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels, uint8_t **output,
    size_t *output_size, char *message, size_t message_size);

/// Frees a buffer returned by moe_png_encode.
void moe_png_free(uint8_t *buffer);

#ifdef __cplusplus
}
#endif
