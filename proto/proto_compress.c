/*
 * proto_compress.c — the record-batch compression codecs (attributes bits 0-2).
 *
 *   id  codec   compress                         decompress accepts
 *   1   gzip    zlib deflate, gzip wrapper       gzip (several members) or zlib streams
 *   2   snappy  one raw snappy block             raw block (librdkafka) or xerial framing (Java)
 *   3   lz4     LZ4 frame, 64 KiB independent    LZ4 frames (standard; magic v2 only)
 *   4   zstd    one frame with content size      frames, with or without content size
 *
 * Xerial framing (snappy-java's SnappyOutputStream), big-endian:
 *
 *   off  field    bytes
 *   0    magic    8     0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *   8    version  4     1
 *   12   compat   4     1
 *   16   chunks         [i32 compressed length][raw snappy block], repeated to the end
 *
 * Every decompressor appends to `out` and stops with GR_ERANGE as soon as the output would
 * pass max_out bytes, so a small hostile input cannot make us allocate more than max_out (plus
 * the codec's own window, bounded by its library defaults).  Thread-safe: no shared state.
 */
#include "proto/proto_record_batch.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define RB_CHUNK_BYTES ((size_t)64 * 1024)
#define RB_CHUNK_BYTES_MAX ((size_t)1 << 30) /* zlib counts in uInt */

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER_BYTES 16

/*
 * Reserves the next output window: at most one byte past max_out, so that a codec which still
 * has output to give when `produced == max_out` shows it by producing that byte.  Returns the
 * window size (> 0) or 0 on allocation failure.
 */
static size_t out_window(struct gbuf *out, size_t produced, size_t max_out)
{
    size_t room = max_out - produced; /* produced <= max_out is the caller's invariant */
    size_t want = out->cap - out->len;
    if (want < RB_CHUNK_BYTES) want = RB_CHUNK_BYTES;
    if (want > RB_CHUNK_BYTES_MAX) want = RB_CHUNK_BYTES_MAX;
    if (room < want) want = room + 1;
    if (gbuf_reserve(out, want)) return 0;
    return want;
}

/* ------------------------------------------------------------------------------------------ */
/* gzip                                                                                        */

static int gzip_decompress(const uint8_t *in, size_t n, struct gbuf *out, size_t max_out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return GR_ENOMEM; /* 32: gzip or zlib header */
    size_t start = out->len;
    int rc = GR_ECORRUPT;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n; /* batches are < 2 GiB, checked by the caller's batchLength */
    for (;;) {
        size_t win = out_window(out, out->len - start, max_out);
        if (!win) {
            rc = GR_ENOMEM;
            break;
        }
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)win;
        int zrc = inflate(&zs, Z_NO_FLUSH);
        out->len += win - zs.avail_out;
        if (out->len - start > max_out) {
            rc = GR_ERANGE;
            break;
        }
        if (zrc == Z_STREAM_END) {
            /* Java's GZIPInputStream reads concatenated members; so do we. */
            if (zs.avail_in == 0) {
                rc = 0;
                break;
            }
            if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b) break;
            if (inflateReset(&zs) != Z_OK) break;
            continue;
        }
        if (zrc == Z_MEM_ERROR) {
            rc = GR_ENOMEM;
            break;
        }
        if (zrc != Z_OK) break; /* data error, or Z_BUF_ERROR: input ended mid-stream */
    }
    inflateEnd(&zs);
    return rc;
}

static int gzip_compress(int level, const uint8_t *in, size_t n, struct gbuf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (level < 0 || level > 9) level = Z_DEFAULT_COMPRESSION;
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return GR_ENOMEM;
    int rc = GR_ENOMEM;
    size_t bound = deflateBound(&zs, (uLong)n);
    if (n > RB_CHUNK_BYTES_MAX || gbuf_reserve(out, bound)) goto err_end;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        rc = GR_EINVAL;
        goto err_end;
    }
    out->len += bound - zs.avail_out;
    rc = 0;
