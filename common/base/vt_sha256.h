/* vt_sha256.h: SHA-256 (FIPS 180-4) of a file or a stream of bytes: the
 * weights digest stores and heads record. */
#ifndef VT_SHA256_H
#define VT_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* sha256 of a file as 64 hex chars + NUL. */
int vt_sha256_file(const char *path, char hex[65]);

/* Streaming SHA-256 (FIPS 180-4): init, any number of updates, final. */
typedef struct {
  uint32_t h[8];
  uint64_t nbytes;       /* message length so far */
  unsigned char block[64];
  size_t nblock;         /* bytes waiting in block */
} vt_sha256_ctx;
void vt_sha256_init(vt_sha256_ctx *c);
void vt_sha256_update(vt_sha256_ctx *c, const void *data, size_t n);
void vt_sha256_final_hex(vt_sha256_ctx *c, char hex[65]);

#endif
