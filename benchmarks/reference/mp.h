/* A few msgpack readers and writers shared by bots.c and server.c (header-only, libc only).
 *
 * Readers take a cursor (*pp) and the end of the buffer, advance the cursor past what they
 * read and return 0, or return -1 on a short or unexpected value.
 */
#ifndef OPENMMO_REF_MP_H
#define OPENMMO_REF_MP_H

#include <stdint.h>
#include <string.h>

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static inline void put64(uint8_t *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, (uint32_t)v); }

/* Skip one value of any type. */
static inline int mp_skip_depth(const uint8_t **pp, const uint8_t *end, int depth) {
    const uint8_t *p = *pp;
    if (p >= end || depth > 32) return -1;
    uint8_t t = *p++;
    uint64_t n = 0, items = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) { *pp = p; return 0; }
    if ((t & 0xf0) == 0x80) items = 2 * (t & 0x0f);
    else if ((t & 0xf0) == 0x90) items = t & 0x0f;
    else if ((t & 0xe0) == 0xa0) n = t & 0x1f;
    else switch (t) {
        case 0xc4: case 0xd9: if (end - p < 1) return -1; n = p[0]; p += 1; break;
        case 0xc5: case 0xda: if (end - p < 2) return -1; n = be16(p); p += 2; break;
        case 0xc6: case 0xdb: if (end - p < 4) return -1; n = be32(p); p += 4; break;
        case 0xc7: if (end - p < 2) return -1; n = 1 + (uint64_t)p[0]; p += 1; break;
        case 0xc8: if (end - p < 3) return -1; n = 1 + (uint64_t)be16(p); p += 2; break;
        case 0xc9: if (end - p < 5) return -1; n = 1 + (uint64_t)be32(p); p += 4; break;
        case 0xca: n = 4; break;
        case 0xcb: n = 8; break;
        case 0xcc: case 0xd0: n = 1; break;
        case 0xcd: case 0xd1: n = 2; break;
        case 0xce: case 0xd2: n = 4; break;
        case 0xcf: case 0xd3: n = 8; break;
        case 0xd4: n = 2; break;
        case 0xd5: n = 3; break;
        case 0xd6: n = 5; break;
        case 0xd7: n = 9; break;
        case 0xd8: n = 17; break;
        case 0xdc: if (end - p < 2) return -1; items = be16(p); p += 2; break;
        case 0xdd: if (end - p < 4) return -1; items = be32(p); p += 4; break;
        case 0xde: if (end - p < 2) return -1; items = 2 * (uint64_t)be16(p); p += 2; break;
        case 0xdf: if (end - p < 4) return -1; items = 2 * (uint64_t)be32(p); p += 4; break;
        default: return -1;
    }
    if ((uint64_t)(end - p) < n) return -1;
    p += n;
    for (uint64_t i = 0; i < items; i++)
        if (mp_skip_depth(&p, end, depth + 1)) return -1;
    *pp = p;
    return 0;
}
static inline int mp_skip(const uint8_t **pp, const uint8_t *end) { return mp_skip_depth(pp, end, 0); }

static inline int mp_map(const uint8_t **pp, const uint8_t *end, uint32_t *count) {
    const uint8_t *p = *pp;
    if (p >= end) return -1;
    if ((*p & 0xf0) == 0x80) { *count = *p & 0x0f; *pp = p + 1; return 0; }
    if (*p == 0xde && end - p >= 3) { *count = be16(p + 1); *pp = p + 3; return 0; }
    if (*p == 0xdf && end - p >= 5) { *count = be32(p + 1); *pp = p + 5; return 0; }
    return -1;
}

static inline int mp_str(const uint8_t **pp, const uint8_t *end, const char **s, uint32_t *len) {
    const uint8_t *p = *pp;
    if (p >= end) return -1;
    uint32_t n;
    if ((*p & 0xe0) == 0xa0) { n = *p & 0x1f; p += 1; }
    else if (*p == 0xd9 && end - p >= 2) { n = p[1]; p += 2; }
    else if (*p == 0xda && end - p >= 3) { n = be16(p + 1); p += 3; }
    else if (*p == 0xdb && end - p >= 5) { n = be32(p + 1); p += 5; }
    else return -1;
    if ((uint32_t)(end - p) < n) return -1;
    *s = (const char *)p; *len = n; *pp = p + n;
    return 0;
}

