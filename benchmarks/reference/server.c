/* server.c: the physical limit. A minimal single-threaded epoll WebSocket server with the
 * I/O pattern of an OpenMMO zone server, and nothing else.
 *
 *   cc -O2 -o server server.c
 *   ./server --port 7001 --snapshot-bytes 2400
 *
 * What it does, per docs/reference/protocol.md:
 *   - accepts WebSocket upgrades on /ws (RFC 6455 handshake with Sec-WebSocket-Accept,
 *     subprotocol openmmo.v1.msgpack); a token at the upgrade (?token= or Authorization)
 *     gets `welcome` at once, otherwise an `auth` message does. Tokens are NOT verified
 *     (ours checks one HMAC per connection: a join-time cost, outside the steady state);
 *   - reads client frames (unmasking them) and decodes each message's `type` and `seq` (and
 *     a move's x, y) with a minimal msgpack reader; keeps the highest seq as the ack;
 *   - `join_game` -> `joined`; `attack` -> an immediate `ack` with a result; `chat` -> an
 *     immediate `ack`; `ping` -> `pong`; `leave` and close frames -> close;
 *   - once per tick (20 Hz) writes one snapshot frame to each playing client that sent a move
 *     since its last snapshot or has not had one for a snapshot interval (10 Hz, minus half a
 *     tick), the rule of openmmo.zone.replicate; --every-tick writes one per client per tick.
 *     A snapshot is the real msgpack layout (`ack` at byte 47) of --snapshot-bytes bytes:
 *     the client's own record, the town's 8 rats at their home points (so the bots find the
 *     same attack targets as in the real town), and records of other players as filler.
 *     Each client's frame is assembled by copying the shared records after its own header,
 *     as ours joins shared per-cell parts;
 *   - a client whose socket is backed up gets no snapshot (skipped, as ours does).
 *
 * No simulation, no interest management, no validation, no rate limits, no persistence: the
 * distance between this and the real server is the cost of everything that is not I/O.
 * SIGUSR1 prints cumulative counters (ticks, tick-duration histogram, snapshots, bytes) as
 * one JSON line on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "mp.h"

static int opt_port = 7001;
static double opt_tick_hz = 20.0, opt_snapshot_hz = 10.0;
static int opt_snapshot_bytes = 1500, opt_every_tick = 0;
static const char *opt_bind = "127.0.0.1";

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static inline double rng_unit(void) {
    uint64_t x = rng_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    rng_state = x;
    return ((x * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* --- SHA-1 and base64, for Sec-WebSocket-Accept ------------------------------------------ */
static uint32_t rol(uint32_t v, int n) { return v << n | v >> (32 - n); }
static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    uint8_t *m = calloc(total, 1);
    memcpy(m, msg, len);
    m[len] = 0x80;
    put64(m + total - 8, (uint64_t)len * 8);
    for (size_t c = 0; c < total; c += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++) w[i] = be32(m + c + 4 * i);
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], cc = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & cc) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ cc ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & cc) | (b & d) | (cc & d); k = 0x8F1BBCDC; }
            else { f = b ^ cc ^ d; k = 0xCA62C1D6; }
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d; d = cc; cc = rol(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += cc; h[3] += d; h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++) put32(out + 4 * i, h[i]);
}
static void base64(const uint8_t *in, size_t len, char *out) {
    static const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = A[v >> 18 & 63];
        out[o++] = A[v >> 12 & 63];
        out[o++] = i + 1 < len ? A[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? A[v & 63] : '=';
    }
    out[o] = 0;
}

/* --- connections ------------------------------------------------------------------------- */
enum { C_HTTP, C_AUTH, C_LOBBY, C_PLAYING, C_CLOSING };
typedef struct {
    int fd, state, pidx;
    uint8_t *rbuf; size_t rlen, rcap;
    uint8_t *wbuf; size_t wlen, wcap;
    uint32_t last_seq, entity_id;
    int unacked;
    int64_t last_snap;
    float x, y;
} conn_t;

static conn_t **conns; /* by fd */
static int nconns_max;
static conn_t **players; /* the playing ones, in join order */
static int nplayers;
static int epfd;
static uint32_t next_entity = 1, tick;
static volatile sig_atomic_t want_stats, stop;
static const double FAST_S[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0};
#define NFAST (sizeof FAST_S / sizeof *FAST_S)
static struct {
    uint64_t ticks, overruns, tick_le[NFAST + 1], snapshots, skipped, bytes_out, messages_in, bytes_in, acks;
    double tick_seconds;
} st;

