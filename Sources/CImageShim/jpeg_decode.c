// JPEG decoding with libjpeg(-turbo) from a memory buffer. error_exit longjmps back to
// `run`'s setjmp, so library errors become MOE_IMAGE_CORRUPT + message.
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "CImageShim.h"
#include "message.h"

/// libjpeg's error manager extended with the jump target and the caller's message buffer.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
    size_t message_size;
} jpeg_failure;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    moe_copy_message(failure->message, failure->message_size, text);
    longjmp(failure->jump, 1);
}

/// Warnings are ignored (Pillow ignores them too), except running out of data: jpeg_mem_src
/// then inserts a fake EOI and goes on, but Pillow reports "image file is truncated", so a
/// premature end is an error here as well.
static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        on_error_exit(cinfo);
    }
}

/// Chooses the output colour space for the file's: gray stays gray, YCbCr and RGB become
/// RGB; CMYK/YCCK and anything else are refused (status returned, message written).
static int choose_output(j_decompress_ptr cinfo, int *channels, char *message, size_t message_size) {
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        *channels = 1;
        return MOE_IMAGE_OK;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_RGB;
        *channels = 3;
        return MOE_IMAGE_OK;
    case JCS_CMYK:
    case JCS_YCCK:
        moe_copy_message(message, message_size, "CMYK JPEG");
        return MOE_IMAGE_CMYK;
    default: {
        char text[96];
        snprintf(
            text, sizeof text, "a JPEG with %d components in colour space %d is not supported",
            cinfo->num_components, (int)cinfo->jpeg_color_space);
        moe_copy_message(message, message_size, text);
        return MOE_IMAGE_UNSUPPORTED;
    }
    }
}

/// Reads every scanline into `pixels` (rows of `stride` bytes).
static int read_rows(j_decompress_ptr cinfo, uint8_t *pixels, size_t stride, char *message, size_t message_size) {
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = pixels + (size_t)cinfo->output_scanline * stride;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
            moe_copy_message(message, message_size, "libjpeg returned no scanline");
            return MOE_IMAGE_CORRUPT;
        }
    }
    return MOE_IMAGE_OK;
}

/// Header only when `pixels` is NULL; otherwise header + image at 1/scale_denom size.
static int run(
    const uint8_t *data, size_t size, moe_image_info *result, unsigned scale_denom, uint8_t *pixels,
    size_t capacity, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    memset(&cinfo, 0, sizeof cinfo);
    moe_copy_message(message, message_size, "");
    cinfo.err = jpeg_std_error(&failure.pub);
    failure.pub.error_exit = on_error_exit;
    failure.pub.emit_message = on_message;
    failure.message = message;
    failure.message_size = message_size;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return MOE_IMAGE_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    int channels = 0;
    int status = choose_output(&cinfo, &channels, message, message_size);
    *result = (moe_image_info){
        cinfo.image_width, cinfo.image_height, channels, 8, (int32_t)cinfo.jpeg_color_space,
        jpeg_has_multiple_scans(&cinfo) ? 1 : 0};
    if (status != MOE_IMAGE_OK || pixels == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.scale_num = 1;
    cinfo.scale_denom = scale_denom;
    jpeg_start_decompress(&cinfo);
    size_t stride = 0, total = 0;
    if (!moe_multiply(cinfo.output_width, (size_t)cinfo.output_components, &stride)
        || !moe_multiply(stride, cinfo.output_height, &total) || total != capacity) {
        moe_copy_message(message, message_size, "output buffer does not match the JPEG's decoded size");
        jpeg_destroy_decompress(&cinfo);
        return MOE_IMAGE_BAD_BUFFER;
    }
    status = read_rows(&cinfo, pixels, stride, message, message_size);
    if (status == MOE_IMAGE_OK) {
        jpeg_finish_decompress(&cinfo);
    }
    jpeg_destroy_decompress(&cinfo);
    return status;
}

int moe_jpeg_info(const uint8_t *data, size_t size, moe_image_info *info, char *message, size_t message_size) {
    return run(data, size, info, 1, NULL, 0, message, message_size);
}

int moe_jpeg_decode(
    const uint8_t *data, size_t size, unsigned scale_denom, uint8_t *pixels, size_t capacity, char *message,
    size_t message_size) {
    moe_image_info info;
    if (pixels == NULL || (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 && scale_denom != 8)) {
        moe_copy_message(message, message_size, "no output buffer, or a scale other than 1/1, 1/2, 1/4, 1/8");
        return MOE_IMAGE_BAD_BUFFER;
    }
    return run(data, size, &info, scale_denom, pixels, capacity, message, message_size);
}
