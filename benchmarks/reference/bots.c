/* bots.c: a C load generator that speaks the OpenMMO game protocol to one zone server.
 *
 *   cc -O2 -o bots bots.c -lm
 *   ./bots --port 7001 --bots 1000 --tokens tickets.txt --hold 20 --out report.json
 *   ./bots ... --protocol 2   (protocol v2: delta snapshots; see below)
 *   (--tokens - reads one ticket per line from stdin, connecting each bot as its line arrives)
 *   ./bots --port 7001,7002 --bots 5000 --movers 1000 ...   (bot i connects to port i mod 2;
 *   every (bots/movers)-th bot plays the full behaviour, the others stand idle and only chat,
 *   every --idle-chat-every s)
 *
 * Single-threaded epoll. Each bot: WebSocket upgrade to /ws with subprotocol
 * openmmo.v1.msgpack (--protocol 2: see below) and its ticket in ?token=
 * (docs/reference/protocol.md §2), waits for `welcome`, sends `join_game`, then plays the
 * seed's behaviour like openmmo.loadtest.bot:
 * a `move` at 10 Hz (0.6-unit steps of a random walk within 150 units of where it joined,
 * resynchronised with its authoritative position once a second), an `attack` (arrow) on the
 * nearest living NPC within 20 units every 2 s, a `say` chat line every 5 s. Every message
 * carries a seq. Latency action -> ack (§5): moves are answered by the first snapshot whose
 * `ack` >= seq (read at its fixed offset, the snapshot is not decoded), attacks and chat by
 * the `ack`/`error` carrying their seq. A `join_game` answered `unavailable` or
 * `character_busy` is sent again a second later (§2.7), up to 10 times.
 *
 * With --resume S a bot whose connection ends without being asked to (no close frame, or any
 * close but 1000/4003/4009: protocol.md §2.7) connects again, to the next --port (a channel it
 * did not just lose), after a full-jitter exponential backoff (attempt n waits uniformly in
 * [0, min(8 s, 0.25 s * 2^n)]), and joins with the same token: give it access tokens, which
 * can be used again (join tickets cannot). It gives up after S s ("resume_failed"). The report
 * counts "reconnects" and the time "back_in_play" from the drop to `joined`.
 *
 * An idle bot sends no move or attack: its latencies are its chat acks and the gaps between the
 * snapshots it receives (how fresh its view of the others is; reported as "idle_snapshot_gap").
 *
 * With --protocol 2 a bot offers `openmmo.v2.msgpack, openmmo.v1.msgpack` (protocol.md §2.3)
 * and speaks what `welcome.protocol` says it got (the report counts both). In v2 snapshots are
 * deltas (§8.4): every bot, idle or not, applies each one (full, leave, enter, update, place,
 * move, in that order) to its own view, a small open-addressing table keyed by the u16
 * handle, and takes from that view what a v1 bot takes from the `entities` bin (its own
 * position, the nearest NPC, the entity counts). The `ack` is read at the same fixed offset
 * (the v2 map starts with the same entries; only its fixmap header differs). A delta that
 * does not fit the view (a handle not held, an `enter` of one held, a record of the wrong
 * size, a delta before any keyframe) counts as an error ("delta_<why>"), clears the view and
 * sends `resync` (§6.13); the deltas still in flight are ignored until the keyframe that
 * answers it. Bytes are counted as in v1 (every frame's payload: "bytes_in"). In v2 a
 * snapshot that would carry nothing is not sent (a keepalive comes once a second), so
 * "snapshots_per_bot_s" and "idle_snapshot_gap" mean snapshots that carried something.
 *
 * Timeline: connect (at most --rate per second) -> when every bot plays (or --join-timeout)
 * wait --settle s -> measure --hold s (prints {"event":"window_start"} and
 * {"event":"window_end"} on stdout the moment each happens, so a driver can sample the
 * server's CPU over the same window) -> write the JSON report -> keep playing --linger s (so
 * the driver can read the server's gauges) -> close every connection (close frame 1000) ->
 * exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mp.h"

/* ---------------------------------------------------------------------------------------- */
/* options                                                                                   */
static const char *opt_host = "127.0.0.1";
static int opt_ports[16] = {7001}, opt_nports = 1;
static int opt_movers = -1; /* -1: every bot moves */
static double opt_idle_chat_every = 20.0;
static const char *opt_path = "/ws";
static int opt_bots = 100;
static const char *opt_tokens = NULL; /* NULL: every bot presents "x"; "-": stdin */
static double opt_rate = 200.0;       /* connects per second */
static int opt_inflight = 200;        /* bots between connect and joined at once */
static double opt_hold = 20.0, opt_settle = 3.0, opt_join_timeout = 180.0, opt_linger = 0.0;
static double opt_resume = 0.0; /* > 0: resume dropped connections, giving up after this many s */
static double opt_move_hz = 10.0, opt_attack_every = 2.0, opt_chat_every = 5.0;
static double opt_speed = 6.0, opt_wander = 150.0, opt_reach = 20.0;
static const char *opt_out = NULL;
static uint64_t opt_seed = 12345;
static int opt_protocol = 1; /* 2: offer openmmo.v2.msgpack (delta snapshots) first */

