#pragma once
// JPEG (libjpeg) and PNG (libpng) decoding and encoding for Sequent's image uploads.
//
// Both libraries report fatal errors by longjmp-ing out of a callback. Swift must never be on the stack between a
// setjmp and its longjmp (the jump would skip Swift's cleanups and reference counting), so every libjpeg/libpng
// call lives in image_codecs.c behind these plain C functions, which return NULL plus a message instead. Nothing
// here prints to stderr.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Formats the decoders recognise (by magic bytes, never by name).
enum {
    SEQUENT_IMAGE_FORMAT_UNKNOWN = 0,
    SEQUENT_IMAGE_FORMAT_JPEG = 1,
    SEQUENT_IMAGE_FORMAT_PNG = 2,
};

/// Outcome of a decode (`*status`).
enum {
    SEQUENT_IMAGE_OK = 0,
    /// The data is not a well-formed image of its format (including truncation and libjpeg's corrupt-data
    /// warnings); the message says what was wrong.
    SEQUENT_IMAGE_CORRUPT = 1,
    /// width × height exceeds `max_pixels`; `info` holds the dimensions. Nothing was allocated for pixels.
    SEQUENT_IMAGE_TOO_LARGE = 2,
    /// Neither JPEG nor PNG.
    SEQUENT_IMAGE_UNSUPPORTED = 3,
    /// malloc failed.
    SEQUENT_IMAGE_NO_MEMORY = 4,
};

/// What a header says about an image.
typedef struct sequent_image_info {
    int format;          ///< SEQUENT_IMAGE_FORMAT_*
    uint32_t width;      ///< as stored, before any EXIF rotation
    uint32_t height;
    /// Interleaved 8-bit channels the decoder delivers: JPEG 1 (gray) or 3 (RGB; CMYK/YCCK are converted);
    /// PNG 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). Palette and tRNS transparency are expanded.
    int channels;
    /// EXIF orientation 1...8 (JPEG APP1 "Exif", PNG eXIf); 1 when absent or malformed.
    int orientation;
} sequent_image_info;

/// Reads only the header of a JPEG or PNG: dimensions, channels and orientation. Returns a SEQUENT_IMAGE_* status
/// (never TOO_LARGE); on failure `err` (if not NULL) receives a NUL-terminated message.
int sequent_image_read_info(const uint8_t *data, size_t length, sequent_image_info *info,
                            char *err, size_t err_len);

/// Decodes a JPEG or PNG to interleaved 8-bit pixels, `info->channels` per pixel, row-major, no padding.
/// The header is checked against `max_pixels` before anything is allocated for pixels or decompressed
/// (decompression-bomb guard). Returns malloc'd `width * height * channels` bytes (release with
/// sequent_image_free), or NULL with `*status` set and a message in `err`. EXIF orientation is reported in
/// `info`, not applied; alpha is delivered, not composited.
uint8_t *sequent_image_decode(const uint8_t *data, size_t length, uint64_t max_pixels, sequent_image_info *info,
                              int *status, char *err, size_t err_len);

/// `sequent_image_decode` for an image that will be resized to `target_width` × `target_height` (as displayed,
/// i.e. after EXIF orientation; 0 × 0 = no target). A JPEG at least 4× that is decoded with libjpeg's DCT
/// scaling (M/8, M ≤ 4) to a smaller size that is still at least twice the target in both dimensions, which skips most
/// of the inverse DCT, colour conversion and memory of a full-size decode; `info` then holds the scaled size.
/// `max_pixels` still applies to the header's (full) size. PNGs are always decoded at full size.
/// `luma` (nonzero) is for a caller that wants gray: a colour (YCbCr or RGB) JPEG that is DCT-scaled is then
/// delivered as its luma, 1 channel, without the chroma's inverse DCT, upsampling and colour conversion. A decode
/// at full size, CMYK, YCCK and PNG ignore it.
uint8_t *sequent_image_decode_for(const uint8_t *data, size_t length, uint64_t max_pixels, uint32_t target_width,
                                  uint32_t target_height, int luma, sequent_image_info *info, int *status,
                                  char *err, size_t err_len);

/// Encodes 8-bit interleaved pixels as JPEG into a malloc'd buffer (`*out_length` bytes; sequent_image_free).
/// - channels: 1 = gray, 3 = RGB, 4 = CMYK in Adobe's inverted convention (255 = no ink, as Photoshop stores it);
///   4-channel files get the Adobe APP14 marker libjpeg writes for CMYK and YCCK.
/// - ycck: with channels 4, store as YCCK (Adobe transform 2) instead of plain CMYK.
/// - quality 1...100; progressive: write a progressive (multi-scan) file.
/// - exif_orientation 1...8 writes an APP1 "Exif" segment whose IFD0 holds that Orientation tag (0 = no
///   segment), in little-endian ("II") TIFF byte order when exif_little_endian, else big-endian ("MM").
/// Returns NULL with a message in `err` on invalid arguments.
uint8_t *sequent_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                             int progressive, int exif_orientation, int exif_little_endian, int ycck,
                             size_t *out_length, char *err, size_t err_len);

/// PNG colour types (the values of the IHDR field).
enum {
    SEQUENT_PNG_GRAY = 0,
    SEQUENT_PNG_RGB = 2,
    SEQUENT_PNG_PALETTE = 3,
    SEQUENT_PNG_GRAY_ALPHA = 4,
    SEQUENT_PNG_RGBA = 6,
};

/// Encodes a PNG into a malloc'd buffer (`*out_length` bytes; sequent_image_free).
/// - samples: width * height * channels values, one per sample whatever the bit depth (they must fit in it);
///   for SEQUENT_PNG_PALETTE they are palette indices (one channel).
/// - bit_depth: gray 1, 2, 4, 8, 16; palette 1, 2, 4, 8; the other types 8 or 16.
/// - palette_rgb: palette_count RGB triples (palette type only); trns_alpha: trns_count alphas for the first
///   palette entries (tRNS; 0 = none). trns_color: for gray (1 value) or RGB (3 values) the colour that is fully
///   transparent, or NULL.
/// - interlaced: Adam7. exif_orientation 1...8 adds an eXIf chunk (0 = none).
uint8_t *sequent_encode_png(const uint16_t *samples, int width, int height, int color_type, int bit_depth,
                            int interlaced, const uint8_t *palette_rgb, int palette_count,
                            const uint8_t *trns_alpha, int trns_count, const uint16_t *trns_color,
                            int exif_orientation, size_t *out_length, char *err, size_t err_len);

/// Releases a buffer returned by this module.
void sequent_image_free(void *pointer);

#ifdef __cplusplus
}
#endif