err_end:
    deflateEnd(&zs);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* snappy                                                                                      */

static int snappy_block_decompress(const uint8_t *in, size_t n, struct gbuf *out, size_t room)
{
    size_t raw_len;
    if (snappy_uncompressed_length((const char *)in, n, &raw_len) != SNAPPY_OK) return GR_ECORRUPT;
    if (raw_len > room) return GR_ERANGE;
    if (gbuf_reserve(out, raw_len ? raw_len : 1)) return GR_ENOMEM; /* data != NULL */
    size_t got = raw_len;
    if (snappy_uncompress((const char *)in, n, (char *)out->data + out->len, &got) != SNAPPY_OK ||
        got != raw_len)
        return GR_ECORRUPT;
    out->len += got;
    return 0;
}

static int xerial_decompress(const uint8_t *in, size_t n, struct gbuf *out, size_t max_out)
{
    size_t start = out->len;
    size_t pos = XERIAL_HEADER_BYTES; /* version and compat are not checked, as in librdkafka */
    while (pos < n) {
        if (n - pos < 4) return GR_ECORRUPT;
        size_t chunk = be32_get(in + pos);
        pos += 4;
        if (chunk > n - pos) return GR_ECORRUPT;
        int rc = snappy_block_decompress(in + pos, chunk, out, max_out - (out->len - start));
        if (rc) return rc;
        pos += chunk;
    }
    return 0;
}

static int snappy_decompress_any(const uint8_t *in, size_t n, struct gbuf *out, size_t max_out)
{
    if (n >= XERIAL_HEADER_BYTES && memcmp(in, xerial_magic, sizeof(xerial_magic)) == 0)
        return xerial_decompress(in, n, out, max_out);
    return snappy_block_decompress(in, n, out, max_out);
}

static int snappy_compress_raw(const uint8_t *in, size_t n, struct gbuf *out)
{
    size_t bound = snappy_max_compressed_length(n);
    if (gbuf_reserve(out, bound)) return GR_ENOMEM;
    size_t got = bound;
    if (snappy_compress((const char *)in, n, (char *)out->data + out->len, &got) != SNAPPY_OK)
        return GR_EINVAL;
    out->len += got;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* lz4                                                                                         */

static int lz4_decompress(const uint8_t *in, size_t n, struct gbuf *out, size_t max_out)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) return GR_ENOMEM;
    size_t start = out->len, pos = 0;
    int rc = GR_ECORRUPT;
    /* Each pass consumes input or produces output (else it stops), and output is capped. */
    for (;;) {
        size_t win = out_window(out, out->len - start, max_out);
        if (!win) {
            rc = GR_ENOMEM;
            break;
        }
        size_t src_len = n - pos, dst_len = win;
        size_t hint =
            LZ4F_decompress(dctx, out->data + out->len, &dst_len, in + pos, &src_len, NULL);
        if (LZ4F_isError(hint)) break;
        pos += src_len;
        out->len += dst_len;
        if (out->len - start > max_out) {
            rc = GR_ERANGE;
            break;
        }
        if (hint == 0 && pos == n) { /* last frame complete (a next frame may follow) */
            rc = 0;
            break;
        }
        if (pos == n && dst_len < win) break; /* input ended inside a frame */
        if (src_len == 0 && dst_len == 0) break;
    }
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int lz4_compress(int level, const uint8_t *in, size_t n, struct gbuf *out)
{
    /* As the Java client writes them: 64 KiB independent blocks, no content size.  Kafka's
     * Java reader decodes each block on its own and cannot follow linked blocks. */
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.compressionLevel = level < 0 ? 0 : level;
    size_t bound = LZ4F_compressFrameBound(n, &prefs);
    if (gbuf_reserve(out, bound)) return GR_ENOMEM;
    size_t got = LZ4F_compressFrame(out->data + out->len, bound, in, n, &prefs);
    if (LZ4F_isError(got)) return GR_EINVAL;
    out->len += got;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* zstd                                                                                        */

static int zstd_decompress(const uint8_t *in, size_t n, struct gbuf *out, size_t max_out)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx) return GR_ENOMEM;
    size_t start = out->len, zrc = 1;
    int rc = GR_ECORRUPT;
    ZSTD_inBuffer ib = {in, n, 0};
    /* Streaming, because frames from streaming producers (Java) carry no content size. */
    while (ib.pos < ib.size) {
        size_t win = out_window(out, out->len - start, max_out);
        if (!win) {
            rc = GR_ENOMEM;
            goto out_free;
        }
        ZSTD_outBuffer ob = {out->data + out->len, win, 0};
        size_t in_before = ib.pos;
        zrc = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(zrc)) goto out_free;
        out->len += ob.pos;
        if (out->len - start > max_out) {
            rc = GR_ERANGE;
            goto out_free;
        }
        if (ib.pos == in_before && ob.pos == 0) goto out_free; /* no progress */
    }
    /* Input consumed: flush what the decoder still holds, up to the cap. */
    while (zrc != 0) {
        size_t win = out_window(out, out->len - start, max_out);
        if (!win) {
            rc = GR_ENOMEM;
            goto out_free;
        }
        ZSTD_outBuffer ob = {out->data + out->len, win, 0};
        zrc = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(zrc)) goto out_free;
        out->len += ob.pos;
        if (out->len - start > max_out) {
            rc = GR_ERANGE;
            goto out_free;
        }
        if (ob.pos < win) break; /* decoder is starved: zrc != 0 means a truncated frame */
    }
    rc = zrc == 0 ? 0 : GR_ECORRUPT;