static void on_signal(int sig) { if (sig == SIGUSR1) want_stats = 1; else stop = 1; }

static void ep_mod(conn_t *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_free(conn_t *c) {
    if (c->state == C_PLAYING) { /* swap-remove from players */
        conn_t *last = players[--nplayers];
        players[c->pidx] = last;
        last->pidx = c->pidx;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

/* Write everything or queue the rest (returns -1 if the connection died). */
static int conn_write(conn_t *c, const uint8_t *data, size_t len) {
    size_t off = 0;
    if (!c->wlen) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            n = 0;
        }
        off = (size_t)n;
        if (off == len) return 0;
        ep_mod(c, EPOLLIN | EPOLLOUT);
    }
    size_t rest = len - off;
    if (c->wlen + rest > c->wcap) { c->wcap = (c->wlen + rest) * 2; c->wbuf = realloc(c->wbuf, c->wcap); }
    memcpy(c->wbuf + c->wlen, data + off, rest);
    c->wlen += rest;
    return 0;
}

static size_t frame_header(uint8_t *h, int opcode, size_t len) {
    h[0] = 0x80 | (uint8_t)opcode;
    if (len < 126) { h[1] = (uint8_t)len; return 2; }
    if (len < 65536) { h[1] = 126; put16(h + 2, (uint16_t)len); return 4; }
    h[1] = 127; put64(h + 2, len); return 10;
}

static int send_frame(conn_t *c, int opcode, const uint8_t *payload, size_t len) {
    uint8_t buf[4096 + 10];
    if (len > 4096) return -1;
    size_t h = frame_header(buf, opcode, len);
    memcpy(buf + h, payload, len);
    return conn_write(c, buf, h + len);
}

static void send_close(conn_t *c, uint16_t code) {
    uint8_t p[2];
    put16(p, code);
    send_frame(c, 8, p, 2);
    c->state = C_CLOSING;
}

/* --- messages ---------------------------------------------------------------------------- */
static uint8_t *w_zone(uint8_t *p) {
    *p++ = 0x86;
    p = mpw_str(p, "zone_id"); p = mpw_uint(p, 1);
    p = mpw_str(p, "name"); p = mpw_str(p, "town");
    p = mpw_str(p, "width"); p = mpw_f64(p, 1024.0);
    p = mpw_str(p, "height"); p = mpw_f64(p, 1024.0);
    p = mpw_str(p, "pvp"); *p++ = 0xc2;
    p = mpw_str(p, "cell_size"); p = mpw_f64(p, 64.0);
    return p;
}

static void send_welcome(conn_t *c, uint32_t seq) {
    uint8_t m[1024], *p = m;
    *p++ = 0x80 | (seq ? 10 : 9);
    p = mpw_str(p, "type"); p = mpw_str(p, "welcome");
    p = mpw_str(p, "protocol"); p = mpw_uint(p, 1);
    p = mpw_str(p, "server_id"); p = mpw_str(p, "c-reference");
    p = mpw_str(p, "encoding"); p = mpw_str(p, "msgpack");
    p = mpw_str(p, "account_id"); p = mpw_uint(p, c->fd);
    p = mpw_str(p, "zone"); p = w_zone(p);
    p = mpw_str(p, "tick_rate_hz"); p = mpw_f64(p, opt_tick_hz);
    p = mpw_str(p, "snapshot_rate_hz"); p = mpw_f64(p, opt_snapshot_hz);
    p = mpw_str(p, "limits"); *p++ = 0x80;
    if (seq) { p = mpw_str(p, "seq"); p = mpw_uint(p, seq); }
    send_frame(c, 2, m, (size_t)(p - m));
    c->state = C_LOBBY;
}

static void send_joined(conn_t *c, uint32_t seq) {
    /* a point of the town's spawn disc (radius 300 around 512, 512), like a new guest */
    double a = rng_unit() * 6.283185307179586, r = 300.0 * sqrt(rng_unit());
    c->x = (float)(512.0 + r * cos(a));
    c->y = (float)(512.0 + r * sin(a));
    c->entity_id = next_entity++;
    uint8_t m[1024], *p = m;
    *p++ = 0x88;
    p = mpw_str(p, "type"); p = mpw_str(p, "joined");
    p = mpw_str(p, "seq"); p = mpw_uint(p, seq);
    p = mpw_str(p, "entity_id"); p = mpw_uint(p, c->entity_id);
    p = mpw_str(p, "character"); *p++ = 0x88;
    p = mpw_str(p, "character_id"); p = mpw_uint(p, c->entity_id);
    p = mpw_str(p, "name"); p = mpw_str(p, "Guest_c0ffee00");
    p = mpw_str(p, "level"); p = mpw_uint(p, 1);
    p = mpw_str(p, "xp"); p = mpw_uint(p, 0);
    p = mpw_str(p, "hp"); p = mpw_uint(p, 100);
    p = mpw_str(p, "hp_max"); p = mpw_uint(p, 100);
    p = mpw_str(p, "x"); p = mpw_f64(p, c->x);
    p = mpw_str(p, "y"); p = mpw_f64(p, c->y);
    p = mpw_str(p, "inventory"); *p++ = 0x80;
    p = mpw_str(p, "zone"); p = w_zone(p);
    p = mpw_str(p, "channel_id"); p = mpw_str(p, "c-reference");
    p = mpw_str(p, "tick"); p = mpw_uint(p, tick);
    send_frame(c, 2, m, (size_t)(p - m));
    c->state = C_PLAYING;
    c->unacked = 1;
    c->pidx = nplayers;
    players[nplayers++] = c;
}

static void on_message(conn_t *c, const uint8_t *p, size_t len) {
    const uint8_t *end = p + len, *v;
    const char *type;
    uint32_t tlen;
    uint64_t seq;
    st.messages_in++;
    st.bytes_in += len;
    if (!(v = mp_find(p, end, "type")) || mp_str(&v, end, &type, &tlen)) return;
    if (!(v = mp_find(p, end, "seq")) || mp_uint(&v, end, &seq) || seq <= c->last_seq) return;
    c->last_seq = (uint32_t)seq;
    uint8_t m[256], *q = m;
#define IS(s) (tlen == sizeof(s) - 1 && !memcmp(type, s, tlen))
    if (IS("move") && c->state == C_PLAYING) {
        double x, y;
        if ((v = mp_find(p, end, "x")) && !mp_num(&v, end, &x) && (v = mp_find(p, end, "y")) && !mp_num(&v, end, &y)) {
            c->x = (float)(x < 0 ? 0 : x > 1024 ? 1024 : x);
            c->y = (float)(y < 0 ? 0 : y > 1024 ? 1024 : y);
        }
        c->unacked = 1;
    } else if (IS("attack") && c->state == C_PLAYING) {
        uint64_t target = 0;
        if ((v = mp_find(p, end, "target_id"))) mp_uint(&v, end, &target);
        *q++ = 0x83;
        q = mpw_str(q, "type"); q = mpw_str(q, "ack");
        q = mpw_str(q, "seq"); q = mpw_uint(q, seq);
        q = mpw_str(q, "result"); *q++ = 0x84;
        q = mpw_str(q, "target"); q = mpw_uint(q, target);
        q = mpw_str(q, "damage"); q = mpw_uint(q, 8);
        q = mpw_str(q, "hp"); q = mpw_uint(q, 32);
        q = mpw_str(q, "killed"); *q++ = 0xc2;
        send_frame(c, 2, m, (size_t)(q - m));
        st.acks++;
    } else if (IS("chat") && c->state == C_PLAYING) {
        *q++ = 0x82;
        q = mpw_str(q, "type"); q = mpw_str(q, "ack");
        q = mpw_str(q, "seq"); q = mpw_uint(q, seq);
        send_frame(c, 2, m, (size_t)(q - m));
        st.acks++;
    } else if (IS("join_game") && c->state == C_LOBBY) {
        send_joined(c, (uint32_t)seq);
    } else if (IS("auth") && c->state == C_AUTH) {
        send_welcome(c, (uint32_t)seq);
    } else if (IS("ping")) {
        *q++ = 0x84;
        q = mpw_str(q, "type"); q = mpw_str(q, "pong");
        q = mpw_str(q, "seq"); q = mpw_uint(q, seq);
        q = mpw_str(q, "client_time"); *q++ = 0xc0;
        q = mpw_str(q, "server_time_ms"); q = mpw_uint(q, (uint64_t)time(NULL) * 1000);
        send_frame(c, 2, m, (size_t)(q - m));
    } else if (IS("leave")) {
        send_close(c, 1000);
    }
#undef IS
}

/* The upgrade request: 101 with Sec-WebSocket-Accept, or 400/404 and close. */
static int on_http(conn_t *c) {
    uint8_t *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!e) return c->rlen > 16384 ? -1 : 0;
    size_t used = (size_t)(e + 4 - c->rbuf);
    *e = 0;
    char *req = (char *)c->rbuf;
    char *path = strchr(req, ' ');
    if (strncmp(req, "GET ", 4) || !path) return -1;
    path++;
    if (strncmp(path, "/ws", 3) || (path[3] != ' ' && path[3] != '?')) {
        static const char r[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 25\r\nConnection: close\r\n\r\nthe game endpoint is /ws\n";
        conn_write(c, (const uint8_t *)r, sizeof r - 1);
        return -1;
    }
    char *query_token = NULL, *line_end = strstr(path, " ");
    char *q = memchr(path, '?', (size_t)(line_end - path));
    if (q && (query_token = strstr(q, "token=")) && query_token < line_end) query_token += 6;
    else query_token = NULL;
    const char *key = NULL, *proto = NULL, *auth = NULL;
    size_t keylen = 0;
    for (char *h = strstr(req, "\r\n"); h; h = strstr(h, "\r\n")) {
        h += 2;
        if (!strncasecmp(h, "Sec-WebSocket-Key:", 18)) {
            key = h + 18;
            while (*key == ' ') key++;
            keylen = strcspn(key, "\r ");
        } else if (!strncasecmp(h, "Sec-WebSocket-Protocol:", 23)) proto = h + 23;
        else if (!strncasecmp(h, "Authorization:", 14)) auth = h + 14;
    }
    if (!key) return -1;
    int msgpack = proto && memmem(proto, strcspn(proto, "\r"), "openmmo.v1.msgpack", 18) != NULL;
    if (!msgpack) { /* this reference speaks msgpack only */
        static const char r[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 55\r\nConnection: close\r\n\r\n"
                                "unsupported subprotocol; supported: openmmo.v1.msgpack\n";
        conn_write(c, (const uint8_t *)r, sizeof r - 1);
        return -1;
    }
    char kbuf[128];
    if (keylen > 64) return -1;
    memcpy(kbuf, key, keylen);
    memcpy(kbuf + keylen, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    uint8_t digest[20];
    sha1((uint8_t *)kbuf, keylen + 36, digest);
    char accept[32];
    base64(digest, 20, accept);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: openmmo.v1.msgpack\r\n\r\n",
                     accept);
    conn_write(c, (uint8_t *)resp, (size_t)n);
    int has_token = query_token || (auth && !strncasecmp(auth + strspn(auth, " "), "Bearer ", 7));
    memmove(c->rbuf, c->rbuf + used, c->rlen - used);
    c->rlen -= used;
    c->state = C_AUTH;
    if (has_token) send_welcome(c, 0);
    return 0;
}

/* Complete client frames in rbuf (returns -1 to drop the connection). */
static int on_frames(conn_t *c) {
    size_t off = 0;
    while (c->rlen - off >= 2) {
        uint8_t *f = c->rbuf + off;
        size_t avail = c->rlen - off, h = 2;
        uint64_t n = f[1] & 0x7f;
        if (!(f[1] & 0x80)) return -1; /* unmasked client frame: 1002 */
        if (n == 126) { if (avail < 4) break; n = be16(f + 2); h = 4; }
        else if (n == 127) return -1; /* nothing legitimate is that big (max 4096) */
        if (n > 4096) return -1;
        if (avail < h + 4 + n) break;
        uint8_t *mask = f + h, *p = f + h + 4;
        for (uint64_t i = 0; i < n; i++) p[i] ^= mask[i & 3];
        int opcode = f[0] & 0x0f;
        if (opcode == 1 || opcode == 2) {
            if (c->state != C_CLOSING) on_message(c, p, n);
        } else if (opcode == 8) {
            if (c->state != C_CLOSING) send_frame(c, 8, p, n >= 2 ? 2 : 0);
            return -1;
        } else if (opcode == 9) {
            send_frame(c, 10, p, n);
        }
        off += h + 4 + n;
    }
    if (off) { memmove(c->rbuf, c->rbuf + off, c->rlen - off); c->rlen -= off; }
    return 0;
}

static void on_readable(conn_t *c) {
    for (;;) {
        if (c->rcap - c->rlen < 2048) { c->rcap *= 2; c->rbuf = realloc(c->rbuf, c->rcap); }
        size_t space = c->rcap - c->rlen;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, space, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) { conn_free(c); return; }
        if (n < 0) return;
        c->rlen += (size_t)n;
        if (c->state == C_HTTP && on_http(c)) { conn_free(c); return; }
        if (c->state != C_HTTP && on_frames(c)) { conn_free(c); return; }
        if (c->state == C_CLOSING && !c->wlen) { conn_free(c); return; }
        if ((size_t)n < space) return;
    }
}

static void on_writable(conn_t *c) {
    while (c->wlen) {
        ssize_t n = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            conn_free(c);
            return;
        }
        memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
        c->wlen -= (size_t)n;
    }
    if (c->state == C_CLOSING) { conn_free(c); return; }
    ep_mod(c, EPOLLIN);
}

