/*
 * storage_io.c — checked syscalls and small-file helpers for the storage module.
 *
 * Small metadata files (checkpoints, leader-epoch-checkpoint, partition.metadata) are always
 * replaced atomically: write <name>.tmp, fsync it, rename over <name>, fsync the directory.
 * A crash at any point leaves either the old or the new file, never a mix; a stale .tmp is
 * simply overwritten next time.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void storage_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

void storage_segment_path(char *out, size_t n, const char *dir, int64_t base, const char *ext)
{
    strfmt(out, n, "%s/%020lld%s", dir, (long long)base, ext);
}

int storage_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return GR_EIO;
        }
        if (w == 0) {
            errno = ENOSPC;
            return GR_EIO;
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int storage_pwrite_all(int fd, const void *p, size_t n, int64_t off)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, q, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return GR_EIO;
        }
        if (w == 0) {
            errno = ENOSPC;
            return GR_EIO;
        }
        q += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int storage_pread_full(int fd, void *p, size_t n, int64_t off, size_t *got)
{
    uint8_t *q = p;
    size_t total = 0;
    while (total < n) {
        ssize_t r = pread(fd, q + total, n - total, (off_t)(off + (int64_t)total));
        if (r < 0) {
            if (errno == EINTR) continue;
            return GR_EIO;
        }
        if (r == 0) break;
        total += (size_t)r;
    }
    *got = total;
    return 0;
}

int storage_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return GR_EIO;
    int rc = fsync(fd) ? GR_EIO : 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int storage_write_file_atomic(const char *dir, const char *name, const void *data, size_t n)
{
    char tmp[STORAGE_PATH_MAX], dst[STORAGE_PATH_MAX];
    strfmt(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    strfmt(dst, sizeof dst, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) goto err;
    if (storage_write_all(fd, data, n) || fsync(fd)) goto err_close_fd;
    if (close(fd)) goto err_unlink;
    if (rename(tmp, dst)) goto err_unlink;
    if (storage_fsync_path(dir)) goto err;
    return 0;
err_close_fd:
    close(fd);
err_unlink:
    unlink(tmp);
err:
    LOG_ERROR(STORAGE_COMP, "writing %s failed: %s", dst, strerror(errno));
    return GR_EIO;
}

int storage_read_file(const char *path, struct gbuf *buf, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? GR_ENOENT : GR_EIO;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st)) {
        rc = GR_EIO;
    } else if ((size_t)st.st_size > max) {
        rc = GR_ERANGE;
    } else if (gbuf_reserve(buf, (size_t)st.st_size + 1)) {
        rc = GR_ENOMEM;
    } else {
        size_t got = 0;
        rc = storage_pread_full(fd, buf->data + buf->len, (size_t)st.st_size, 0, &got);
        if (!rc) buf->len += got;
    }
    close(fd);
    return rc;
}