/* ---------------------------------------------------------------------------------------- */
/* time, rng                                                                                 */
static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static uint64_t rng_state;
static inline uint64_t rng_u64(void) {
    uint64_t x = rng_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static inline double rng_unit(void) { return (rng_u64() >> 11) * (1.0 / 9007199254740992.0); }
static inline double rng_range(double a, double b) { return a + (b - a) * rng_unit(); }

/* ---------------------------------------------------------------------------------------- */
/* histograms: the buckets of openmmo.loadtest.stats (2 % geometric steps from 10 µs)       */
#define NBUCKETS 1400
typedef struct {
    uint32_t b[NBUCKETS];
    uint64_t count;
    double total_ms, max_ms;
} hist_t;
static const double LOG_GROWTH = 0.0198026272961797; /* log(1.02) */
static void hist_record(hist_t *h, double ms) {
    int k = ms <= 0.01 ? 0 : (int)(log(ms / 0.01) / LOG_GROWTH) + 1;
    if (k >= NBUCKETS) k = NBUCKETS - 1;
    h->b[k]++;
    h->count++;
    h->total_ms += ms;
    if (ms > h->max_ms) h->max_ms = ms;
}
static double hist_pct(const hist_t *h, double q) {
    if (!h->count) return 0.0;
    uint64_t rank = (uint64_t)ceil(h->count * q / 100.0), seen = 0;
    for (int k = 0; k < NBUCKETS; k++) {
        seen += h->b[k];
        if (seen >= rank) {
            double upper = 0.01 * pow(1.02, k);
            return upper < h->max_ms ? upper : h->max_ms;
        }
    }
    return h->max_ms;
}

enum { A_MOVE, A_ATTACK, A_CHAT, A_N };
static const char *ACTION[A_N] = {"move", "attack", "chat"};

/* Counters of the measurement window (reset when it starts). */
typedef struct {
    hist_t lat[A_N];
    hist_t idle_gap; /* ms between snapshots received by idle bots */
    uint64_t sent[A_N];
    uint64_t snapshots, snapshot_bytes, snapshot_entities, snapshot_scans, rejections, errors, frames_in, bytes_in;
    uint64_t keyframes, resyncs; /* protocol v2 */
} window_t;
static window_t win;
/* Over the whole run (not reset by the window): connect -> `joined` of every bot, and when the
 * first bot connected and the last one joined (the achieved join rate). */
static hist_t join_hist, back_hist;
static uint64_t reconnects_total, drops_total;
static int64_t first_connect_at, last_joined_at;

/* Error kinds over the whole run. */
#define MAX_KINDS 64
static struct { char name[48]; uint64_t n; } kinds[MAX_KINDS];
static int movers_total;
static uint64_t errors_total, requests_total, rejections_total, unanswered_total, join_retries_total;
static uint64_t welcomes[3]; /* by the protocol `welcome` announced (1 or 2) */
static uint64_t resyncs_total;
static void fail(const char *fmt, ...) {
    char name[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    errors_total++;
    win.errors++;
    for (int i = 0; i < MAX_KINDS; i++) {
        if (!kinds[i].name[0]) { snprintf(kinds[i].name, sizeof kinds[i].name, "%s", name); }
        if (!strcmp(kinds[i].name, name)) { kinds[i].n++; return; }
    }
}

/* Refusals by a game rule are the game working (openmmo.loadtest.bot.GAME_REJECTIONS). */
static int game_rejection(const char *s, uint32_t n) {
    static const char *codes[] = {"cooldown", "out_of_range", "target_dead", "invalid_target",
                                  "you_are_dead", "pvp_disabled", "transferring"};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (strlen(codes[i]) == n && !memcmp(codes[i], s, n)) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* protocol v2: a bot's view, the entities it holds by handle (protocol.md §8.4)             */
typedef struct {
    uint32_t id;
    uint16_t handle, qx, qy, hp, hp_max; /* qx, qy: the position in units of the quantum */
    uint8_t kind, flags, level, used;
} ent_t;
typedef struct {
    ent_t *slot;          /* open addressing, linear probing; at most half full */
    uint32_t cap, count;  /* cap: a power of two (0 until the first enter) */
    int bits;
    double quantum;
    int synced;           /* a keyframe has arrived since the view was last cleared */
} view_t;

static inline uint32_t view_home(const view_t *v, uint16_t handle) {
    return ((uint32_t)handle * 2654435761u) >> (32 - v->bits);
}
static ent_t *view_find(view_t *v, uint16_t handle) {
    if (!v->cap) return NULL;
    for (uint32_t i = view_home(v, handle);; i = (i + 1) & (v->cap - 1)) {
        if (!v->slot[i].used) return NULL;
        if (v->slot[i].handle == handle) return &v->slot[i];
    }
}
static void view_place(view_t *v, const ent_t *e) { /* e's handle is not held; there is room */
    uint32_t i = view_home(v, e->handle);
    while (v->slot[i].used) i = (i + 1) & (v->cap - 1);
    v->slot[i] = *e;
    v->slot[i].used = 1;
    v->count++;
}
static void view_add(view_t *v, const ent_t *e) {
    if ((v->count + 1) * 2 > v->cap) {
        ent_t *old = v->slot;
        uint32_t old_cap = v->cap;
        v->cap = old_cap ? old_cap * 2 : 64;
        v->bits = __builtin_ctz(v->cap);
        v->slot = calloc(v->cap, sizeof *v->slot);
        v->count = 0;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i].used) view_place(v, &old[i]);
        free(old);
    }
    view_place(v, e);
}
static int view_remove(view_t *v, uint16_t handle) { /* 0, or -1 if not held */
    ent_t *e = view_find(v, handle);
    if (!e) return -1;
    uint32_t mask = v->cap - 1, i = (uint32_t)(e - v->slot), j = i;
    v->slot[i].used = 0;
    v->count--;
    for (;;) { /* backward shift: no tombstones */
        j = (j + 1) & mask;
        if (!v->slot[j].used) return 0;
        uint32_t k = view_home(v, v->slot[j].handle);
        if (j > i ? (k <= i || k > j) : (k <= i && k > j)) {
            v->slot[i] = v->slot[j];
            v->slot[j].used = 0;
            i = j;
        }
    }
}
static void view_clear(view_t *v) {
    if (v->cap) memset(v->slot, 0, v->cap * sizeof *v->slot);
    v->count = 0;
    v->synced = 0;
}
static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---------------------------------------------------------------------------------------- */
/* bots                                                                                      */
enum { S_IDLE, S_CONNECTING, S_UPGRADING, S_WELCOME, S_JOINING, S_PLAYING, S_RESUMING, S_CLOSED };
#define MOVE_RING 256
#define PENDING 8
typedef struct {
    int fd, state, index;
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t *wbuf; /* bytes the socket did not take yet */
    size_t wlen, wcap;
    uint32_t seq;
    struct { uint32_t seq; int64_t t; } moves[MOVE_RING];
    unsigned mhead, mtail; /* ring of moves waiting for a snapshot ack */
    struct { uint32_t seq; int kind; int64_t t; } pending[PENDING];
    int64_t started, next_attack, next_chat, next_sync;
    uint32_t entity_id;
    double x, y, hx, hy, heading, zw, zh;
    double sx, sy; int have_server_pos; /* own position in the last snapshot scanned */
    uint32_t target; double target_dist; int have_target;
    int pvp, stopping, close_code, join_retries, mover;
    int64_t last_snapshot;
    int64_t join_retry_at;
    int64_t dropped_at, resume_at; /* --resume: when the connection was lost, next attempt */
    int attempt, port_shift;
    int proto;         /* the protocol `welcome` announced on this connection */
    view_t view;       /* protocol v2 */
    int64_t resync_at; /* v2: when a resync was sent that no keyframe has answered yet */
} bot_t;

static bot_t *bots;
static char **tokens;
static int ntokens, tokens_eof;
static int epfd;
static volatile sig_atomic_t interrupted;
static int connected_total, playing_now, inflight, next_connect, finished; /* finished: failed */
static struct sockaddr_in server_addr;

static void on_signal(int sig) { (void)sig; interrupted = 1; }

static void ep_set(bot_t *b, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.ptr = b};
    epoll_ctl(epfd, op, b->fd, &ev);
}

/* protocol.md §2.7: after these a client does not come back by itself. */
static int resumable(int code) { return code != 1000 && code != 4003 && code != 4009; }

static void bot_close(bot_t *b, const char *why) {
    if (b->state == S_CLOSED || b->state == S_IDLE || b->state == S_RESUMING) return;
    int64_t now = now_ns();
    int resume = opt_resume > 0 && !b->stopping && !interrupted && resumable(b->close_code);
    if (resume && (b->dropped_at ? (now - b->dropped_at) / 1e9 > opt_resume : 0)) {
        resume = 0; /* not back in time: this one is a failure */
        why = "resume_failed";
    }
    if (why && !b->stopping && !resume) fail("%s", why);
    if (b->state == S_PLAYING) playing_now--;
    else inflight--;
    if (!b->stopping && !resume) finished++; /* ended without being asked to: counts as done */
    epoll_ctl(epfd, EPOLL_CTL_DEL, b->fd, NULL);
    close(b->fd);
    b->fd = -1;
    b->state = S_CLOSED;
    free(b->rbuf); b->rbuf = NULL; b->rlen = b->rcap = 0;
    free(b->wbuf); b->wbuf = NULL; b->wlen = b->wcap = 0;
    if (resume) {
        if (!b->dropped_at) { b->dropped_at = now; drops_total++; }
        double ceiling = 0.25 * (double)(1 << (b->attempt < 5 ? b->attempt : 5));
        if (ceiling > 8) ceiling = 8;
        b->attempt++;
        b->port_shift++; /* another channel than the one just lost */
        b->resume_at = now + (int64_t)(rng_range(0, ceiling) * 1e9);
        b->state = S_RESUMING;
    }
}