out_free:
    ZSTD_freeDCtx(dctx);
    return rc;
}

static int zstd_compress(int level, const uint8_t *in, size_t n, struct gbuf *out)
{
    size_t bound = ZSTD_compressBound(n);
    if (ZSTD_isError(bound) || gbuf_reserve(out, bound)) return GR_ENOMEM;
    if (level < 0) level = ZSTD_CLEVEL_DEFAULT;
    if (level > ZSTD_maxCLevel()) level = ZSTD_maxCLevel();
    size_t got = ZSTD_compress(out->data + out->len, bound, in, n, level);
    if (ZSTD_isError(got)) return GR_EINVAL;
    out->len += got;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

int rb_decompress(int codec, const uint8_t *in, size_t n, struct gbuf *out, size_t max_out)
{
    switch (codec) {
    case RB_CODEC_NONE:
        if (n > max_out) return GR_ERANGE;
        return gbuf_append(out, in, n);
    case RB_CODEC_GZIP:
        if (n > RB_CHUNK_BYTES_MAX) return GR_ERANGE;
        return gzip_decompress(in, n, out, max_out);
    case RB_CODEC_SNAPPY:
        return snappy_decompress_any(in, n, out, max_out);
    case RB_CODEC_LZ4:
        return lz4_decompress(in, n, out, max_out);
    case RB_CODEC_ZSTD:
        return zstd_decompress(in, n, out, max_out);
    default:
        return GR_ECORRUPT; /* codec bits 5-7 are not defined */
    }
}

int rb_compress(int codec, int level, const uint8_t *in, size_t n, struct gbuf *out)
{
    switch (codec) {
    case RB_CODEC_NONE:
        return gbuf_append(out, in, n);
    case RB_CODEC_GZIP:
        return gzip_compress(level, in, n, out);
    case RB_CODEC_SNAPPY:
        return snappy_compress_raw(in, n, out);
    case RB_CODEC_LZ4:
        return lz4_compress(level, in, n, out);
    case RB_CODEC_ZSTD:
        return zstd_compress(level, in, n, out);
    default:
        return GR_EINVAL;
    }
}