/* --- the tick ---------------------------------------------------------------------------- */
static const float RATS[8][2] = {{560, 540}, {575, 540}, {560, 555}, {545, 540},
                                 {430, 470}, {445, 470}, {430, 485}, {415, 470}};
static uint8_t *shared, *scratch;
static size_t nshared; /* records after the client's own one */

static void put_record(uint8_t *r, uint32_t id, float x, float y, uint16_t hp, uint16_t hp_max, uint8_t kind) {
    memcpy(r, &id, 4); memcpy(r + 4, &x, 4); memcpy(r + 8, &y, 4); /* little-endian host */
    memcpy(r + 12, &hp, 2); memcpy(r + 14, &hp_max, 2);
    r[16] = kind; r[17] = 0; r[18] = 1; r[19] = 0;
}

static void do_tick(void) {
    int64_t started = now_ns();
    tick++;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t time_ms = (uint64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    /* the shared part: 8 rats, then other players, as in a crowded 3x3 block of cells */
    for (size_t i = 0; i < nshared; i++) {
        uint8_t *r = shared + 20 * i;
        if (i < 8) put_record(r, 0x80000000u + (uint32_t)i, RATS[i][0], RATS[i][1], 40, 40, 1);
        else if (i - 8 < (size_t)nplayers) {
            conn_t *o = players[i - 8];
            put_record(r, o->entity_id, o->x, o->y, 100, 100, 0);
        } else put_record(r, 0x7fff0000u + (uint32_t)i, 512, 512, 100, 100, 0);
    }
    size_t blen = 20 * (nshared + 1);
    /* the frame: ws header | prefix (ack patched) | xp | entities bin | events [] */
    uint8_t head[128], *p = head;
    *p++ = 0x87;
    p = mpw_str(p, "type"); p = mpw_str(p, "snapshot");
    p = mpw_str(p, "tick"); *p++ = 0xce; put32(p, tick); p += 4;
    p = mpw_str(p, "time_ms"); *p++ = 0xcf; put64(p, time_ms); p += 8;
    p = mpw_str(p, "ack"); *p++ = 0xce;
    size_t ack_at = (size_t)(p - head);
    p += 4;
    p = mpw_str(p, "xp"); *p++ = 0xce; put32(p, 0); p += 4;
    p = mpw_str(p, "entities");
    if (blen < 256) { *p++ = 0xc4; *p++ = (uint8_t)blen; }
    else { *p++ = 0xc5; put16(p, (uint16_t)blen); p += 2; }
    size_t headlen = (size_t)(p - head);
    size_t payload = headlen + blen + 7 + 1;
    uint8_t ws[10];
    size_t wsh = frame_header(ws, 2, payload);
    memcpy(scratch, ws, wsh);
    memcpy(scratch + wsh, head, headlen);
    memcpy(scratch + wsh + headlen + 20, shared, blen - 20);
    uint8_t *tail = scratch + wsh + headlen + blen;
    tail = mpw_str(tail, "events");
    *tail++ = 0x90;
    size_t framelen = (size_t)(tail - scratch);

    int64_t now = started;
    int64_t due_after = now - (int64_t)(1e9 / opt_snapshot_hz) + (int64_t)(0.5e9 / opt_tick_hz);
    for (int i = 0; i < nplayers; i++) {
        conn_t *c = players[i];
        if (!opt_every_tick && !c->unacked && c->last_snap > due_after) continue;
        if (c->wlen) { st.skipped++; continue; } /* backed up: skip, as ours does */
        put32(scratch + wsh + ack_at, c->last_seq);
        put_record(scratch + wsh + headlen, c->entity_id, c->x, c->y, 100, 100, 0);
        if (conn_write(c, scratch, framelen)) { conn_free(c); i--; continue; }
        c->unacked = 0;
        c->last_snap = now;
        st.snapshots++;
        st.bytes_out += payload;
    }
    double took = (now_ns() - started) / 1e9;
    st.ticks++;
    st.tick_seconds += took;
    if (took > 1.0 / opt_tick_hz) st.overruns++;
    size_t k = 0;
    while (k < NFAST && took > FAST_S[k]) k++;
    st.tick_le[k]++;
}

static void print_stats(void) {
    printf("{\"players\": %d, \"ticks\": %llu, \"overruns\": %llu, \"tick_seconds\": %.6f, \"snapshots\": %llu, "
           "\"skipped\": %llu, \"bytes_out\": %llu, \"messages_in\": %llu, \"bytes_in\": %llu, \"acks\": %llu, "
           "\"tick_buckets\": {",
           nplayers, (unsigned long long)st.ticks, (unsigned long long)st.overruns, st.tick_seconds,
           (unsigned long long)st.snapshots, (unsigned long long)st.skipped, (unsigned long long)st.bytes_out,
           (unsigned long long)st.messages_in, (unsigned long long)st.bytes_in, (unsigned long long)st.acks);
    for (size_t k = 0; k <= NFAST; k++) {
        if (k < NFAST) printf("\"%g\": %llu, ", FAST_S[k], (unsigned long long)st.tick_le[k]);
        else printf("\"+Inf\": %llu", (unsigned long long)st.tick_le[k]);
    }
    printf("}}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--every-tick")) { opt_every_tick = 1; continue; }
        if (i + 1 >= argc) goto usage;
        const char *v = argv[++i];
        if (!strcmp(a, "--port")) opt_port = atoi(v);
        else if (!strcmp(a, "--bind")) opt_bind = v;
        else if (!strcmp(a, "--tick-hz")) opt_tick_hz = atof(v);
        else if (!strcmp(a, "--snapshot-hz")) opt_snapshot_hz = atof(v);
        else if (!strcmp(a, "--snapshot-bytes")) opt_snapshot_bytes = atoi(v);
        else goto usage;
    }
    /* records so that the msgpack snapshot payload is --snapshot-bytes long */
    {
        long fixed = 51 + 4 + 8 + 9 + 3 + 7 + 1; /* prefix+ack, xp, entities key, bin hdr, events */
        long records = (opt_snapshot_bytes - fixed + 10) / 20;
        if (records < 9) records = 9;
        if (records > 3000) records = 3000;
        nshared = (size_t)records - 1;
        shared = malloc(20 * nshared);
        scratch = malloc(20 * (nshared + 1) + 256);
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    nconns_max = (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur);
    conns = calloc((size_t)nconns_max, sizeof *conns);
    players = calloc((size_t)nconns_max, sizeof *players);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
    inet_pton(AF_INET, opt_bind, &addr.sin_addr);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 4096)) { perror("listen"); return 1; }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    long interval = (long)(1e9 / opt_tick_hz);
    struct itimerspec its = {.it_interval = {interval / 1000000000L, interval % 1000000000L},
                             .it_value = {interval / 1000000000L, interval % 1000000000L}};
    timerfd_settime(tfd, 0, &its, NULL);
    ev.data.fd = tfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    fprintf(stderr, "server: listening on %s:%d, %zu entities per snapshot (%d bytes)\n", opt_bind, opt_port,
            nshared + 1, opt_snapshot_bytes);

    struct epoll_event events[1024];
    while (!stop) {
        if (want_stats) { want_stats = 0; print_stats(); }
        int n = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0) break;
                    if (cfd >= nconns_max) { close(cfd); continue; }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn_t *c = calloc(1, sizeof *c);
                    c->fd = cfd;
                    c->rcap = 4096;
                    c->rbuf = malloc(c->rcap);
                    conns[cfd] = c;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
            } else if (fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) > 0) do_tick();
            } else {
                conn_t *c = conns[fd];
                if (!c) continue;
                if (events[i].events & EPOLLOUT) { on_writable(c); c = conns[fd]; }
                if (c && events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
            }
        }
    }
    print_stats();
    return 0;
usage:
    fprintf(stderr, "usage: server [--port P] [--bind ADDR] [--snapshot-bytes N] [--every-tick]\n"
                    "              [--tick-hz 20] [--snapshot-hz 10]\n");
    return 2;
}