/* Write all of data, queueing what the socket does not take (and asking for EPOLLOUT). */
static void bot_write(bot_t *b, const uint8_t *data, size_t len) {
    if (b->fd < 0) return;
    size_t off = 0;
    if (b->wlen == 0) {
        ssize_t n = send(b->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) { bot_close(b, "send_failed"); return; }
            n = 0;
        }
        off = (size_t)n;
        if (off == len) return;
        ep_set(b, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
    size_t rest = len - off;
    if (b->wlen + rest > b->wcap) {
        b->wcap = (b->wlen + rest) * 2;
        b->wbuf = realloc(b->wbuf, b->wcap);
    }
    memcpy(b->wbuf + b->wlen, data + off, rest);
    b->wlen += rest;
}

/* One masked client frame (RFC 6455 §5.3) carrying payload. */
static void bot_send_frame(bot_t *b, int opcode, const uint8_t *payload, size_t len) {
    uint8_t frame[512 + 14];
    if (len > 512) return;
    size_t h = 0;
    frame[h++] = 0x80 | (uint8_t)opcode;
    if (len < 126) frame[h++] = 0x80 | (uint8_t)len;
    else { frame[h++] = 0x80 | 126; put16(frame + h, (uint16_t)len); h += 2; }
    uint32_t key = (uint32_t)rng_u64();
    uint8_t mask[4];
    memcpy(mask, &key, 4);
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) frame[h + i] = payload[i] ^ mask[i & 3];
    bot_write(b, frame, h + len);
}

/* Send one game message: body is the map's entries without seq; count its fields. */
static uint32_t bot_send(bot_t *b, const uint8_t *entries, size_t len, int fields, int kind) {
    uint8_t msg[480];
    uint8_t *p = msg;
    *p++ = 0x80 | (uint8_t)(fields + 1);
    memcpy(p, entries, len);
    p += len;
    b->seq++;
    p = mpw_str(p, "seq");
    p = mpw_uint(p, b->seq);
    bot_send_frame(b, 2, msg, (size_t)(p - msg));
    requests_total++;
    if (kind >= 0) win.sent[kind]++;
    return b->seq;
}

static void track(bot_t *b, uint32_t seq, int kind, int64_t t) {
    for (int i = 0; i < PENDING; i++)
        if (!b->pending[i].seq) { b->pending[i].seq = seq; b->pending[i].kind = kind; b->pending[i].t = t; return; }
    /* full: the oldest is lost to the measurement */
    unanswered_total++;
    fail("unanswered_%s", ACTION[b->pending[0].kind]);
    b->pending[0].seq = seq; b->pending[0].kind = kind; b->pending[0].t = t;
}

/* --- behaviour --------------------------------------------------------------------------- */
static void do_move(bot_t *b, int64_t now) {
    double interval = 1.0 / opt_move_hz;
    if (hypot(b->x - b->hx, b->y - b->hy) > opt_wander) b->heading = atan2(b->hy - b->y, b->hx - b->x);
    else b->heading += rng_range(-0.4, 0.4);
    double step = opt_speed * interval;
    b->x = fmin(fmax(b->x + cos(b->heading) * step, 1.0), b->zw - 1.0);
    b->y = fmin(fmax(b->y + sin(b->heading) * step, 1.0), b->zh - 1.0);
    uint8_t body[64], *p = body;
    p = mpw_str(p, "type"); p = mpw_str(p, "move");
    p = mpw_str(p, "x"); p = mpw_f64(p, round(b->x * 100) / 100);
    p = mpw_str(p, "y"); p = mpw_f64(p, round(b->y * 100) / 100);
    uint32_t seq = bot_send(b, body, (size_t)(p - body), 3, A_MOVE);
    if (b->mtail - b->mhead >= MOVE_RING) { b->mhead++; fail("unanswered_move"); unanswered_total++; }
    b->moves[b->mtail % MOVE_RING].seq = seq;
    b->moves[b->mtail % MOVE_RING].t = now;
    b->mtail++;
}

static void do_attack(bot_t *b, int64_t now) {
    if (!b->have_target || b->target_dist > opt_reach) return;
    uint8_t body[64], *p = body;
    p = mpw_str(p, "type"); p = mpw_str(p, "attack");
    p = mpw_str(p, "target_id"); p = mpw_uint(p, b->target);
    p = mpw_str(p, "skill_id"); p = mpw_uint(p, 2); /* arrow: range 24, cooldown 1.5 s */
    track(b, bot_send(b, body, (size_t)(p - body), 3, A_ATTACK), A_ATTACK, now);
}

static void do_chat(bot_t *b, int64_t now) {
    char text[48];
    snprintf(text, sizeof text, "hello from bot %d", b->index);
    uint8_t body[96], *p = body;
    p = mpw_str(p, "type"); p = mpw_str(p, "chat");
    p = mpw_str(p, "channel"); p = mpw_str(p, "say");
    p = mpw_str(p, "message"); p = mpw_str(p, text);
    track(b, bot_send(b, body, (size_t)(p - body), 3, A_CHAT), A_CHAT, now);
}

static void bot_act(bot_t *b, int64_t now) {
    if (!b->mover) {
        if (now >= b->next_chat) { b->next_chat = now + (int64_t)(opt_idle_chat_every * 1e9); do_chat(b, now); }
        return;
    }
    if (now >= b->next_sync) {
        b->next_sync = now + 1000000000LL;
        if (b->have_server_pos) { b->x = b->sx; b->y = b->sy; }
    }
    do_move(b, now);
    if (now >= b->next_attack) { b->next_attack = now + (int64_t)(opt_attack_every * 1e9); do_attack(b, now); }
    if (now >= b->next_chat) { b->next_chat = now + (int64_t)(opt_chat_every * 1e9); do_chat(b, now); }
}

/* --- receiving --------------------------------------------------------------------------- */
static const uint8_t SNAP_HEAD[20] = {0x87, 0xa4, 't', 'y', 'p', 'e', 0xa8, 's', 'n', 'a', 'p',
                                      's', 'h', 'o', 't', 0xa4, 't', 'i', 'c', 'k'};
#define ACK_AT 47 /* the uint32 ack follows its 0xce marker at offset 46 */

/* The v1 snapshot's head; a v2 one is the same but for its fixmap header (0x86 and up: the six
 * entries of v1 without `entities`, plus the delta fields present). */
