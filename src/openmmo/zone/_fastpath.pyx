# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The zone server's compiled input path: a move frame read straight into the tick's inputs.

Why and what it covers: docs/decisions/0006-compiled-move-reader.md. In short: a move is
nine in ten client messages, and in Python each costs a frame callback, a msgpack decode, a
dataclass, a phase and a sequence check, a token bucket and an inbox entry (~8 µs). Here
picows calls :meth:`FastGameListener.on_ws_frame` without entering the interpreter; a frame
that is plainly a well-formed move of a playing session (a msgpack map of exactly ``type``
"move", ``seq``, ``x``, ``y``; a sequence number above the last; a token in the session's
bucket) is parsed in C and appended to the :class:`MoveInbox`, which the tick drains into its
input lists. **Every other frame**, and every move that is not plainly acceptable (a bad
sequence number, no token, an unknown field, a non-finite coordinate, a JSON frame, a
fragment), goes to the Python path unchanged, which decides, answers and counts it: the
compiled path only ever accepts what the Python path would accept, with the same effect on
the session (``tests/zone/test_fastpath.py`` compares both).
"""

from libc.math cimport isfinite
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

cdef extern from *:
    """
    #define OPENMMO_MAX_MOVE_BYTES 64
    #define OPENMMO_MAX_SEQ 4294967295LL
    #define OPENMMO_MAX_EXACT_INT 9007199254740992LL
    """
    # a move is 25-40 bytes: anything longer is not one read here
    const Py_ssize_t MAX_MOVE_BYTES "OPENMMO_MAX_MOVE_BYTES"
    # 2**32 - 1, as openmmo.protocol.messages
    const int64_t MAX_SEQ "OPENMMO_MAX_SEQ"
    # 2**53: larger integers are left to Python's float()
    const int64_t MAX_EXACT_INT "OPENMMO_MAX_EXACT_INT"

cdef enum Field:
    TYPE = 1
    SEQ = 2
    X = 4
    Y = 8
    ALL = 15


cdef inline uint64_t _be(const uint8_t* p, int size) noexcept nogil:
    cdef uint64_t value = 0
    cdef int i
    for i in range(size):
        value = (value << 8) | p[i]
    return value


cdef int _number(const uint8_t* p, Py_ssize_t n, Py_ssize_t* pos, double* out,
                 int64_t* integer, bint* is_integer) noexcept nogil:
    """Read one msgpack number at ``pos``: 1 and the value, or 0 (not a number we read)."""
    cdef Py_ssize_t i = pos[0]
    cdef uint8_t tag
    cdef uint64_t raw
    cdef uint32_t raw32
    cdef float f32
    cdef double f64
    cdef int64_t value
    cdef int size
    if i >= n:
        return 0
    tag = p[i]
    if tag <= 0x7F or tag >= 0xE0:  # positive / negative fixint
        value = <int8_t>tag
        pos[0] = i + 1
    elif tag == 0xCA or tag == 0xCB:  # float 32 / float 64
        size = 4 if tag == 0xCA else 8
        if i + 1 + size > n:
            return 0
        raw = _be(p + i + 1, size)
        if tag == 0xCA:
            raw32 = <uint32_t>raw
            memcpy(&f32, &raw32, 4)
            f64 = f32
        else:
            memcpy(&f64, &raw, 8)
        pos[0] = i + 1 + size
        is_integer[0] = False
        out[0] = f64
        return 1
    elif 0xCC <= tag <= 0xD3:  # uint 8/16/32/64, int 8/16/32/64
        size = 1 << ((tag - 0xCC) & 3)
        if i + 1 + size > n:
            return 0
        raw = _be(p + i + 1, size)
        if tag <= 0xCF:
            if raw > <uint64_t>MAX_EXACT_INT:
                return 0
            value = <int64_t>raw
        elif size == 1:
            value = <int8_t>raw
        elif size == 2:
            value = <int16_t>raw
        elif size == 4:
            value = <int32_t>raw
        else:
            value = <int64_t>raw
        if value > MAX_EXACT_INT or value < -MAX_EXACT_INT:
            return 0
        pos[0] = i + 1 + size
    else:
        return 0
    is_integer[0] = True
    integer[0] = value
    out[0] = <double>value
    return 1


cdef int parse_move_c(const uint8_t* p, Py_ssize_t n, uint32_t* seq, double* x,
                      double* y) noexcept nogil:
    """1 if ``p[:n]`` is a msgpack map of exactly the four fields of a valid move (protocol.md
    §6.2), with ``seq`` in 1..2^32-1 and finite coordinates; 0 for anything else."""
    cdef Py_ssize_t pos = 1
    cdef int seen = 0
    cdef int key_size, field, k
    cdef double number
    cdef int64_t integer
    cdef bint is_integer
    if n < 1 or n > MAX_MOVE_BYTES or p[0] != 0x84:  # fixmap of 4
        return 0
    for k in range(4):
        if pos >= n or (p[pos] & 0xE0) != 0xA0:  # keys: fixstr only
            return 0
        key_size = p[pos] & 0x1F
        pos += 1
        if pos + key_size > n:
            return 0
        if key_size == 4 and memcmp(p + pos, b"type", 4) == 0:
            field = TYPE
        elif key_size == 3 and memcmp(p + pos, b"seq", 3) == 0:
            field = SEQ
        elif key_size == 1 and p[pos] == 0x78:  # "x"
            field = X
        elif key_size == 1 and p[pos] == 0x79:  # "y"
            field = Y
        else:
            return 0
        pos += key_size
        if seen & field:  # a repeated key (msgpack keeps the last): left to Python
            return 0
        seen |= field
        if field == TYPE:
            if pos + 5 > n or p[pos] != 0xA4 or memcmp(p + pos + 1, b"move", 4) != 0:
                return 0
            pos += 5
            continue
        if not _number(p, n, &pos, &number, &integer, &is_integer):
            return 0
        if field == SEQ:
            if not is_integer or integer < 1 or integer > MAX_SEQ:
                return 0
            seq[0] = <uint32_t>integer
        elif not isfinite(number):
            return 0
        elif field == X:
            x[0] = number
        else:
            y[0] = number
    return 1 if pos == n and seen == ALL else 0


def parse_move(bytes payload):
    """(seq, x, y) if ``payload`` is a move the compiled path reads, else None (for tests)."""
    cdef uint32_t seq = 0
    cdef double x = 0, y = 0
    if parse_move_c(<const uint8_t*><char*>payload, len(payload), &seq, &x, &y):
        return seq, x, y
    return None


cdef class MoveInbox:
    """The moves the compiled path accepted since the last tick, in arrival order.

    ``playing`` is the phase whose sessions' moves are read here (every other phase's go to
    Python, which refuses them); ``monotonic`` the zone's clock."""

    cdef list _sessions
    cdef list _x
    cdef list _y
    cdef list _at
    cdef object _playing
    cdef object _monotonic
    cdef public Py_ssize_t bytes_in  # of the frames read here since the owner last reset it
    cdef public Py_ssize_t accepted  # frames read here since the owner last reset it
    cdef public Py_ssize_t total  # frames read here, ever

    def __init__(self, playing, monotonic):
        self._playing = playing
        self._monotonic = monotonic
        self._sessions, self._x, self._y, self._at = [], [], [], []
        self.bytes_in = self.accepted = self.total = 0

    def __len__(self):
        return len(self._sessions)

    cdef bint offer(self, object session, const uint8_t* p, Py_ssize_t n) except -1:
        """Take the frame if it is a move the Python path would accept as it is; then change
        the session exactly as :meth:`openmmo.zone.sessions.Sessions.on_message` does."""
        cdef uint32_t seq = 0
        cdef double x = 0, y = 0, now, tokens, elapsed, burst
        cdef uint64_t last
        if not parse_move_c(p, n, &seq, &x, &y):
            return False
        if session.phase is not self._playing:
            return False
        last = session.last_seq
        if seq <= last:
            return False  # Python answers bad_seq (after taking its token, as it always did)
        now = self._monotonic()
        bucket = session.message_bucket
        tokens = bucket.tokens
        elapsed = now - <double>bucket.updated_at
        if elapsed > 0:
            burst = bucket.burst
            tokens = tokens + elapsed * <double>bucket.rate_per_s
            if burst <= tokens:
                tokens = burst
        if tokens < 1.0:
            return False  # Python refills the same way, refuses and counts it
        if elapsed > 0:
            bucket.updated_at = now
        bucket.tokens = tokens - 1.0
        session.last_seq = seq
        self.push(session, x, y, now)
        self.bytes_in += n
        self.accepted += 1
        self.total += 1
        return True

    cpdef push(self, object session, double x, double y, double at):
        """Queue a move the Python path read (all moves of a tick go through here, so they
        reach the step in arrival order whichever path read them)."""
        session.queued = True
        self._sessions.append(session)
        self._x.append(x)
        self._y.append(y)
        self._at.append(at)

    def drain(self, inputs, list arrivals):
        """Hand the moves to the tick's ``inputs`` (:class:`openmmo.sim.step.Inputs`) as
        :func:`openmmo.zone.handlers.handle_in_tick` does, arrival times to ``arrivals``;
        returns how many there were."""
        cdef list sessions = self._sessions, xs = self._x, ys = self._y, ats = self._at
        cdef list slots = inputs.move_slots, move_x = inputs.move_x
        cdef list move_y = inputs.move_y, move_at = inputs.move_at
        cdef Py_ssize_t i, count = len(sessions)
        self._sessions, self._x, self._y, self._at = [], [], [], []
        for i in range(count):
            session = sessions[i]
            at = ats[i]
            arrivals.append(at)
            if session.queued:
                session.queued = False
                session.ack_seq = session.last_seq
            actor = session.actor
            if actor is None:  # its character left the world meanwhile
                continue
            slots.append(actor.slot)
            move_x.append(xs[i])
            move_y.append(ys[i])
            move_at.append(at)
            session.unacked = True
            session.last_input_at = at
        return count


cdef class FastGameListener(WSListener):
    """picows listener base of :class:`openmmo.zone.transport.GameListener`: moves of
    ``session`` go to ``moves`` (None: nothing does), every other frame to ``on_frame``."""

    cdef public object session
    cdef public MoveInbox moves
    # the fragments of a message being assembled (by Python, whose rules they are)
    cdef public list parts

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if (
            self.moves is not None
            and self.session is not None
            and frame.msg_type == WSMsgType.BINARY
            and frame.fin
            and not self.parts
            and self.moves.offer(self.session, <const uint8_t*>frame.payload_ptr,
                                 frame.payload_size)
        ):
            return
        self.on_frame(transport, frame)


COMPILED = True
