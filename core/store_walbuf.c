/* store_walbuf.c - the writer's WAL writes, gathered (issue 14).
 *
 * SQLite appends each WAL frame with two pwrite calls (its 24-byte header,
 * then the page), so a commit of 1,000 items made ~1,200 system calls,
 * and the ext4 work per call (not the copying) was ~37% of the writer's
 * time (perf). This VFS wraps the default one and, for WAL files only,
 * gathers consecutive writes in a buffer that goes to the file in 64 KiB
 * writes before anything can depend on it: before a sync (so a commit's
 * frames are on disk before SQLite answers, exactly as before), a read,
 * a size or truncation, a file control, a shared-memory lock change or
 * barrier (so no reader is shown frames the file does not hold yet, with
 * any synchronous setting), a write elsewhere, and close. A frame never
 * reaches a reader or the disk later or in another order than without the
 * buffer; a crash loses only what no sync covered, which SQLite never
 * acknowledged. The database file and the journals go straight through. */
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_CAP (1024 * 1024) /* bytes gathered before a write */
#define WALBUF_VFS "rung-walbuf"
/* bytes a write of the default VFS may carry (its unix writes take fewer
 * than 128 KiB at a time) */
#define WALBUF_CHUNK (64 * 1024)

struct wbfile {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    char *buf;
    size_t n;          /* bytes gathered */
    sqlite3_int64 off; /* file offset of buf[0] */
    int err;           /* a gathered write that failed where none could be returned */
    bool wal;          /* a WAL file: writes are gathered */
};

static sqlite3_vfs wb_vfs;

/* Writes what is gathered: SQLITE_OK or the write's error, also one that
 * failed earlier where it could not be returned (wb_shm_barrier). */
static int wb_flush(struct wbfile *f)
{
    int rc = SQLITE_OK;
    for (size_t at = 0; at < f->n && !rc; at += WALBUF_CHUNK) {
        size_t k = f->n - at < WALBUF_CHUNK ? f->n - at : WALBUF_CHUNK;
        rc = f->real->pMethods->xWrite(f->real, f->buf + at, (int)k, f->off + (sqlite3_int64)at);
    }
    f->n = 0;
    if (rc && !f->err)
        f->err = rc;
    return f->err;
}

#define F(pf) ((struct wbfile *)(pf))
#define REAL(pf) (F(pf)->real)

static int wb_close(sqlite3_file *pf)
{
    int rc = wb_flush(F(pf));
    free(F(pf)->buf);
    F(pf)->buf = NULL;
    int rc2 = REAL(pf)->pMethods->xClose(REAL(pf));
    return rc ? rc : rc2;
}

static int wb_read(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off)
{
    int rc = wb_flush(F(pf));
    return rc ? rc : REAL(pf)->pMethods->xRead(REAL(pf), p, amt, off);
}

static int wb_write(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off)
{
    struct wbfile *f = F(pf);
    if (!f->wal)
        return f->real->pMethods->xWrite(f->real, p, amt, off);
    int rc = f->err;
    if (f->n && (off != f->off + (sqlite3_int64)f->n || f->n + (size_t)amt > WALBUF_CAP))
        rc = wb_flush(f);
    if (rc)
        return rc;
    if (!f->buf && (size_t)amt < WALBUF_CHUNK)
        f->buf = malloc(WALBUF_CAP);
    if (!f->buf || (size_t)amt >= WALBUF_CHUNK)
        return f->real->pMethods->xWrite(f->real, p, amt, off);
    if (!f->n)
        f->off = off;
    memcpy(f->buf + f->n, p, (size_t)amt);
    f->n += (size_t)amt;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    int rc = wb_flush(F(pf));
    return rc ? rc : REAL(pf)->pMethods->xTruncate(REAL(pf), size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
    int rc = wb_flush(F(pf));
    return rc ? rc : REAL(pf)->pMethods->xSync(REAL(pf), flags);
}

static int wb_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    int rc = wb_flush(F(pf));
    return rc ? rc : REAL(pf)->pMethods->xFileSize(REAL(pf), size);
}

static int wb_lock(sqlite3_file *pf, int lock)
{
    return REAL(pf)->pMethods->xLock(REAL(pf), lock);
}

static int wb_unlock(sqlite3_file *pf, int lock)
{
    return REAL(pf)->pMethods->xUnlock(REAL(pf), lock);
}

static int wb_reserved(sqlite3_file *pf, int *out)
{
    return REAL(pf)->pMethods->xCheckReservedLock(REAL(pf), out);
}

static int wb_fcntl(sqlite3_file *pf, int op, void *arg)
{
    int rc = wb_flush(F(pf));
    if (rc)
        return rc;
    rc = REAL(pf)->pMethods->xFileControl(REAL(pf), op, arg);
    if (rc == SQLITE_OK && op == SQLITE_FCNTL_VFSNAME && arg) {
        char *name = sqlite3_mprintf("%s/%z", WALBUF_VFS, *(char **)arg);
        *(char **)arg = name;
    }
    return rc;
}

static int wb_sector(sqlite3_file *pf)
{
    return REAL(pf)->pMethods->xSectorSize(REAL(pf));
}

static int wb_caps(sqlite3_file *pf)
{
    return REAL(pf)->pMethods->xDeviceCharacteristics(REAL(pf));
}

static int wb_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(pf)->pMethods->xShmMap(REAL(pf), pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    int rc = wb_flush(F(pf));
    return rc ? rc : REAL(pf)->pMethods->xShmLock(REAL(pf), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *pf)
{
    /* The writer's commits (synchronous = FULL) sync before they publish
     * with a barrier, so nothing is left here for them; a write failing
     * here fails every later write and sync of the file. */
    (void)wb_flush(F(pf));
    REAL(pf)->pMethods->xShmBarrier(REAL(pf));
}

static int wb_shm_unmap(sqlite3_file *pf, int del)
{
    return REAL(pf)->pMethods->xShmUnmap(REAL(pf), del);
}

static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp)
{
    int rc = wb_flush(F(pf));
    return rc ? rc : REAL(pf)->pMethods->xFetch(REAL(pf), off, amt, pp);
}

static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    return REAL(pf)->pMethods->xUnfetch(REAL(pf), off, p);
}

static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_reserved,
    .xFileControl = wb_fcntl,
    .xSectorSize = wb_sector,
    .xDeviceCharacteristics = wb_caps,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out)
{
    sqlite3_vfs *real = vfs->pAppData;
    struct wbfile *f = F(pf);
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = real->xOpen(real, name, f->real, flags, out);
    /* The default VFS's files speak version 3 (shared memory, mmap): what
     * this one forwards. Anything else is used as it is. */
    if (!f->real->pMethods || f->real->pMethods->iVersion < 3) {
        pf->pMethods = NULL;
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return rc ? rc : SQLITE_CANTOPEN;
    }
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    pf->pMethods = &wb_methods;
    return rc;
}

static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_registered = SQLITE_ERROR;

static void wb_register(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real)
        return;
    wb_vfs = *real;
    wb_vfs.szOsFile = (int)sizeof(struct wbfile) + real->szOsFile;
    wb_vfs.zName = WALBUF_VFS;
    wb_vfs.pAppData = real;
    wb_vfs.xOpen = wb_open;
    wb_vfs.pNext = NULL;
    wb_registered = sqlite3_vfs_register(&wb_vfs, 0);
}

const char *store_walbuf_vfs(void)
{
    pthread_once(&wb_once, wb_register);
    return wb_registered == SQLITE_OK ? WALBUF_VFS : NULL;
}