static int is_snapshot(const bot_t *b, const uint8_t *p, size_t len) {
    if (len < ACK_AT + 4 || p[ACK_AT - 1] != 0xce || memcmp(p + 1, SNAP_HEAD + 1, sizeof SNAP_HEAD - 1))
        return 0;
    if (b->proto == 2) return (p[0] & 0xf0) == 0x80 && (p[0] & 0x0f) >= 6;
    return p[0] == SNAP_HEAD[0];
}

/* Apply one v2 snapshot to the bot's view (protocol.md §8.4): NULL, or why it does not fit. */
enum { D_LEAVE, D_ENTER, D_UPDATE, D_PLACE, D_MOVE, D_N };
static const char *DELTA_NAME[D_N] = {"leave", "enter", "update", "place", "move"};
static const uint32_t DELTA_SIZE[D_N] = {2, 17, 8, 6, 4};

static const char *apply_delta(view_t *v, const uint8_t *p, size_t len, int *keyframe) {
    const uint8_t *q = p + ACK_AT + 4, *end = p + len;
    const uint8_t *sec[D_N] = {0};
    uint32_t slen[D_N] = {0};
    int full = 0, have_quantum = 0;
    double quantum = 0;
    uint32_t entries = (p[0] & 0x0f) - 4; /* after type, tick, time_ms, ack */
    for (uint32_t i = 0; i < entries; i++) {
        const char *k; uint32_t kl;
        if (mp_str(&q, end, &k, &kl)) return "delta_malformed";
        int s = -1;
        for (int d = 0; d < D_N; d++)
            if (kl == strlen(DELTA_NAME[d]) && !memcmp(k, DELTA_NAME[d], kl)) s = d;
        if (s >= 0) {
            if (mp_bin(&q, end, &sec[s], &slen[s])) return "delta_malformed";
            if (slen[s] % DELTA_SIZE[s]) return "delta_bad_record";
        } else if (kl == 4 && !memcmp(k, "full", 4)) {
            if (q >= end || (*q != 0xc3 && *q != 0xc2)) return "delta_malformed";
            full = *q++ == 0xc3;
        } else if (kl == 7 && !memcmp(k, "quantum", 7)) {
            if (mp_num(&q, end, &quantum)) return "delta_malformed";
            have_quantum = 1;
        } else if (mp_skip(&q, end)) return "delta_malformed"; /* xp, events (and what is new) */
    }
    if (q != end) return "delta_malformed";
    *keyframe = full;
    if (full) {
        if (!have_quantum || !(quantum > 0)) return "delta_malformed";
        view_clear(v);
        v->quantum = quantum;
        v->synced = 1;
    } else if (!v->synced) return "delta_before_keyframe";
    for (uint32_t o = 0; o < slen[D_LEAVE]; o += 2)
        if (view_remove(v, le16(sec[D_LEAVE] + o))) return "delta_unknown_handle";
    for (uint32_t o = 0; o < slen[D_ENTER]; o += 17) {
        const uint8_t *r = sec[D_ENTER] + o;
        ent_t e = {.handle = le16(r), .id = le32(r + 2), .qx = le16(r + 6), .qy = le16(r + 8),
                   .hp = le16(r + 10), .hp_max = le16(r + 12), .kind = r[14], .flags = r[15], .level = r[16]};
        if (view_find(v, e.handle)) return "delta_handle_held";
        view_add(v, &e);
    }
    for (uint32_t o = 0; o < slen[D_UPDATE]; o += 8) {
        const uint8_t *r = sec[D_UPDATE] + o;
        ent_t *e = view_find(v, le16(r));
        if (!e) return "delta_unknown_handle";
        e->hp = le16(r + 2); e->hp_max = le16(r + 4); e->flags = r[6]; e->level = r[7];
    }
    for (uint32_t o = 0; o < slen[D_PLACE]; o += 6) {
        const uint8_t *r = sec[D_PLACE] + o;
        ent_t *e = view_find(v, le16(r));
        if (!e) return "delta_unknown_handle";
        e->qx = le16(r + 2); e->qy = le16(r + 4);
    }
    for (uint32_t o = 0; o < slen[D_MOVE]; o += 4) {
        const uint8_t *r = sec[D_MOVE] + o;
        ent_t *e = view_find(v, le16(r));
        if (!e) return "delta_unknown_handle";
        int x = e->qx + (int8_t)r[2], y = e->qy + (int8_t)r[3];
        if (x < 0 || x > 0xffff || y < 0 || y > 0xffff) return "delta_off_the_grid";
        e->qx = (uint16_t)x; e->qy = (uint16_t)y;
    }
    return NULL;
}

/* The view is out of step: count it, drop it and ask for a keyframe (protocol.md §6.13). */
static void resync(bot_t *b, const char *why, int64_t now) {
    fail("%s", why);
    view_clear(&b->view);
    b->have_server_pos = b->have_target = 0;
    uint8_t body[16], *q = body;
    q = mpw_str(q, "type"); q = mpw_str(q, "resync");
    bot_send(b, body, (size_t)(q - body), 1, -1);
    b->resync_at = now;
    resyncs_total++;
    win.resyncs++;
}

/* The nearest living NPC (or player, where PvP is on) and the bot's own position: from one
 * entity record, as a v1 snapshot or a v2 view holds it. */
static inline void scan_entity(bot_t *b, uint32_t id, double x, double y, uint8_t kind, uint8_t flags,
                               double *best) {
    if (id == b->entity_id) { b->sx = x; b->sy = y; b->have_server_pos = 1; return; }
    if (flags & 1) return;
    if (kind != 1 && !b->pvp) return;
    double d = hypot(x - b->x, y - b->y);
    if (d < *best) { *best = d; b->target = id; b->target_dist = d; b->have_target = 1; }
}

static void on_snapshot(bot_t *b, const uint8_t *p, size_t len, int64_t now) {
    uint32_t ack = be32(p + ACK_AT);
    win.snapshots++;
    win.snapshot_bytes += len;
    if (b->proto == 2) { /* every delta is applied, also by idle bots: the view must not drift */
        int keyframe = 0;
        const char *bad = apply_delta(&b->view, p, len, &keyframe);
        if (keyframe && !bad) { win.keyframes++; b->resync_at = 0; }
        if (bad) {
            /* deltas sent before the server saw our resync: wait for its keyframe (or ask
             * again if none came in 2 s) */
            int waiting = b->resync_at && now - b->resync_at < 2000000000LL;
            if (!(waiting && !strcmp(bad, "delta_before_keyframe"))) resync(b, bad, now);
        }
    }
    if (!b->mover) {
        if (b->last_snapshot) hist_record(&win.idle_gap, (now - b->last_snapshot) / 1e6);
        b->last_snapshot = now;
        return; /* an idle bot needs no targets and no position */
    }
    while (b->mhead != b->mtail && b->moves[b->mhead % MOVE_RING].seq <= ack) {
        hist_record(&win.lat[A_MOVE], (now - b->moves[b->mhead % MOVE_RING].t) / 1e6);
        b->mhead++;
    }
    /* Entity records are scanned only when the bot is about to need them (its position
     * resync or its next attack), like the Python bot parses them lazily. */
    int64_t soon = now + 150000000LL;
    if (b->next_sync > soon && b->next_attack > soon) return;
    double best = 1e18;
    if (b->proto == 2) {
        if (!b->view.synced) return;
        const view_t *v = &b->view;
        win.snapshot_entities += v->count;
        win.snapshot_scans++;
        b->have_target = 0;
        b->have_server_pos = 0;
        for (uint32_t i = 0; i < v->cap; i++) {
            const ent_t *e = &v->slot[i];
            if (e->used) scan_entity(b, e->id, e->qx * v->quantum, e->qy * v->quantum, e->kind, e->flags, &best);
        }
        return;
    }
    const uint8_t *q = p + ACK_AT + 4, *end = p + len;
    const uint8_t *blob = NULL;
    uint32_t blen = 0;
    for (int i = 0; i < 3 && q < end; i++) { /* xp, entities, events */
        const char *k; uint32_t kl;
        if (mp_str(&q, end, &k, &kl)) return;
        if (kl == 8 && !memcmp(k, "entities", 8)) { if (mp_bin(&q, end, &blob, &blen)) return; break; }
        if (mp_skip(&q, end)) return;
    }
    if (!blob) return;
    win.snapshot_entities += blen / 20;
    win.snapshot_scans++;
    b->have_target = 0;
    b->have_server_pos = 0;
    for (uint32_t o = 0; o + 20 <= blen; o += 20) {
        const uint8_t *r = blob + o;
        uint32_t id; float x, y;
        memcpy(&id, r, 4); memcpy(&x, r + 4, 4); memcpy(&y, r + 8, 4); /* little-endian host */
        scan_entity(b, id, x, y, r[16], r[17], &best);
    }
}

