// JPEG and PNG codecs for uploads; see include/image_codecs.h. All setjmp/longjmp stays in this file.
#include "image_codecs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h> /* jpeglib.h uses FILE and size_t without including anything: stdio.h must come first */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* A progressive JPEG may have any number of scans, and each one walks every block of the image, so a small
 * crafted file can keep a decoder busy for minutes. Real encoders write about 10; libjpeg-turbo's own fuzzers and
 * its TurboJPEG scan limit use 500. */
#define SEQUENT_JPEG_MAX_SCANS 500

/* Ancillary PNG chunks (text, ICC profiles) are bounded so a compressed chunk cannot balloon in memory. */
#define SEQUENT_PNG_MAX_CHUNK_BYTES (8u << 20)

static void set_error(char *err, size_t err_len, const char *format, ...) {
    if (err == NULL || err_len == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(err, err_len, format, args);
    va_end(args);
}

/* ---------------------------------------------------------------------------------------------------------------
 * EXIF orientation
 * ------------------------------------------------------------------------------------------------------------- */

static uint32_t read16(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t read32(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The Orientation tag (0x0112) of IFD0 in a TIFF structure (byte-order mark onwards), or 0 when there is none
 * or the structure is malformed. Every offset comes from the (untrusted) file, so each is checked against `n`
 * before use; arithmetic is done in size_t from values no larger than n, so it cannot overflow. */
static int tiff_orientation(const uint8_t *p, size_t n) {
    if (n < 8) return 0;
    int little;
    if (p[0] == 'I' && p[1] == 'I') little = 1;
    else if (p[0] == 'M' && p[1] == 'M') little = 0;
    else return 0;
    if (read16(p + 2, little) != 42) return 0;
    size_t ifd = read32(p + 4, little);
    if (ifd < 8 || ifd > n - 2) return 0;
    size_t count = read16(p + ifd, little);
    for (size_t i = 0; i < count; i++) {
        size_t entry = ifd + 2 + 12 * i;
        if (entry > n - 12) return 0;
        if (read16(p + entry, little) != 0x0112) continue;
        uint32_t type = read16(p + entry + 2, little), values = read32(p + entry + 4, little);
        uint32_t value;
        if (type == 3 && values >= 1) value = read16(p + entry + 8, little); /* SHORT, the standard type */
        else if (type == 4 && values == 1) value = read32(p + entry + 8, little); /* LONG: some writers use it */
        else return 0;
        return value >= 1 && value <= 8 ? (int)value : 0;
    }
    return 0;
}

/* The TIFF payload of an EXIF block holding one IFD0 with a Make tag (so readers must skip an entry) and the
 * Orientation tag. Returns its length, TIFF_ORIENTATION_LENGTH. */
#define TIFF_ORIENTATION_LENGTH (8 + 2 + 2 * 12 + 4) /* header, entry count, 2 entries, next-IFD offset */

static size_t build_tiff_orientation(uint8_t out[TIFF_ORIENTATION_LENGTH], int orientation, int little) {
    size_t at = 0;
#define PUT16(v)                                                                                                  \
    do {                                                                                                          \
        uint32_t v_ = (uint32_t)(v);                                                                              \
        if (little) { out[at++] = (uint8_t)v_; out[at++] = (uint8_t)(v_ >> 8); }                                  \
        else { out[at++] = (uint8_t)(v_ >> 8); out[at++] = (uint8_t)v_; }                                         \
    } while (0)
#define PUT32(v)                                                                                                  \
    do {                                                                                                          \
        uint32_t w_ = (uint32_t)(v);                                                                              \
        if (little) { PUT16(w_ & 0xFFFF); PUT16(w_ >> 16); }                                                      \
        else { PUT16(w_ >> 16); PUT16(w_ & 0xFFFF); }                                                             \
    } while (0)
    out[at++] = little ? 'I' : 'M';
    out[at++] = little ? 'I' : 'M';
    PUT16(42);
    PUT32(8);     /* IFD0 right after the header */
    PUT16(2);     /* two entries */
    PUT16(0x010F); /* Make, ASCII, 4 bytes stored inline */
    PUT16(2);
    PUT32(4);
    out[at++] = 'S'; out[at++] = 'e'; out[at++] = 'q'; out[at++] = 0;
    PUT16(0x0112); /* Orientation, SHORT, 1 value, left-justified in the 4-byte field */
    PUT16(3);
    PUT32(1);
    PUT16(orientation);
    PUT16(0);
    PUT32(0);     /* no next IFD */
#undef PUT16
#undef PUT32
    return at; /* == TIFF_ORIENTATION_LENGTH */
}

/* ---------------------------------------------------------------------------------------------------------------
 * Growable output buffer (both encoders)
 * ------------------------------------------------------------------------------------------------------------- */

struct growable {
    uint8_t *data;
    size_t length, capacity;
};

static int append(struct growable *b, const void *bytes, size_t n) {
    if (n > b->capacity - b->length) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity - b->length < n) {
            if (capacity > SIZE_MAX / 2) return 0;
            capacity *= 2;
        }
        uint8_t *grown = realloc(b->data, capacity);
        if (grown == NULL) return 0;
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
    return 1;
}

/* ---------------------------------------------------------------------------------------------------------------
 * JPEG
 * ------------------------------------------------------------------------------------------------------------- */

struct jpeg_failure {
    struct jpeg_error_mgr pub; /* must be first: libjpeg hands back cinfo->err */
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 64];
};

static void jpeg_fail(j_common_ptr cinfo) {
    struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, f->message);
    longjmp(f->jump, 1); /* never returns into libjpeg; the caller destroys cinfo */
}

