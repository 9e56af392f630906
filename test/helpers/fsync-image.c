/*
 * A simulated power cut for SQLite's WAL mode below JavaScript: an LD_PRELOAD shim around libc's
 * fsync and fdatasync, so it also sees the fsync SQLite makes inside COMMIT (synchronous=FULL),
 * which no JavaScript shim can. When a -wal file is flushed, the database and its WAL are copied
 * as they are when the flush starts (what it covers) to <db>.image-db and <db>.image-wal, once the
 * flush succeeded: the files a power cut at that instant would leave. Nothing written after the
 * last flush is in them. Each flush of a WAL also adds a byte to <db>.image-flushes. While a file
 * <db>.fail-flushes exists, every flush of that WAL fails with EIO and does nothing (a disk that
 * broke). Used by test/drivers/sqlite-power-cut.test.ts.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int copy(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  if (in < 0) return -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buffer[65536];
  ssize_t n;
  while ((n = read(in, buffer, sizeof buffer)) > 0)
    if (write(out, buffer, (size_t)n) != n) n = -1;
  close(in);
  close(out);
  return n < 0 ? -1 : 0;
}

/* Whether `fd` is a WAL file; if so, writes the path of its database to `db`. */
static int databaseOf(int fd, char *db, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, db, size - 1);
  if (n < 5) return 0;
  db[n] = 0; /* readlink does not end the string */
  if (strcmp(db + n - 4, "-wal") != 0) return 0;
  db[n - 4] = 0;
  return 1;
}

/* Copies the database `db` and its WAL to .tmp files; returns 1 if it did. */
static int take(const char *db) {
  char wal[PATH_MAX + 8], tmp[PATH_MAX + 32];
  snprintf(wal, sizeof wal, "%s-wal", db);
  snprintf(tmp, sizeof tmp, "%s.image-db.tmp", db);
  if (copy(db, tmp) != 0) return 0;
  snprintf(tmp, sizeof tmp, "%s.image-wal.tmp", db);
  return copy(wal, tmp) == 0;
}

/* The flush succeeded: the copies taken as it started are now the durable image. */
static void keep(const char *db) {
  char from[PATH_MAX + 32], to[PATH_MAX + 32];
  snprintf(from, sizeof from, "%s.image-db.tmp", db);
  snprintf(to, sizeof to, "%s.image-db", db);
  rename(from, to);
  snprintf(from, sizeof from, "%s.image-wal.tmp", db);
  snprintf(to, sizeof to, "%s.image-wal", db);
  rename(from, to);
  /* One byte per flush of the WAL: the test counts them. */
  snprintf(to, sizeof to, "%s.image-flushes", db);
  int count = open(to, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (count >= 0) {
    if (write(count, ".", 1) != 1) { /* the count falls short: the test sees it */ }
    close(count);
  }
}

/* Whether the test broke the disk of `db` (a file <db>.fail-flushes exists). */
static int broken(const char *db) {
  char marker[PATH_MAX + 32];
  snprintf(marker, sizeof marker, "%s.fail-flushes", db);
  return access(marker, F_OK) == 0;
}

static int flush(const char *name, int fd) {
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
  char db[PATH_MAX];
  pthread_mutex_lock(&lock);
  int wal = databaseOf(fd, db, sizeof db);
  /* A broken disk fails before any copy is taken: nothing of this flush is kept. */
  if (wal && broken(db)) {
    pthread_mutex_unlock(&lock);
    errno = EIO;
    return -1;
  }
  int taken = wal && take(db);
  int result = real(fd);
  if (taken && result == 0) keep(db);
  pthread_mutex_unlock(&lock);
  return result;
}

int fsync(int fd) { return flush("fsync", fd); }
int fdatasync(int fd) { return flush("fdatasync", fd); }