static void send_join(bot_t *b) {
    uint8_t body[32], *q = body;
    q = mpw_str(q, "type"); q = mpw_str(q, "join_game");
    bot_send(b, body, (size_t)(q - body), 1, -1);
}

static void on_message(bot_t *b, const uint8_t *p, size_t len, int64_t now) {
    const uint8_t *end = p + len, *v;
    const char *type; uint32_t tlen;
    if (!(v = mp_find(p, end, "type")) || mp_str(&v, end, &type, &tlen)) { fail("bad_message"); return; }
    uint64_t seq = 0;
    int has_seq = (v = mp_find(p, end, "seq")) && !mp_uint(&v, end, &seq);
    int is_error = tlen == 5 && !memcmp(type, "error", 5);
    if (is_error) {
        const char *code = "?"; uint32_t clen = 1;
        if ((v = mp_find(p, end, "code"))) mp_str(&v, end, &code, &clen);
        if (b->state == S_JOINING && b->join_retries < 10 &&
            ((clen == 11 && !memcmp(code, "unavailable", 11)) || (clen == 14 && !memcmp(code, "character_busy", 14)))) {
            /* protocol.md §2.7: the connection stays in LOBBY; send join_game again shortly */
            b->join_retries++;
            join_retries_total++;
            b->join_retry_at = now + 1000000000LL;
            return;
        }
        if (game_rejection(code, clen)) { rejections_total++; win.rejections++; }
        else fail("error_%.*s", (int)clen, code);
    }
    if (has_seq && (is_error || (tlen == 3 && !memcmp(type, "ack", 3)))) {
        for (int i = 0; i < PENDING; i++)
            if (b->pending[i].seq == seq) {
                hist_record(&win.lat[b->pending[i].kind], (now - b->pending[i].t) / 1e6);
                b->pending[i].seq = 0;
            }
    }
    if (tlen == 7 && !memcmp(type, "welcome", 7) && b->state == S_WELCOME) {
        uint64_t proto = 1;
        if ((v = mp_find(p, end, "protocol"))) mp_uint(&v, end, &proto);
        b->proto = proto == 2 && opt_protocol == 2 ? 2 : 1;
        welcomes[b->proto]++;
        send_join(b);
        b->state = S_JOINING;
    } else if (tlen == 6 && !memcmp(type, "joined", 6) && b->state == S_JOINING) {
        uint64_t id = 0; double x = 0, y = 0, w = 1000, h = 1000;
        if ((v = mp_find(p, end, "entity_id"))) mp_uint(&v, end, &id);
        const uint8_t *c = mp_find(p, end, "character"), *z = mp_find(p, end, "zone");
        if (c && (v = mp_find(c, end, "x"))) mp_num(&v, end, &x);
        if (c && (v = mp_find(c, end, "y"))) mp_num(&v, end, &y);
        if (z && (v = mp_find(z, end, "width"))) mp_num(&v, end, &w);
        if (z && (v = mp_find(z, end, "height"))) mp_num(&v, end, &h);
        if (z && (v = mp_find(z, end, "pvp"))) b->pvp = *v == 0xc3;
        b->entity_id = (uint32_t)id;
        b->x = b->hx = x; b->y = b->hy = y; b->zw = w; b->zh = h;
        b->heading = rng_range(0, 2 * M_PI);
        b->next_attack = now + (int64_t)(rng_range(0, opt_attack_every) * 1e9);
        b->next_chat = now + (int64_t)(rng_range(0, b->mover ? opt_chat_every : opt_idle_chat_every) * 1e9);
        b->next_sync = now + 1000000000LL;
        b->state = S_PLAYING;
        if (b->dropped_at) { /* back after a drop (--resume) */
            hist_record(&back_hist, (now - b->dropped_at) / 1e6);
            reconnects_total++;
            b->dropped_at = 0;
            b->attempt = 0;
        }
        hist_record(&join_hist, (now - b->started) / 1e6);
        last_joined_at = now;
        inflight--;
        playing_now++;
    } else if (is_error && b->state == S_JOINING) {
        bot_close(b, NULL); /* already counted as error_<code> */
    } else if (tlen == 8 && !memcmp(type, "snapshot", 8) && b->proto == 2) {
        resync(b, "delta_unexpected_layout", now); /* not applied: the view is out of step */
    }
}

static void on_frame(bot_t *b, int opcode, const uint8_t *p, size_t len, int64_t now) {
    win.frames_in++;
    win.bytes_in += len;
    if (opcode == 2) {
        if (is_snapshot(b, p, len))
            on_snapshot(b, p, len, now);
        else
            on_message(b, p, len, now);
    } else if (opcode == 8) {
        int code = len >= 2 ? be16(p) : 1005;
        b->close_code = code;
        if (!b->stopping) {
            char why[32];
            snprintf(why, sizeof why, "closed_%d", code);
            bot_close(b, why);
        } else bot_close(b, NULL);
    } else if (opcode == 9) {
        bot_send_frame(b, 10, p, len);
    } else if (opcode == 1) {
        fail("text_frame");
    }
}

static void parse_frames(bot_t *b, int64_t now) {
    size_t off = 0;
    while (b->state != S_CLOSED && b->rlen - off >= 2) {
        uint8_t *f = b->rbuf + off;
        size_t avail = b->rlen - off, h = 2;
        uint64_t n = f[1] & 0x7f;
        if (f[1] & 0x80) { bot_close(b, "masked_server_frame"); return; }
        if (n == 126) { if (avail < 4) break; n = be16(f + 2); h = 4; }
        else if (n == 127) { if (avail < 10) break; n = be64(f + 2); h = 10; }
        if (avail < h + n) {
            if (h + n > b->rcap) { b->rcap = h + n; b->rbuf = realloc(b->rbuf, b->rcap); }
            break;
        }
        if (!(f[0] & 0x80)) { bot_close(b, "fragmented_server_frame"); return; }
        on_frame(b, f[0] & 0x0f, f + h, n, now);
        off += h + n;
    }
    if (b->state == S_CLOSED) return;
    if (off) { memmove(b->rbuf, b->rbuf + off, b->rlen - off); b->rlen -= off; }
}

