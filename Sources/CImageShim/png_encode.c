// PNG encoding with libpng into a growing memory buffer. Every libpng call happens below
// moe_png_encode's setjmp, so png_error's longjmp lands in C and becomes a status code.
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "CImageShim.h"
#include "message.h"

/// The growing output buffer and where libpng's error text goes.
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    int out_of_memory;
    char *message;
    size_t message_size;
} png_sink;

static void write_bytes(png_structp png, png_bytep bytes, size_t count) {
    png_sink *sink = (png_sink *)png_get_io_ptr(png);
    if (count > SIZE_MAX - sink->size) {
        sink->out_of_memory = 1;
        png_error(png, "PNG output too large");
    }
    if (sink->size + count > sink->capacity) {
        size_t wanted = sink->capacity < 4096 ? 4096 : sink->capacity;
        while (wanted < sink->size + count) {
            wanted = wanted > SIZE_MAX / 2 ? sink->size + count : wanted * 2;
        }
        uint8_t *grown = (uint8_t *)realloc(sink->data, wanted);
        if (grown == NULL) {
            sink->out_of_memory = 1;
            png_error(png, "out of memory while encoding a PNG");
        }
        sink->data = grown;
        sink->capacity = wanted;
    }
    memcpy(sink->data + sink->size, bytes, count);
    sink->size += count;
}

static void flush_bytes(png_structp png) { (void)png; }

static void on_encode_error(png_structp png, png_const_charp text) {
    png_sink *sink = (png_sink *)png_get_error_ptr(png);
    moe_copy_message(sink->message, sink->message_size, text);
    png_longjmp(png, 1);
}

static void on_encode_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

int moe_png_encode(
    const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels, uint8_t **output,
    size_t *output_size, char *message, size_t message_size) {
    *output = NULL;
    *output_size = 0;
    if ((channels != 1 && channels != 3) || width == 0 || height == 0) {
        moe_copy_message(message, message_size, "PNG encoding needs 1 or 3 channels and a non-empty image");
        return MOE_IMAGE_UNSUPPORTED;
    }
    png_sink sink = {NULL, 0, 0, 0, message, message_size};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_encode_error, on_encode_warning);
    if (png == NULL) {
        return MOE_IMAGE_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return MOE_IMAGE_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink.data);
        return sink.out_of_memory ? MOE_IMAGE_NO_MEMORY : MOE_IMAGE_CORRUPT;
    }
    png_set_write_fn(png, &sink, write_bytes, flush_bytes);
    int type = channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(
        png, info, width, height, 8, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
        PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *output = sink.data;
    *output_size = sink.size;
    return MOE_IMAGE_OK;
}

void moe_png_free(uint8_t *buffer) { free(buffer); }