static void jpeg_stay_silent(j_common_ptr cinfo) { (void)cinfo; }

/* Warnings that say nothing about the pixels: an unknown JFIF version, an unknown Adobe transform code (libjpeg
 * then guesses from the component count, as every viewer does), a malformed ICC profile we never use, and junk
 * bytes right before EOI, which many cameras write after a complete image. */
static int jpeg_warning_is_benign(j_common_ptr cinfo) {
    switch (cinfo->err->msg_code) {
    case JWRN_JFIF_MAJOR:
    case JWRN_ADOBE_XFORM:
    case JWRN_BOGUS_ICC:
        return 1;
    case JWRN_EXTRANEOUS_DATA:
        return cinfo->err->msg_parm.i[1] == 0xD9;
    default:
        return 0;
    }
}

/* libjpeg reports truncated and corrupt entropy data as warnings and carries on, padding the picture with grey.
 * An upload like that must be refused, so any other warning fails the decode at once. Trace messages
 * (msg_level >= 0) are ignored. */
static void jpeg_warning_fails(j_common_ptr cinfo, int msg_level) {
    if (msg_level >= 0 || jpeg_warning_is_benign(cinfo)) return;
    jpeg_fail(cinfo);
}

static void jpeg_limit_scans(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > SEQUENT_JPEG_MAX_SCANS) {
        struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
        snprintf(f->message, sizeof f->message, "more than %d progressive scans", SEQUENT_JPEG_MAX_SCANS);
        longjmp(f->jump, 1);
    }
}

static int jpeg_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
        /* "Exif\0" then a pad byte that should be 0 but is 0xFF in some files */
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 || memcmp(m->data, "Exif\0", 5) != 0) continue;
        int orientation = tiff_orientation(m->data + 6, m->data_length - 6);
        return orientation ? orientation : 1;
    }
    return 1;
}

/* One scanline of CMYK to RGB. Adobe's files (the ones with an APP14 marker, i.e. nearly all CMYK JPEGs) store
 * the channels inverted, 255 = no ink, so R = C·K/255; files without the marker store plain ink amounts. */
static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, size_t width, int inverted) {
    for (size_t x = 0; x < width; x++, src += 4, dst += 3) {
        unsigned c = src[0], m = src[1], y = src[2], k = src[3];
        if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
        dst[0] = (uint8_t)((c * k + 127) / 255);
        dst[1] = (uint8_t)((m * k + 127) / 255);
        dst[2] = (uint8_t)((y * k + 127) / 255);
    }
}

/* How much larger than the caller's target a DCT-scaled decode must stay, in each dimension. Scaling M/8 makes
 * each output sample (nearly) the mean of an 8/M-pixel square, computed from the DCT coefficients, so what it
 * loses is detail finer than one scaled pixel. The exact resize that follows is then still an area average over at
 * least 2×2 scaled pixels per output pixel: the fine detail it would have averaged away anyway is all that is
 * gone, and a rectangle's fractional edges (where "mean of the block" and "mean of the part covered" differ) weigh
 * at most half of it. 2× is also where Preprocessing switches bilinear to area averaging, so the scaled and the full
 * decode take the same resize path, and it is Pillow's practice (Image.thumbnail's reducing_gap = 2 before
 * draft()). Measured on 12 MP photos resized to 28×28, 150×150 and 224×224: the [0, 1] model input differs from
 * the full decode's by at most 0.03 and by 0.0008 on average (docs/DESIGN.md). */
