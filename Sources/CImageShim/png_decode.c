// PNG decoding with libpng from a memory buffer. Every libpng call happens below `run`'s
// setjmp, so png_error's longjmp lands in C and becomes MOE_IMAGE_CORRUPT + message.
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "CImageShim.h"
#include "message.h"

/// The buffer libpng reads from, and where its error text goes.
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *message;
    size_t message_size;
} png_source;

static void read_bytes(png_structp png, png_bytep out, size_t count) {
    png_source *source = (png_source *)png_get_io_ptr(png);
    if (count > source->size - source->offset) {
        png_error(png, "unexpected end of file (the PNG is truncated)");
    }
    memcpy(out, source->data + source->offset, count);
    source->offset += count;
}

static void on_error(png_structp png, png_const_charp text) {
    png_source *source = (png_source *)png_get_error_ptr(png);
    moe_copy_message(source->message, source->message_size, text);
    png_longjmp(png, 1);
}

/// Warnings (bad ancillary chunks, sRGB profile notes, …) are ignored, as Pillow does.
static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

/// Sets libpng's transformations for `mode` and returns the output channels (1 or 3), or 0
/// with `*why` set when the layout is unsupported. `*keep16` is set for 16-bit gray, which
/// is read at 16 bits and clipped afterwards (Pillow opens it as mode "I": 0…65535, and
/// convert("L"/"RGB") clips to 255); every other 16-bit sample keeps its high byte, as
/// Pillow's "…;16B" raw modes do.
static int configure(png_structp png, png_infop info, moe_png_mode mode, int *keep16, const char **why) {
    int depth = png_get_bit_depth(png, info);
    int type = png_get_color_type(png, info);
    *keep16 = 0;
    if (mode == MOE_PNG_LABELS) {
        if ((type & PNG_COLOR_MASK_COLOR) != 0 && type != PNG_COLOR_TYPE_PALETTE) {
            *why = "an RGB or RGBA PNG holds colours, not class indices; expected a palette or grayscale PNG";
            return 0;
        }
        if (depth == 16) {
            *why = "16-bit label PNGs are not supported; expected an 8-bit (or fewer) palette or grayscale PNG";
            return 0;
        }
        if (depth < 8) {
            png_set_packing(png);
        }
        if ((type & PNG_COLOR_MASK_ALPHA) != 0) {
            png_set_strip_alpha(png);
        }
        return 1;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (depth == 16 && type == PNG_COLOR_TYPE_GRAY) {
        *keep16 = 1;
    } else if (depth == 16) {
        png_set_strip_16(png);
    }
    if ((type & PNG_COLOR_MASK_ALPHA) != 0
        || (type == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS) != 0)) {
        png_set_strip_alpha(png);
    }
    return (type & PNG_COLOR_MASK_COLOR) != 0 ? 3 : 1;
}

/// Pillow's mode "I" → "L": each big-endian 16-bit sample v becomes min(v, 255).
static void clip16(const uint8_t *wide, uint8_t *pixels, size_t count) {
    for (size_t i = 0; i < count; i++) {
        unsigned v = ((unsigned)wide[2 * i] << 8) | wide[2 * i + 1];
        pixels[i] = (uint8_t)(v > 255 ? 255 : v);
    }
}

static int finish(png_structp *png, png_infop *info, png_bytep *rows, uint8_t *wide, int status) {
    free(rows);
    free(wide);
    png_destroy_read_struct(png, info, NULL);
    return status;
}

/// Header only when `pixels` is NULL; otherwise header + image into `pixels`.
static int run(
    const uint8_t *data, size_t size, moe_png_mode mode, moe_image_info *result, uint8_t *pixels, size_t capacity,
    char *message, size_t message_size) {
    png_source source = {data, size, 0, message, message_size};
    moe_copy_message(message, message_size, "");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_error, on_warning);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    if (info == NULL) {
        moe_copy_message(message, message_size, "libpng could not allocate its read structures");
        return finish(&png, &info, NULL, NULL, MOE_IMAGE_NO_MEMORY);
    }
    png_bytep *volatile rows = NULL;
    uint8_t *volatile wide = NULL;
    if (setjmp(png_jmpbuf(png))) {
        return finish(&png, &info, rows, wide, MOE_IMAGE_CORRUPT);
    }
    png_set_read_fn(png, &source, read_bytes);
    png_set_benign_errors(png, 1);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);  // MoEImage bounds width · height
    png_read_info(png, info);
    int keep16 = 0;
    const char *why = "";
    int channels = configure(png, info, mode, &keep16, &why);
    if (channels == 0) {
        moe_copy_message(message, message_size, why);
        return finish(&png, &info, rows, wide, MOE_IMAGE_UNSUPPORTED);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    *result = (moe_image_info){
        width, height, channels, png_get_bit_depth(png, info), png_get_color_type(png, info),
        png_get_interlace_type(png, info) != PNG_INTERLACE_NONE};
    if (pixels == NULL) {
        return finish(&png, &info, rows, wide, MOE_IMAGE_OK);
    }
    size_t stride = 0, total = 0, rowbytes = png_get_rowbytes(png, info), wideTotal = 0;
    if (!moe_multiply(width, (size_t)channels, &stride) || !moe_multiply(stride, height, &total) || total != capacity
        || png_get_channels(png, info) != channels || rowbytes != (keep16 ? 2 * stride : stride)) {
        moe_copy_message(message, message_size, "output buffer does not match the PNG's decoded size");
        return finish(&png, &info, rows, wide, MOE_IMAGE_BAD_BUFFER);
    }
    rows = malloc((size_t)height * sizeof(png_bytep));
    if (keep16 && moe_multiply(rowbytes, height, &wideTotal)) {
        wide = malloc(wideTotal);
    }
    if (rows == NULL || (keep16 && wide == NULL)) {
        moe_copy_message(message, message_size, "out of memory decoding the PNG");
        return finish(&png, &info, rows, wide, MOE_IMAGE_NO_MEMORY);
    }
    for (png_uint_32 y = 0; y < height; y++) {
        rows[y] = keep16 ? wide + (size_t)y * rowbytes : pixels + (size_t)y * stride;
    }
    // Rows after the image data (and IEND) are not read: like Pillow, a file whose image
    // data is complete decodes even if its tail is missing.
    png_read_image(png, rows);
    if (keep16) {
        clip16(wide, pixels, total);
    }
    return finish(&png, &info, rows, wide, MOE_IMAGE_OK);
}

int moe_png_info(
    const uint8_t *data, size_t size, moe_png_mode mode, moe_image_info *info, char *message,
    size_t message_size) {
    return run(data, size, mode, info, NULL, 0, message, message_size);
}

int moe_png_decode(
    const uint8_t *data, size_t size, moe_png_mode mode, uint8_t *pixels, size_t capacity,
    char *message, size_t message_size) {
    moe_image_info info;
    if (pixels == NULL) {
        moe_copy_message(message, message_size, "no output buffer");
        return MOE_IMAGE_BAD_BUFFER;
    }
    return run(data, size, mode, &info, pixels, capacity, message, message_size);
}