static void on_readable(bot_t *b) {
    for (;;) {
        if (b->rcap - b->rlen < 4096) { b->rcap *= 2; b->rbuf = realloc(b->rbuf, b->rcap); }
        size_t space = b->rcap - b->rlen;
        ssize_t n = recv(b->fd, b->rbuf + b->rlen, space, 0);
        if (n == 0) { bot_close(b, b->stopping ? NULL : "closed_1006"); return; }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            bot_close(b, "recv_failed");
            return;
        }
        b->rlen += (size_t)n;
        int64_t now = now_ns();
        if (b->state == S_UPGRADING) {
            uint8_t *e = memmem(b->rbuf, b->rlen, "\r\n\r\n", 4);
            if (!e) { if (b->rlen > 8192) bot_close(b, "bad_upgrade"); continue; }
            if (b->rlen < 12 || memcmp(b->rbuf, "HTTP/1.1 101", 12)) { bot_close(b, "http_upgrade_refused"); return; }
            size_t used = (size_t)(e + 4 - b->rbuf);
            memmove(b->rbuf, b->rbuf + used, b->rlen - used);
            b->rlen -= used;
            b->state = S_WELCOME;
        }
        parse_frames(b, now);
        if (b->state == S_CLOSED) return;
        if ((size_t)n < space) return; /* drained (level-triggered: more comes as an event) */
    }
}

static void on_writable(bot_t *b) {
    if (b->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { char why[40]; snprintf(why, sizeof why, "connect_failed_%s", strerrorname_np(err)); bot_close(b, why); return; }
        connected_total++;
        char key[25];
        static const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 22; i++) key[i] = A[rng_u64() & 63];
        key[22] = key[23] = '='; key[24] = 0;
        const char *token = tokens ? tokens[b->index] : "x";
        size_t cap = strlen(token) + 512;
        char *req = malloc(cap);
        int len = snprintf(req, cap,
                           "GET %s?token=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
                           opt_path, token, opt_host, opt_ports[b->index % opt_nports], key,
                           opt_protocol == 2 ? "openmmo.v2.msgpack, openmmo.v1.msgpack" : "openmmo.v1.msgpack");
        b->state = S_UPGRADING;
        ep_set(b, EPOLLIN, EPOLL_CTL_MOD);
        bot_write(b, (uint8_t *)req, (size_t)len);
        free(req);
        requests_total++;
        return;
    }
    while (b->wlen) {
        ssize_t n = send(b->fd, b->wbuf, b->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            bot_close(b, "send_failed");
            return;
        }
        memmove(b->wbuf, b->wbuf + n, b->wlen - (size_t)n);
        b->wlen -= (size_t)n;
    }
    ep_set(b, EPOLLIN, EPOLL_CTL_MOD);
}

static void bot_connect(bot_t *b) {
    /* a fresh connection (a resumed bot keeps its seq, token and counters) */
    b->mhead = b->mtail = 0;
    memset(b->pending, 0, sizeof b->pending);
    b->have_server_pos = 0;
    b->have_target = 0;
    b->join_retries = 0;
    b->join_retry_at = 0;
    b->close_code = 0;
    b->proto = 1; /* until `welcome` says otherwise */
    view_clear(&b->view);
    b->resync_at = 0;
    b->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b->fd < 0) { fail("socket_failed"); finished++; b->state = S_CLOSED; return; }
    int one = 1;
    setsockopt(b->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    b->rcap = 16384;
    b->rbuf = malloc(b->rcap);
    b->state = S_CONNECTING;
    b->started = now_ns();
    if (!first_connect_at) first_connect_at = b->started;
    inflight++;
    requests_total++;
    struct sockaddr_in addr = server_addr;
    addr.sin_port = htons((uint16_t)opt_ports[(b->index + b->port_shift) % opt_nports]);
    if (connect(b->fd, (struct sockaddr *)&addr, sizeof addr) && errno != EINPROGRESS) {
        char why[40];
        snprintf(why, sizeof why, "connect_failed_%s", strerrorname_np(errno));
        bot_close(b, why);
        return;
    }
    ep_set(b, EPOLLOUT, EPOLL_CTL_ADD);
}

/* --- tokens from a file or a pipe -------------------------------------------------------- */
static int token_fd = -1;
static char *tok_buf;
static size_t tok_len, tok_cap;
static void read_tokens(void) {
    for (;;) {
        if (tok_cap - tok_len < 65536) { tok_cap = tok_cap * 2 + 65536; tok_buf = realloc(tok_buf, tok_cap); }
        ssize_t n = read(token_fd, tok_buf + tok_len, tok_cap - tok_len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) { tokens_eof = 1; break; }
        tok_len += (size_t)n;
    }
    size_t start = 0;
    for (size_t i = 0; i < tok_len; i++) {
        if (tok_buf[i] != '\n') continue;
        tok_buf[i] = 0;
        if (i > start && ntokens < opt_bots) tokens[ntokens++] = strdup(tok_buf + start);
        start = i + 1;
    }
    memmove(tok_buf, tok_buf + start, tok_len - start);
    tok_len -= start;
    if (tokens_eof && tok_len && ntokens < opt_bots) {
        tok_buf[tok_len] = 0;
        tokens[ntokens++] = strdup(tok_buf);
        tok_len = 0;
    }
    static int missing_counted;
    if (tokens_eof && !missing_counted) { /* bots that got no ticket never play */
        missing_counted = 1;
        for (int i = ntokens; i < opt_bots; i++) { fail("no_token"); finished++; }
    }
}