#define SEQUENT_JPEG_SCALE_MARGIN 2

/* The largest DCT reduction M/8 whose output is still at least SEQUENT_JPEG_SCALE_MARGIN times the target in
 * both dimensions. libjpeg-turbo implements every M from 1 to 16, but only reductions to half or less are tried:
 * 5/8...7/8 save at most 60 % of the pixels and run a plain-C IDCT (1/8 is the DC term alone, 1/4 and 1/2 have
 * SIMD), so an image less than 4× the target is decoded at full size, exactly as before. The target is as
 * displayed, so it is swapped for orientations 5...8, which transpose the stored image. A zero target leaves the
 * decode at full size. */
static void jpeg_choose_scale(j_decompress_ptr cinfo, uint32_t target_width, uint32_t target_height,
                              int orientation) {
    if (target_width == 0 || target_height == 0) return;
    uint64_t want_w = (uint64_t)(orientation >= 5 ? target_height : target_width) * SEQUENT_JPEG_SCALE_MARGIN;
    uint64_t want_h = (uint64_t)(orientation >= 5 ? target_width : target_height) * SEQUENT_JPEG_SCALE_MARGIN;
    for (unsigned m = 1; m <= 4; m++) {
        cinfo->scale_num = m;
        cinfo->scale_denom = 8;
        jpeg_calc_output_dimensions(cinfo);
        if (cinfo->output_width >= want_w && cinfo->output_height >= want_h) return;
    }
    cinfo->scale_num = 1;
    cinfo->scale_denom = 1;
}