static inline int mp_bin(const uint8_t **pp, const uint8_t *end, const uint8_t **b, uint32_t *len) {
    const uint8_t *p = *pp;
    if (p >= end) return -1;
    uint32_t n;
    if (*p == 0xc4 && end - p >= 2) { n = p[1]; p += 2; }
    else if (*p == 0xc5 && end - p >= 3) { n = be16(p + 1); p += 3; }
    else if (*p == 0xc6 && end - p >= 5) { n = be32(p + 1); p += 5; }
    else return -1;
    if ((uint32_t)(end - p) < n) return -1;
    *b = p; *len = n; *pp = p + n;
    return 0;
}

/* Any number (int or float) as a double. */
static inline int mp_num(const uint8_t **pp, const uint8_t *end, double *v) {
    const uint8_t *p = *pp;
    if (p >= end) return -1;
    uint8_t t = *p;
    size_t need = 1;
    if (t <= 0x7f) *v = t;
    else if (t >= 0xe0) *v = (int8_t)t;
    else {
        switch (t) {
            case 0xcc: need = 2; break; case 0xcd: need = 3; break;
            case 0xce: need = 5; break; case 0xcf: need = 9; break;
            case 0xd0: need = 2; break; case 0xd1: need = 3; break;
            case 0xd2: need = 5; break; case 0xd3: need = 9; break;
            case 0xca: need = 5; break; case 0xcb: need = 9; break;
            default: return -1;
        }
        if ((size_t)(end - p) < need) return -1;
        const uint8_t *q = p + 1;
        switch (t) {
            case 0xcc: *v = q[0]; break;
            case 0xcd: *v = be16(q); break;
            case 0xce: *v = be32(q); break;
            case 0xcf: *v = (double)be64(q); break;
            case 0xd0: *v = (int8_t)q[0]; break;
            case 0xd1: *v = (int16_t)be16(q); break;
            case 0xd2: *v = (int32_t)be32(q); break;
            case 0xd3: *v = (double)(int64_t)be64(q); break;
            case 0xca: { uint32_t b = be32(q); float f; memcpy(&f, &b, 4); *v = f; break; }
            case 0xcb: { uint64_t b = be64(q); double d; memcpy(&d, &b, 8); *v = d; break; }
        }
    }
    *pp = p + need;
    return 0;
}

static inline int mp_uint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
    const uint8_t *p = *pp;
    if (p >= end) return -1;
    uint8_t t = *p;
    if (t <= 0x7f) { *v = t; *pp = p + 1; return 0; }
    if (t == 0xcc && end - p >= 2) { *v = p[1]; *pp = p + 2; return 0; }
    if (t == 0xcd && end - p >= 3) { *v = be16(p + 1); *pp = p + 3; return 0; }
    if (t == 0xce && end - p >= 5) { *v = be32(p + 1); *pp = p + 5; return 0; }
    if (t == 0xcf && end - p >= 9) { *v = be64(p + 1); *pp = p + 9; return 0; }
    return -1;
}

/* In the map at *p, the value of key ``key`` (NULL if absent or malformed). */
static inline const uint8_t *mp_find(const uint8_t *p, const uint8_t *end, const char *key) {
    uint32_t count;
    size_t klen = strlen(key);
    if (mp_map(&p, end, &count)) return NULL;
    for (uint32_t i = 0; i < count; i++) {
        const char *s;
        uint32_t n;
        if (mp_str(&p, end, &s, &n)) {
            if (mp_skip(&p, end)) return NULL; /* non-string key */
        } else if (n == klen && memcmp(s, key, n) == 0) {
            return p;
        }
        if (mp_skip(&p, end)) return NULL;
    }
    return NULL;
}

/* --- writers (buffer must have room) ------------------------------------------------------ */
static inline uint8_t *mpw_str(uint8_t *p, const char *s) {
    size_t n = strlen(s);
    if (n < 32) *p++ = 0xa0 | (uint8_t)n;
    else if (n < 256) { *p++ = 0xd9; *p++ = (uint8_t)n; }
    else { *p++ = 0xda; put16(p, (uint16_t)n); p += 2; }
    memcpy(p, s, n);
    return p + n;
}
static inline uint8_t *mpw_uint(uint8_t *p, uint64_t v) {
    if (v < 128) *p++ = (uint8_t)v;
    else if (v < 256) { *p++ = 0xcc; *p++ = (uint8_t)v; }
    else if (v < 65536) { *p++ = 0xcd; put16(p, (uint16_t)v); p += 2; }
    else if (v <= 0xffffffffu) { *p++ = 0xce; put32(p, (uint32_t)v); p += 4; }
    else { *p++ = 0xcf; put64(p, v); p += 8; }
    return p;
}
static inline uint8_t *mpw_f64(uint8_t *p, double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    *p++ = 0xcb;
    put64(p, b);
    return p + 8;
}

#endif