/* --- report ------------------------------------------------------------------------------ */
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void write_report(double window_s, double cpu_s, int playing_end) {
    FILE *f = opt_out ? fopen(opt_out, "w") : stdout;
    if (!f) { perror("report"); return; }
    fprintf(f, "{\n  \"bots\": %d,\n  \"movers\": %d,\n  \"connected\": %d,\n  \"playing\": %d,\n",
            opt_bots, movers_total, connected_total, playing_end);
    fprintf(f, "  \"window_s\": %.3f,\n  \"bots_cpu\": %.3f,\n  \"actions\": {", window_s, cpu_s / window_s);
    for (int a = 0; a < A_N; a++) {
        const hist_t *h = &win.lat[a];
        fprintf(f, "%s\n    \"%s\": {\"sent\": %llu, \"count\": %llu, \"p50_ms\": %.2f, \"p95_ms\": %.2f, "
                   "\"p99_ms\": %.2f, \"max_ms\": %.2f, \"mean_ms\": %.2f}",
                a ? "," : "", ACTION[a], (unsigned long long)win.sent[a], (unsigned long long)h->count,
                hist_pct(h, 50), hist_pct(h, 95), hist_pct(h, 99), h->max_ms,
                h->count ? h->total_ms / h->count : 0.0);
    }
    const hist_t *g = &win.idle_gap;
    fprintf(f, "\n  },\n  \"idle_snapshot_gap\": {\"count\": %llu, \"p50_ms\": %.2f, \"p95_ms\": %.2f, "
               "\"p99_ms\": %.2f, \"max_ms\": %.2f, \"mean_ms\": %.2f}",
            (unsigned long long)g->count, hist_pct(g, 50), hist_pct(g, 95), hist_pct(g, 99), g->max_ms,
            g->count ? g->total_ms / g->count : 0.0);
    fprintf(f, ",\n  \"join\": {\"count\": %llu, \"p50_ms\": %.2f, \"p95_ms\": %.2f, \"p99_ms\": %.2f, "
               "\"max_ms\": %.2f, \"span_s\": %.3f}",
            (unsigned long long)join_hist.count, hist_pct(&join_hist, 50), hist_pct(&join_hist, 95),
            hist_pct(&join_hist, 99), join_hist.max_ms,
            last_joined_at > first_connect_at ? (last_joined_at - first_connect_at) / 1e9 : 0.0);
    fprintf(f, ",\n  \"snapshots\": %llu,\n  \"snapshots_per_bot_s\": %.2f,\n"
               "  \"snapshot_bytes_mean\": %.1f,\n  \"snapshot_entities_mean_scanned\": %.1f,\n",
            (unsigned long long)win.snapshots,
            playing_end ? win.snapshots / window_s / playing_end : 0.0,
            win.snapshots ? (double)win.snapshot_bytes / win.snapshots : 0.0,
            win.snapshot_scans ? (double)win.snapshot_entities / win.snapshot_scans : 0.0);
    fprintf(f, "  \"frames_in\": %llu,\n  \"bytes_in\": %llu,\n  \"bytes_in_per_bot_s\": %.1f,\n"
               "  \"rejections\": %llu,\n",
            (unsigned long long)win.frames_in, (unsigned long long)win.bytes_in,
            playing_end ? win.bytes_in / window_s / playing_end : 0.0, (unsigned long long)win.rejections);
    fprintf(f, "  \"protocol\": {\"offered\": %d, \"welcomes_v1\": %llu, \"welcomes_v2\": %llu, "
               "\"keyframes\": %llu, \"resyncs\": %llu, \"resyncs_total\": %llu},\n",
            opt_protocol, (unsigned long long)welcomes[1], (unsigned long long)welcomes[2],
            (unsigned long long)win.keyframes, (unsigned long long)win.resyncs,
            (unsigned long long)resyncs_total);
    fprintf(f, "  \"errors_in_window\": %llu,\n  \"errors\": {\"count\": %llu, \"requests\": %llu, "
               "\"rate\": %.6f, \"unanswered\": %llu, \"kinds\": {",
            (unsigned long long)win.errors, (unsigned long long)errors_total,
            (unsigned long long)requests_total, requests_total ? (double)errors_total / requests_total : 0.0,
            (unsigned long long)unanswered_total);
    for (int i = 0, first = 1; i < MAX_KINDS && kinds[i].name[0]; i++, first = 0)
        fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", kinds[i].name, (unsigned long long)kinds[i].n);
    fprintf(f, "}},\n  \"rejections_total\": %llu,\n  \"join_retries\": %llu,\n",
            (unsigned long long)rejections_total, (unsigned long long)join_retries_total);
    fprintf(f, "  \"drops\": %llu,\n  \"reconnects\": %llu,\n  \"back_in_play\": {\"count\": %llu, "
               "\"p50_ms\": %.2f, \"p95_ms\": %.2f, \"max_ms\": %.2f}\n}\n",
            (unsigned long long)drops_total, (unsigned long long)reconnects_total,
            (unsigned long long)back_hist.count, hist_pct(&back_hist, 50), hist_pct(&back_hist, 95),
            back_hist.max_ms);
    if (f != stdout) fclose(f);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bots [--host H] [--port P[,P...]] [--path /ws] [--bots N] [--tokens FILE|-]\n"
            "            [--movers N] [--idle-chat-every S]\n"
            "            [--rate CONNECTS_PER_S] [--inflight N] [--settle S] [--hold S] [--linger S]\n"
            "            [--join-timeout S] [--move-hz HZ] [--attack-every S] [--chat-every S]\n"
            "            [--resume GIVE_UP_S] [--protocol 1|2] [--out FILE] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) opt_host = v;
        else if (!strcmp(a, "--port")) {
            opt_nports = 0;
            for (char *s = (char *)v, *e; *s && opt_nports < 16; s = *e ? e + 1 : e) {
                opt_ports[opt_nports++] = (int)strtol(s, &e, 10);
                if (e == s) usage();
            }
        }
        else if (!strcmp(a, "--movers")) opt_movers = atoi(v);
        else if (!strcmp(a, "--idle-chat-every")) opt_idle_chat_every = atof(v);
        else if (!strcmp(a, "--path")) opt_path = v;
        else if (!strcmp(a, "--bots")) opt_bots = atoi(v);
        else if (!strcmp(a, "--tokens")) opt_tokens = v;
        else if (!strcmp(a, "--rate")) opt_rate = atof(v);
        else if (!strcmp(a, "--inflight")) opt_inflight = atoi(v);
        else if (!strcmp(a, "--settle")) opt_settle = atof(v);
        else if (!strcmp(a, "--hold")) opt_hold = atof(v);
        else if (!strcmp(a, "--linger")) opt_linger = atof(v);
        else if (!strcmp(a, "--join-timeout")) opt_join_timeout = atof(v);
        else if (!strcmp(a, "--move-hz")) opt_move_hz = atof(v);
        else if (!strcmp(a, "--attack-every")) opt_attack_every = atof(v);
        else if (!strcmp(a, "--chat-every")) opt_chat_every = atof(v);
        else if (!strcmp(a, "--resume")) opt_resume = atof(v);
        else if (!strcmp(a, "--protocol")) { opt_protocol = atoi(v); if (opt_protocol != 1 && opt_protocol != 2) usage(); }
        else if (!strcmp(a, "--out")) opt_out = v;
        else if (!strcmp(a, "--seed")) opt_seed = strtoull(v, NULL, 10);
        else usage();
    }
    if (opt_bots < 1) usage();
    rng_state = opt_seed * 2654435761ULL + 88172645463325252ULL;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)opt_bots + 64 > rl.rlim_cur)
        fprintf(stderr, "bots: warning: RLIMIT_NOFILE %llu is below %d bots\n",
                (unsigned long long)rl.rlim_cur, opt_bots);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, opt_host, &server_addr.sin_addr) != 1) { fprintf(stderr, "bad --host\n"); return 2; }

    bots = calloc((size_t)opt_bots, sizeof *bots);
    if (opt_movers < 0 || opt_movers > opt_bots) opt_movers = opt_bots;
    for (int i = 0; i < opt_bots; i++) {
        bots[i].index = i;
        bots[i].fd = -1;
        /* movers spread evenly over the bots (and so over the ports) */
        bots[i].mover = (int)(((int64_t)i * opt_movers) % opt_bots) < opt_movers;
        movers_total += bots[i].mover;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (opt_tokens) {
        tokens = calloc((size_t)opt_bots, sizeof *tokens);
        token_fd = strcmp(opt_tokens, "-") ? open(opt_tokens, O_RDONLY) : 0;
        if (token_fd < 0) { perror(opt_tokens); return 2; }
        fcntl(token_fd, F_SETFL, fcntl(token_fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, token_fd, &ev)) { /* a regular file: read it all */
            fcntl(token_fd, F_SETFL, fcntl(token_fd, F_GETFL) & ~O_NONBLOCK);
            while (!tokens_eof) read_tokens();
            close(token_fd);
            token_fd = -1;
        }
    }

    const int64_t period = (int64_t)(1e9 / opt_move_hz);
    int64_t t0 = now_ns(), round_start = t0, all_in_at = 0, window_at = 0, window_end_at = 0;
    int cursor = 0;
    double cpu0 = 0;
    int64_t last_report = t0, last_sweep = t0, last_progress = t0, last_resume_sweep = t0;
    struct epoll_event events[512];
    int phase = 0; /* 0 ramp, 1 settle, 2 window, 3 done */

    while (1) {
        int64_t now = now_ns();
        if (interrupted) break;
        /* connect more bots */
        int allowed = (int)((now - t0) / 1e9 * opt_rate) + 1;
        if (allowed > opt_bots) allowed = opt_bots;
        if (tokens && allowed > ntokens) allowed = ntokens;
        while (next_connect < allowed && inflight < opt_inflight) bot_connect(&bots[next_connect++]);

        /* moves, attacks and chat: bot i acts at round_start + i * period / N */
        while (now >= round_start + (int64_t)cursor * period / opt_bots) {
            bot_t *b = &bots[cursor];
            if (b->state == S_PLAYING) bot_act(b, now);
            if (++cursor == opt_bots) {
                cursor = 0;
                round_start += period;
                if (round_start + period < now) round_start = now; /* fell behind: no burst */
            }
        }
        /* --resume: connect again the bots whose backoff is over (every 50 ms) */
        if (opt_resume > 0 && now - last_resume_sweep >= 50000000LL) {
            last_resume_sweep = now;
            for (int i = 0; i < next_connect; i++)
                if (bots[i].state == S_RESUMING && now >= bots[i].resume_at) bot_connect(&bots[i]);
        }
        /* once a second: time out joins and unanswered actions, report progress */
        if (now - last_sweep >= 1000000000LL) {
            last_sweep = now;
            for (int i = 0; i < next_connect; i++) {
                bot_t *b = &bots[i];
                if (b->state == S_JOINING && b->join_retry_at && now >= b->join_retry_at) {
                    b->join_retry_at = 0;
                    send_join(b);
                }
                if (b->state > S_IDLE && b->state < S_PLAYING &&
                    now - b->started > (30 + 2 * (int64_t)b->join_retries) * 1000000000LL)
                    bot_close(b, b->state == S_JOINING ? "join_timeout" : "welcome_timeout");
                if (b->state != S_PLAYING) continue;
                for (int k = 0; k < PENDING; k++)
                    if (b->pending[k].seq && now - b->pending[k].t > 10000000000LL) {
                        b->pending[k].seq = 0;
                        unanswered_total++;
                        fail("unanswered_%s", ACTION[b->pending[k].kind]);
                    }
            }
        }
        if (phase == 0 && now - last_progress >= 200000000LL) { /* lets a driver pace tickets */
            last_progress = now;
            printf("{\"event\": \"progress\", \"playing\": %d, \"done\": %d}\n", playing_now,
                   playing_now + finished);
            fflush(stdout);
        }
        if (now - last_report >= 5000000000LL) {
            last_report = now;
            fprintf(stderr, "bots: t=%.0fs tokens %d connecting %d playing %d failed %d errors %llu\n",
                    (now - t0) / 1e9, tokens ? ntokens : opt_bots, inflight, playing_now, finished,
                    (unsigned long long)errors_total);
        }
        /* phases */
        if (phase == 0 && (playing_now + finished >= opt_bots || (now - t0) / 1e9 > opt_join_timeout)) {
            phase = 1;
            all_in_at = now;
        }
        if (phase == 1 && now - all_in_at >= (int64_t)(opt_settle * 1e9)) {
            phase = 2;
            memset(&win, 0, sizeof win);
            window_at = now_ns();
            cpu0 = cpu_seconds();
            printf("{\"event\": \"window_start\", \"playing\": %d}\n", playing_now);
            fflush(stdout);
        }
        if (phase == 2 && now - window_at >= (int64_t)(opt_hold * 1e9)) {
            window_end_at = now_ns();
            printf("{\"event\": \"window_end\", \"playing\": %d}\n", playing_now);
            fflush(stdout);
            write_report((window_end_at - window_at) / 1e9, cpu_seconds() - cpu0, playing_now);
            phase = 3;
        }
        if (phase == 3 && now - window_end_at >= (int64_t)(opt_linger * 1e9)) break;
        /* wait for I/O until the next bot's turn (1 ms granularity) */
        int64_t next_due = round_start + (int64_t)cursor * period / opt_bots;
        int64_t wait_ns = next_due - now_ns();
        int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000); /* round up: no spinning */
        if (timeout < 0) timeout = 0;
        if (timeout > 100) timeout = 100;
        if (next_connect < opt_bots && timeout > 5) timeout = 5;
        int n = epoll_wait(epfd, events, 512, timeout);
        for (int i = 0; i < n; i++) {
            bot_t *b = events[i].data.ptr;
            if (!b) { read_tokens(); if (tokens_eof) { epoll_ctl(epfd, EPOLL_CTL_DEL, token_fd, NULL); } continue; }
            if (b->state == S_CLOSED) continue;
            if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && (b->state == S_CONNECTING || b->wlen))
                on_writable(b);
            if (b->state != S_CLOSED && b->state != S_CONNECTING && events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(b);
        }
    }
    if (phase < 3) { /* interrupted: report what was measured */
        int64_t end = now_ns();
        if (window_at) write_report((end - window_at) / 1e9, cpu_seconds() - cpu0, playing_now);
        else write_report((end - t0) / 1e9, cpu_seconds(), playing_now);
    }
    /* leave: a close frame from every bot, then give the server a moment to answer */
    for (int i = 0; i < opt_bots; i++) {
        bot_t *b = &bots[i];
        if (b->state == S_CLOSED || b->state == S_IDLE) continue;
        b->stopping = 1;
        if (b->state >= S_WELCOME) { uint8_t code[2] = {0x03, 0xe8}; bot_send_frame(b, 8, code, 2); }
        else bot_close(b, NULL);
    }
    int64_t deadline = now_ns() + 3000000000LL;
    while (now_ns() < deadline && playing_now + inflight > 0) {
        int n = epoll_wait(epfd, events, 512, 50);
        for (int i = 0; i < n; i++) {
            bot_t *b = events[i].data.ptr;
            if (!b || b->state == S_CLOSED) continue;
            if (events[i].events & EPOLLOUT && b->wlen) on_writable(b);
            if (b->state != S_CLOSED) on_readable(b);
        }
    }
    for (int i = 0; i < opt_bots; i++) if (bots[i].state != S_CLOSED && bots[i].state != S_IDLE) bot_close(&bots[i], NULL);
    return 0;
}