static uint8_t *jpeg_decode(const uint8_t *data, size_t length, uint64_t max_pixels, uint32_t target_width,
                            uint32_t target_height, int luma, int header_only, sequent_image_info *info,
                            int *status, char *err, size_t err_len) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_failure failure;
    struct jpeg_progress_mgr progress;
    /* volatile: assigned between setjmp and a possible longjmp, and read after it */
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile cmyk_row = NULL;
    volatile int failure_status = SEQUENT_IMAGE_CORRUPT;

    memset(&cinfo, 0, sizeof cinfo);
    memset(&failure, 0, sizeof failure);
    memset(&progress, 0, sizeof progress);
    cinfo.err = jpeg_std_error(&failure.pub);
    failure.pub.error_exit = jpeg_fail;
    failure.pub.output_message = jpeg_stay_silent;
    failure.pub.emit_message = jpeg_warning_fails;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(cmyk_row);
        *status = failure_status;
        set_error(err, err_len, "%s", failure.message);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = jpeg_limit_scans;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)length);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        info->channels = 1;
        break;
    case JCS_CMYK:
    case JCS_YCCK: /* libjpeg turns YCCK into (still inverted) CMYK; the RGB step is ours */
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        info->channels = 3;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        info->channels = 3;
        break;
    default:
        snprintf(failure.message, sizeof failure.message, "unsupported colour space (%d components)",
                 cinfo.num_components);
        longjmp(failure.jump, 1);
    }
    info->format = SEQUENT_IMAGE_FORMAT_JPEG;
    info->width = cinfo.image_width;
    info->height = cinfo.image_height;
    info->orientation = jpeg_orientation(&cinfo);
    if (!header_only && (uint64_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        failure_status = SEQUENT_IMAGE_TOO_LARGE;
        snprintf(failure.message, sizeof failure.message, "%ux%u pixels exceed the limit of %llu",
                 cinfo.image_width, cinfo.image_height, (unsigned long long)max_pixels);
        longjmp(failure.jump, 1);
    }
    if (header_only) {
        jpeg_destroy_decompress(&cinfo);
        *status = SEQUENT_IMAGE_OK;
        return NULL;
    }

    /* After the limit check: the entropy decoding, which a decompression bomb makes expensive, costs the same at
     * any scale, so the header's size is what is limited; the pixel buffer below has the scaled size. */
    jpeg_choose_scale(&cinfo, target_width, target_height, info->orientation);
    /* For a gray model the Y channel is the answer: JFIF's luma has the weights Preprocessing uses for RGB -> gray
     * (it differs from gray computed from the rounded RGB by rounding), and libjpeg then skips the chroma's inverse
     * DCT, upsampling and colour conversion. Only when the decode is scaled, already an approximation; a full-size
     * decode stays exactly what it was. */
    if (luma && !cmyk && cinfo.scale_num < cinfo.scale_denom) {
        cinfo.out_color_space = JCS_GRAYSCALE;
        info->channels = 1;
    }
    jpeg_start_decompress(&cinfo);
    size_t width = cinfo.output_width, height = cinfo.output_height, channels = (size_t)info->channels;
    if ((size_t)cinfo.output_components != (cmyk ? 4 : channels)) {
        snprintf(failure.message, sizeof failure.message, "unexpected component count %d",
                 cinfo.output_components);
        longjmp(failure.jump, 1);
    }
    size_t stride = width * channels;
    pixels = malloc(stride * height);
    if (cmyk) cmyk_row = malloc(width * 4);
    if (pixels == NULL || (cmyk && cmyk_row == NULL)) {
        failure_status = SEQUENT_IMAGE_NO_MEMORY;
        snprintf(failure.message, sizeof failure.message, "out of memory for %zux%zu pixels", width, height);
        longjmp(failure.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW row = cmyk ? cmyk_row : pixels + y * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) { /* only a suspending source returns 0; guard anyway */
            snprintf(failure.message, sizeof failure.message, "decoder made no progress");
            longjmp(failure.jump, 1);
        }
        if (cmyk) cmyk_to_rgb(cmyk_row, pixels + y * stride, width, cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&cinfo); /* reads on to EOI, so damage after the last scanline is caught too */
    jpeg_destroy_decompress(&cinfo);
    free(cmyk_row);
    info->width = (uint32_t)width;
    info->height = (uint32_t)height;
    *status = SEQUENT_IMAGE_OK;
    return pixels;
}

struct jpeg_growable_destination {
    struct jpeg_destination_mgr pub; /* must be first */
    struct growable *out;
    JOCTET chunk[4096];
};

/* A destination of our own rather than jpeg_mem_dest: after an error, jpeg_mem_dest's buffer pointer can be stale
 * (it is only published at the end), so its memory could not be freed. Ours is always reachable. */
static void jpeg_destination_start(j_compress_ptr cinfo) {
    struct jpeg_growable_destination *d = (struct jpeg_growable_destination *)cinfo->dest;
    d->pub.next_output_byte = d->chunk;
    d->pub.free_in_buffer = sizeof d->chunk;
}

static boolean jpeg_destination_flush(j_compress_ptr cinfo) {
    struct jpeg_growable_destination *d = (struct jpeg_growable_destination *)cinfo->dest;
    if (!append(d->out, d->chunk, sizeof d->chunk)) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    jpeg_destination_start(cinfo);
    return TRUE;
}

static void jpeg_destination_end(j_compress_ptr cinfo) {
    struct jpeg_growable_destination *d = (struct jpeg_growable_destination *)cinfo->dest;
    if (!append(d->out, d->chunk, sizeof d->chunk - d->pub.free_in_buffer)) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 2);
}

