/* vt_store_schema.h: names shared by the store writer and readers; the
 * schema itself is documented in docs/STORE.md. */
#ifndef VT_STORE_SCHEMA_H
#define VT_STORE_SCHEMA_H

#define VT_STORE_FORMAT "vggtap-store"
#define VT_STORE_FORMAT_VERSION 1

enum { VT_ROW_PENDING = 0, VT_ROW_OK = 1, VT_ROW_FAILED = 2 };

#endif