uint8_t *sequent_encode_jpeg(const uint8_t *pixels, int width, int height, int channels, int quality,
                             int progressive, int exif_orientation, int exif_little_endian, int ycck,
                             size_t *out_length, char *err, size_t err_len) {
    if (pixels == NULL || out_length == NULL) { set_error(err, err_len, "no pixels"); return NULL; }
    if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        set_error(err, err_len, "JPEG dimensions must be 1...%d, not %dx%d", JPEG_MAX_DIMENSION, width, height);
        return NULL;
    }
    if (channels != 1 && channels != 3 && channels != 4) {
        set_error(err, err_len, "JPEG needs 1 (gray), 3 (RGB) or 4 (CMYK) channels, not %d", channels);
        return NULL;
    }
    if (exif_orientation < 0 || exif_orientation > 8) {
        set_error(err, err_len, "EXIF orientation must be 1...8 (or 0 for none), not %d", exif_orientation);
        return NULL;
    }
    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;

    struct jpeg_compress_struct cinfo;
    struct jpeg_failure failure;
    struct jpeg_growable_destination destination;
    /* On the heap: it changes between setjmp and longjmp, and an automatic object that does is indeterminate after
     * the jump; this pointer itself never changes. */
    struct growable *out = calloc(1, sizeof *out);
    if (out == NULL) { set_error(err, err_len, "out of memory"); return NULL; }
    memset(&cinfo, 0, sizeof cinfo);
    memset(&failure, 0, sizeof failure);
    memset(&destination, 0, sizeof destination);
    cinfo.err = jpeg_std_error(&failure.pub);
    failure.pub.error_exit = jpeg_fail;
    failure.pub.output_message = jpeg_stay_silent;
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(out->data);
        free(out);
        set_error(err, err_len, "%s", failure.message);
        return NULL;
    }
    jpeg_create_compress(&cinfo);
    destination.pub.init_destination = jpeg_destination_start;
    destination.pub.empty_output_buffer = jpeg_destination_flush;
    destination.pub.term_destination = jpeg_destination_end;
    destination.out = out;
    cinfo.dest = &destination.pub;
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo); /* CMYK input: stored as CMYK with an Adobe marker (transform 0) */
    if (channels == 4 && ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK); /* Adobe marker, transform 2 */
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    if (exif_orientation) {
        uint8_t exif[6 + TIFF_ORIENTATION_LENGTH] = {'E', 'x', 'i', 'f', 0, 0};
        size_t n = 6 + build_tiff_orientation(exif + 6, exif_orientation, exif_little_endian);
        jpeg_write_marker(&cinfo, JPEG_APP0 + 1, exif, (unsigned int)n);
    }
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(uintptr_t)(pixels + (size_t)cinfo.next_scanline * stride); /* libjpeg only reads it */
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    uint8_t *encoded = out->data;
    *out_length = out->length;
    free(out);
    return encoded;
}

/* ---------------------------------------------------------------------------------------------------------------
 * PNG
 * ------------------------------------------------------------------------------------------------------------- */

struct png_failure {
    char message[256];
};

static void png_fail(png_structp png, png_const_charp message) {
    struct png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", message);
    png_longjmp(png, 1);
}

/* libpng warns about benign oddities (an sRGB profile it knows to be wrong, a bad ancillary chunk it then skips);
 * real errors go through png_fail, so warnings are dropped rather than printed. */
static void png_ignore_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

struct png_source {
    const uint8_t *data;
    size_t length, position;
};

static void png_read_memory(png_structp png, png_bytep out, size_t n) {
    struct png_source *s = png_get_io_ptr(png);
    if (n > s->length - s->position) png_error(png, "unexpected end of file");
    memcpy(out, s->data + s->position, n);
    s->position += n;
}

static int png_orientation(png_structp png, png_infop info) {
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 length = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &length, &exif) && exif != NULL) return tiff_orientation(exif, length);
#else
    (void)png;
    (void)info;
#endif
    return 0;
}

/* libpng allocates a chunk's declared length before reading its data, and a length beyond its chunk limit is only
 * a (benign) warning, so a 60-byte file declaring a 700 MB eXIf chunk made it malloc 700 MB (found by fuzzing).
 * The whole file is in memory, so no chunk can honestly claim more bytes than remain: checking that first bounds
 * every chunk allocation by the size of the upload. Returns 0 with a message when a chunk overruns the data. */
static int png_chunks_fit(const uint8_t *data, size_t length, char *err, size_t err_len) {
    size_t at = 8; /* after the signature; at <= length throughout */
    while (length - at >= 8) {
        size_t declared = read32(data + at, 0), remaining = length - at - 8;
        const uint8_t *type = data + at + 4;
        if (declared > remaining || remaining - declared < 4) { /* data plus its CRC */
            int named = 1;
            for (int i = 0; i < 4; i++) named &= (type[i] | 0x20) >= 'a' && (type[i] | 0x20) <= 'z';
            set_error(err, err_len, "unexpected end of file (%s%.4s chunk of %zu bytes, %zu remain)",
                      named ? "" : "a", named ? (const char *)type : "", declared, remaining);
            return 0;
        }
        if (memcmp(type, "IEND", 4) == 0) break;
        at += 12 + declared;
    }
    return 1; /* a missing IEND or a cut inside a chunk header is left to libpng to report */
}

static uint8_t *png_decode(const uint8_t *data, size_t length, uint64_t max_pixels, int header_only,
                           sequent_image_info *info, int *status, char *err, size_t err_len) {
    if (!png_chunks_fit(data, length, err, err_len)) {
        *status = SEQUENT_IMAGE_CORRUPT;
        return NULL;
    }
    struct png_failure failure;
    struct png_source source = {data, length, 0};
    memset(&failure, 0, sizeof failure);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_ignore_warning);
    png_infop header = png ? png_create_info_struct(png) : NULL;
    png_infop trailer = png ? png_create_info_struct(png) : NULL; /* chunks after the image data (eXIf may be) */
    if (png == NULL || header == NULL || trailer == NULL) {
        png_destroy_read_struct(&png, &header, &trailer);
        *status = SEQUENT_IMAGE_NO_MEMORY;
        set_error(err, err_len, "out of memory");
        return NULL;
    }
    uint8_t *volatile pixels = NULL; /* volatile: assigned between setjmp and a possible longjmp */
    png_bytep *volatile rows = NULL;
    volatile int failure_status = SEQUENT_IMAGE_CORRUPT;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &header, &trailer);
        free(pixels);
        free(rows);
        *status = failure_status;
        set_error(err, err_len, "%s", failure.message);
        return NULL;
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_set_chunk_malloc_max(png, SEQUENT_PNG_MAX_CHUNK_BYTES);
    png_read_info(png, header);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, header, &width, &height, &depth, &color_type, &interlace, NULL, NULL);
    int transparency = png_get_valid(png, header, PNG_INFO_tRNS) != 0;
    int alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || transparency;
    int channels = ((color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1) + alpha;
    int orientation = png_orientation(png, header);
    info->format = SEQUENT_IMAGE_FORMAT_PNG;
    info->width = width;
    info->height = height;
    info->channels = channels;
    info->orientation = orientation ? orientation : 1;
    if (!header_only && (uint64_t)width * height > max_pixels) {
        failure_status = SEQUENT_IMAGE_TOO_LARGE;
        snprintf(failure.message, sizeof failure.message, "%ux%u pixels exceed the limit of %llu",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        png_longjmp(png, 1);
    }
    if (header_only) {
        png_destroy_read_struct(&png, &header, &trailer);
        *status = SEQUENT_IMAGE_OK;
        return NULL;
    }

    /* Everything becomes 8-bit gray, gray + alpha, RGB or RGBA. No gamma transform: the samples are delivered as
     * stored, which is what a model trained on decoded PNGs saw. */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (transparency) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_scale_16(png); /* rounds (v / 257), where stripping would truncate */
    png_set_interlace_handling(png);        /* Adam7: png_read_image runs the passes */
    png_read_update_info(png, header);
    size_t stride = (size_t)width * (size_t)channels;
    if (png_get_channels(png, header) != channels || png_get_bit_depth(png, header) != 8 ||
        png_get_rowbytes(png, header) != stride) {
        snprintf(failure.message, sizeof failure.message, "unexpected pixel layout after conversion");
        png_longjmp(png, 1);
    }
    pixels = malloc(stride * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (pixels == NULL || rows == NULL) {
        failure_status = SEQUENT_IMAGE_NO_MEMORY;
        snprintf(failure.message, sizeof failure.message, "out of memory for %ux%u pixels", (unsigned)width,
                 (unsigned)height);
        png_longjmp(png, 1);
    }
    for (size_t y = 0; y < height; y++) rows[y] = pixels + y * stride;
    png_read_image(png, rows);
    png_read_end(png, trailer); /* checks the remaining chunks' CRCs and that IEND arrives */
    if (!orientation) {
        orientation = png_orientation(png, trailer);
        info->orientation = orientation ? orientation : 1;
    }
    png_destroy_read_struct(&png, &header, &trailer);
    free(rows);
    *status = SEQUENT_IMAGE_OK;
    return pixels;
}

static void png_write_memory(png_structp png, png_bytep bytes, size_t n) {
    if (!append(png_get_io_ptr(png), bytes, n)) png_error(png, "out of memory");
}

static void png_flush_nothing(png_structp png) { (void)png; }

uint8_t *sequent_encode_png(const uint16_t *samples, int width, int height, int color_type, int bit_depth,
                            int interlaced, const uint8_t *palette_rgb, int palette_count,
                            const uint8_t *trns_alpha, int trns_count, const uint16_t *trns_color,
                            int exif_orientation, size_t *out_length, char *err, size_t err_len) {
    int channels;
    switch (color_type) {
    case SEQUENT_PNG_GRAY: channels = 1; break;
    case SEQUENT_PNG_PALETTE: channels = 1; break;
    case SEQUENT_PNG_GRAY_ALPHA: channels = 2; break;
    case SEQUENT_PNG_RGB: channels = 3; break;
    case SEQUENT_PNG_RGBA: channels = 4; break;
    default: set_error(err, err_len, "unknown PNG colour type %d", color_type); return NULL;
    }
    int depth_ok = bit_depth == 8 || (bit_depth == 16 && color_type != SEQUENT_PNG_PALETTE) ||
                   ((bit_depth == 1 || bit_depth == 2 || bit_depth == 4) &&
                    (color_type == SEQUENT_PNG_GRAY || color_type == SEQUENT_PNG_PALETTE));
    if (!depth_ok) {
        set_error(err, err_len, "bit depth %d is not allowed for colour type %d", bit_depth, color_type);
        return NULL;
    }
    if (samples == NULL || out_length == NULL || width < 1 || height < 1 || width > 1000000 || height > 1000000) {
        set_error(err, err_len, "PNG dimensions must be 1...1000000, not %dx%d", width, height);
        return NULL;
    }
    if (exif_orientation < 0 || exif_orientation > 8) {
        set_error(err, err_len, "EXIF orientation must be 1...8 (or 0 for none), not %d", exif_orientation);
        return NULL;
    }
    if (color_type == SEQUENT_PNG_PALETTE &&
        (palette_rgb == NULL || palette_count < 1 || palette_count > (1 << bit_depth))) {
        set_error(err, err_len, "a %d-bit palette image needs 1...%d palette entries, not %d", bit_depth,
                  1 << bit_depth, palette_count);
        return NULL;
    }
    if (trns_count < 0 || (trns_count > 0 && (color_type != SEQUENT_PNG_PALETTE || trns_alpha == NULL ||
                                              trns_count > palette_count))) {
        set_error(err, err_len, "tRNS alphas need a palette with at least as many entries");
        return NULL;
    }
    if (trns_color != NULL && color_type != SEQUENT_PNG_GRAY && color_type != SEQUENT_PNG_RGB) {
        set_error(err, err_len, "a transparent colour needs colour type gray or RGB");
        return NULL;
    }
    uint32_t limit = color_type == SEQUENT_PNG_PALETTE ? (uint32_t)palette_count : (1u << bit_depth);
    size_t count = (size_t)width * (size_t)height * (size_t)channels;
    for (size_t i = 0; i < count; i++) {
        if (samples[i] >= limit) {
            set_error(err, err_len, "sample %zu is %u, which does not fit (limit %u)", i, samples[i], limit - 1);
            return NULL;
        }
    }
    if (trns_color != NULL) {
        for (int i = 0; i < (color_type == SEQUENT_PNG_RGB ? 3 : 1); i++) {
            if (trns_color[i] >= limit) {
                set_error(err, err_len, "transparent colour does not fit the bit depth");
                return NULL;
            }
        }
    }

    /* Pack the samples into PNG rows (big-endian for 16 bits, most significant bits first below 8). */
    size_t row_bytes = ((size_t)width * (size_t)channels * (size_t)bit_depth + 7) / 8;
    uint8_t *packed = calloc(row_bytes, (size_t)height);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (packed == NULL || rows == NULL) {
        free(packed);
        free(rows);
        set_error(err, err_len, "out of memory");
        return NULL;
    }
    size_t per_row = (size_t)width * (size_t)channels;
    for (size_t y = 0; y < (size_t)height; y++) {
        uint8_t *row = packed + y * row_bytes;
        rows[y] = row;
        const uint16_t *s = samples + y * per_row;
        for (size_t i = 0; i < per_row; i++) {
            if (bit_depth == 16) { row[2 * i] = (uint8_t)(s[i] >> 8); row[2 * i + 1] = (uint8_t)s[i]; }
            else if (bit_depth == 8) row[i] = (uint8_t)s[i];
            else {
                size_t bit = i * (size_t)bit_depth;
                row[bit / 8] |= (uint8_t)(s[i] << (8 - bit_depth - bit % 8));
            }
        }
    }

    struct png_failure failure;
    memset(&failure, 0, sizeof failure);
    struct growable *out = calloc(1, sizeof *out); /* on the heap for the same reason as in sequent_encode_jpeg */
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_ignore_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (out == NULL || png == NULL || info == NULL) {
        png_destroy_write_struct(&png, &info);
        free(out);
        free(packed);
        free(rows);
        set_error(err, err_len, "out of memory");
        return NULL;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(packed);
        free(rows);
        free(out->data);
        free(out);
        set_error(err, err_len, "%s", failure.message);
        return NULL;
    }
    png_set_write_fn(png, out, png_write_memory, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_type,
                 interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == SEQUENT_PNG_PALETTE) {
        png_color palette[256];
        for (int i = 0; i < palette_count; i++) {
            palette[i].red = palette_rgb[3 * i];
            palette[i].green = palette_rgb[3 * i + 1];
            palette[i].blue = palette_rgb[3 * i + 2];
        }
        png_set_PLTE(png, info, palette, palette_count);
        if (trns_count > 0) png_set_tRNS(png, info, trns_alpha, trns_count, NULL);
    } else if (trns_color != NULL) {
        png_color_16 transparent;
        memset(&transparent, 0, sizeof transparent);
        if (color_type == SEQUENT_PNG_GRAY) transparent.gray = trns_color[0];
        else { transparent.red = trns_color[0]; transparent.green = trns_color[1]; transparent.blue = trns_color[2]; }
        png_set_tRNS(png, info, NULL, 0, &transparent);
    }
#ifdef PNG_eXIf_SUPPORTED
    uint8_t exif[TIFF_ORIENTATION_LENGTH];
    if (exif_orientation)
        png_set_eXIf_1(png, info, (png_uint_32)build_tiff_orientation(exif, exif_orientation, 0), exif);
#else
    if (exif_orientation) png_error(png, "this libpng cannot write eXIf");
#endif
    png_write_info(png, info);
    png_set_interlace_handling(png); /* png_write_image then writes each Adam7 pass */
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(packed);
    free(rows);
    uint8_t *encoded = out->data;
    *out_length = out->length;
    free(out);
    return encoded;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------------------------- */

static int detect(const uint8_t *data, size_t length) {
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return SEQUENT_IMAGE_FORMAT_JPEG;
    if (length >= 8 && memcmp(data, png_signature, 8) == 0) return SEQUENT_IMAGE_FORMAT_PNG;
    return SEQUENT_IMAGE_FORMAT_UNKNOWN;
}

static uint8_t *decode(const uint8_t *data, size_t length, uint64_t max_pixels, uint32_t target_width,
                       uint32_t target_height, int luma, int header_only, sequent_image_info *info, int *status,
                       char *err, size_t err_len) {
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    if (err != NULL && err_len > 0) err[0] = 0;
    switch (data == NULL ? SEQUENT_IMAGE_FORMAT_UNKNOWN : detect(data, length)) {
    case SEQUENT_IMAGE_FORMAT_JPEG:
        return jpeg_decode(data, length, max_pixels, target_width, target_height, luma, header_only, info, status,
                           err, err_len);
    case SEQUENT_IMAGE_FORMAT_PNG:
        return png_decode(data, length, max_pixels, header_only, info, status, err, err_len);
    default:
        *status = SEQUENT_IMAGE_UNSUPPORTED;
        set_error(err, err_len, "not a JPEG or PNG file");
        return NULL;
    }
}

int sequent_image_read_info(const uint8_t *data, size_t length, sequent_image_info *info, char *err,
                            size_t err_len) {
    int status = SEQUENT_IMAGE_CORRUPT;
    uint8_t *pixels = decode(data, length, UINT64_MAX, 0, 0, 0, 1, info, &status, err, err_len);
    free(pixels); /* always NULL for a header-only read */
    return status;
}

uint8_t *sequent_image_decode(const uint8_t *data, size_t length, uint64_t max_pixels, sequent_image_info *info,
                              int *status, char *err, size_t err_len) {
    return decode(data, length, max_pixels, 0, 0, 0, 0, info, status, err, err_len);
}

uint8_t *sequent_image_decode_for(const uint8_t *data, size_t length, uint64_t max_pixels, uint32_t target_width,
                                  uint32_t target_height, int luma, sequent_image_info *info, int *status,
                                  char *err, size_t err_len) {
    return decode(data, length, max_pixels, target_width, target_height, luma, 0, info, status, err, err_len);
}

void sequent_image_free(void *pointer) { free(pointer); }
