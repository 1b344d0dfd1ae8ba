/* pvgpu_guest.h: a header-only guest library for the pvgpu paravirtual GPU (C11 and C++17).
 *
 * It does what every guest driver does, on any transport: attach to the mapped shared region,
 * say hello to the host, write command records into the ring (PAD records at its end, waits
 * when it is full), allocate heap space that is reclaimed by fence, put fences in the stream
 * and wait for them, and read the host's error log and device status. The command encoders
 * (pvgpu_emit_<command>) are generated from the protocol spec, like pvgpu_protocol.h.
 *
 * How the region is mapped and how the doorbell is rung are the caller's: PvgpuTransport
 * holds a doorbell callback (required), an optional wait callback (sleep until the host's
 * interrupt or at most max_ns; without it waits spin at full speed, so give one that sleeps,
 * even a short sleep where there is no interrupt), an optional monotonic clock (default:
 * steady_clock in C++, timespec_get in C) and a user pointer for all three. examples/c_guest/ shows the ivshmem
 * transport `pvgpu serve --ivshmem` speaks (QEMU's), with eventfds and poll().
 *
 * Use:
 *     PvgpuGuest guest;
 *     PvgpuTransport transport = {my_doorbell, my_wait, NULL, my_state};
 *     if (pvgpu_guest_attach(&guest, region, region_size, &transport) != PVGPU_OK ||
 *         pvgpu_guest_handshake(&guest, PVGPU_FEATURE_WGSL_SHADERS, getpid()) != PVGPU_OK)
 *         fprintf(stderr, "%s\n", guest.message);
 *     pvgpu_emit_...(&guest, ...);          // 0 on failure, else the record's sequence number
 *     uint64_t f = pvgpu_guest_fence(&guest); // publishes the batch and rings the doorbell
 *     pvgpu_guest_wait_fence(&guest, f);
 *
 * Not thread-safe: one PvgpuGuest is used by one thread at a time. Functions return PVGPU_OK
 * (0) or a negative PVGPU_E_* code and then leave a sentence in guest->message.
 *
 * Memory ordering (the host is another process, or another machine's CPU through a VM):
 * every control-page field is read and written as a lock-free atomic of its size (C11
 * atomic_load_explicit / atomic_store_explicit on volatile _Atomic lvalues; C++ std::atomic, see
 * "control page access"): loads with acquire, stores with release semantics. So every store
 * that hands something to the host (ring_producer after the records, guest_state after the
 * hello fields) is a release, and every load that takes something from the host
 * (ring_consumer, fence_completed before reading results from the heap, error_count before the
 * entries, device_status) an acquire. Records, heap bytes and error entries are plain memory
 * ordered by those fields. */
#ifndef PVGPU_GUEST_H
#define PVGPU_GUEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvgpu_protocol.h"

#ifdef __cplusplus
#include <atomic>
#include <chrono>
static_assert(std::atomic<uint64_t>::is_always_lock_free && sizeof(std::atomic<uint64_t>) == 8
                  && alignof(std::atomic<uint64_t>) == 8,
              "pvgpu_guest.h needs lock-free 64-bit atomics laid out as plain 64-bit integers");
static_assert(std::atomic<uint32_t>::is_always_lock_free && sizeof(std::atomic<uint32_t>) == 4,
              "pvgpu_guest.h needs lock-free 32-bit atomics laid out as plain 32-bit integers");
#define PVGPU_NULL nullptr
#define PVGPU_FENCE_ACQUIRE() std::atomic_thread_fence(std::memory_order_acquire)
#else
#if defined(__STDC_NO_ATOMICS__)
#error "pvgpu_guest.h needs C11 atomics (<stdatomic.h>) for the control page's fields"
#endif
#include <stdatomic.h>
#if ATOMIC_LLONG_LOCK_FREE != 2 || ATOMIC_LONG_LOCK_FREE != 2 || ATOMIC_INT_LOCK_FREE != 2
#error "pvgpu_guest.h needs always-lock-free atomics (lock-free atomics are address-free: usable in shared memory)"
#endif
_Static_assert(sizeof(_Atomic uint64_t) == 8 && _Alignof(_Atomic uint64_t) == 8,
               "pvgpu_guest.h needs _Atomic uint64_t laid out as a plain uint64_t");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "pvgpu_guest.h needs _Atomic uint32_t laid out as a plain uint32_t");
#define PVGPU_NULL NULL
#define PVGPU_FENCE_ACQUIRE() atomic_thread_fence(memory_order_acquire)
#endif

#if UINTPTR_MAX < 0xFFFFFFFFFFFFFFFFu
#error "pvgpu_guest.h needs a 64-bit target: ring positions and fences are read and written as single 64-bit accesses"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- results ---- */

#define PVGPU_OK 0
#define PVGPU_E_INVALID_ARGUMENT (-1) /* a caller's mistake: PVGPU_NULL, zero size, misaligned record */
#define PVGPU_E_BAD_REGION (-2)       /* no control page, or parts outside the mapped region */
#define PVGPU_E_VERSION (-3)          /* the host speaks another protocol major version */
#define PVGPU_E_REFUSED (-4)          /* the host answered the hello with REFUSED */
#define PVGPU_E_TIMEOUT (-5)          /* the host did not answer in time (is it running?) */
#define PVGPU_E_DEVICE_LOST (-6)      /* device_status is LOST: reconnect (handshake) for a new session */
#define PVGPU_E_TOO_LARGE (-7)        /* a record over half the ring, or an upload over the heap */
#define PVGPU_E_PROTOCOL (-8)         /* the host did something the protocol does not allow */
#define PVGPU_E_NOT_READY (-9)        /* used before a successful handshake */

/* Waits: the first PVGPU_GUEST_SPINS checks spin, then the wait callback is called with at
 * most PVGPU_GUEST_MAX_SLEEP_NS at a time (the host's interrupt may wake it earlier). */
#define PVGPU_GUEST_SPINS 200u
#define PVGPU_GUEST_MAX_SLEEP_NS 50000000ull
#define PVGPU_GUEST_DEFAULT_TIMEOUT_NS 30000000000ull
/* While waiting for the host to answer a RESET or a HELLO, the doorbell is rung again this often. */
#define PVGPU_GUEST_RERING_NS 250000000ull
/* Heap allocations are aligned to (and rounded up to) this many bytes. */
#define PVGPU_HEAP_ALIGN 256u
/* Fence tags the heap allocator keeps; more are merged into the newest (reclaimed later). */
#define PVGPU_HEAP_TAGS 64u

typedef struct PvgpuTransport {
    /* Tell the host that there is something new (ring, control page). Required. */
    void (*doorbell)(void *user);
    /* Block until the host's interrupt or for at most max_ns (returning early is fine).
     * NULL: waits spin. */
    void (*wait)(void *user, uint64_t max_ns);
    /* A monotonic clock in nanoseconds. NULL: C++ steady_clock; C timespec_get(TIME_MONOTONIC)
     * where defined (C23), else TIME_UTC (the wall clock). */
    uint64_t (*now_ns)(void *user);
    void *user;
} PvgpuTransport;

typedef struct PvgpuHeapTag {
    uint64_t end;   /* heap position (monotonic) up to which allocations are freed by ... */
    uint64_t fence; /* ... this fence value completing */
} PvgpuHeapTag;

/* One entry of the host's error log, as read by pvgpu_guest_read_errors. */
typedef struct PvgpuHostError {
    uint64_t index;    /* the host's count of this error (0, 1, ...) */
    uint32_t code;     /* PVGPU_ERROR_CODE_* */
    uint32_t opcode;   /* PVGPU_OP_* of the rejected record (0 for DEVICE_LOST and session errors) */
    uint64_t sequence; /* sequence number of the rejected record (the value pvgpu_emit_* returned) */
    char detail[PVGPU_ERROR_DETAIL_BYTES + 1]; /* NUL terminated */
} PvgpuHostError;

typedef struct PvgpuGuest {
    unsigned char *base;    /* the mapped region */
    uint64_t region_size;
    PvgpuTransport transport;
    uint64_t timeout_ns;    /* every wait's limit; PVGPU_GUEST_DEFAULT_TIMEOUT_NS after attach */
    int ready;              /* 1 after a successful handshake */
    uint64_t accepted_features;
    /* ring writer */
    unsigned char *ring;
    uint64_t ring_size;
    uint64_t cursor;         /* bytes committed (monotonic); published as ring_producer */
    uint64_t known_consumer; /* the host's consumer position when last read */
    uint64_t max_record;     /* half the ring */
    uint64_t sequence;       /* the last record's sequence number */
    /* fences */
    uint64_t last_fence;     /* the last fence value put in the ring */
    /* heap allocator: a ring of allocations reclaimed by fence */
    unsigned char *heap;
    uint64_t heap_size;
    uint64_t heap_head;      /* monotonic: the next free byte */
    uint64_t heap_tail;      /* monotonic: the oldest byte still in use */
    uint64_t heap_untagged_end; /* heap_head when the last record was written: the next fence frees up to here */
    PvgpuHeapTag heap_tags[PVGPU_HEAP_TAGS];
    uint32_t heap_tag_first;
    uint32_t heap_tag_count;
    uint64_t fallback_clock_ns; /* the default clock's count when timespec_get fails */
    /* error log */
    uint64_t errors_seen;    /* entries below this index were read (or lost) */
    int result;              /* the last failure's PVGPU_E_* code */
    char message[256];       /* the last failure, in words */
} PvgpuGuest;

/* ---- control page access ---- */

/* Every control-page field is accessed as a lock-free atomic of its size: loads with acquire,
 * stores with release semantics (the contract's "release" and "acquire"). In C these are
 * atomic_load_explicit / atomic_store_explicit on `volatile _Atomic` lvalues at the fields'
 * offsets; lock-free atomics are address-free, so they work between processes and across a
 * VM's shared memory. C++17 has no atomic_ref: it views a field as std::atomic<uint64_t>
 * (static_asserts above check that its layout is the plain integer's); this is what every
 * mainstream compiler supports, though the C++17 standard does not promise it. C++20 uses
 * std::atomic_ref. */
#if defined(__cplusplus) && defined(__cpp_lib_atomic_ref)
#define PVGPU_CTRL_LOAD(type, guest, offset, order) \
    std::atomic_ref<type>(*static_cast<type *>(static_cast<void *>((guest)->base + (offset)))).load(order)
#define PVGPU_CTRL_STORE(type, guest, offset, value, order) \
    std::atomic_ref<type>(*static_cast<type *>(static_cast<void *>((guest)->base + (offset)))).store(value, order)
#elif defined(__cplusplus)
#define PVGPU_CTRL_LOAD(type, guest, offset, order) \
    static_cast<std::atomic<type> *>(static_cast<void *>((guest)->base + (offset)))->load(order)
#define PVGPU_CTRL_STORE(type, guest, offset, value, order) \
    static_cast<std::atomic<type> *>(static_cast<void *>((guest)->base + (offset)))->store(value, order)
#else
#define PVGPU_CTRL_LOAD(type, guest, offset, order) \
    atomic_load_explicit((volatile _Atomic type *)(void *)((guest)->base + (offset)), order)
#define PVGPU_CTRL_STORE(type, guest, offset, value, order) \
    atomic_store_explicit((volatile _Atomic type *)(void *)((guest)->base + (offset)), value, order)
#endif
#ifdef __cplusplus
#define PVGPU_ACQUIRE std::memory_order_acquire
#define PVGPU_RELEASE std::memory_order_release
#define PVGPU_RELAXED std::memory_order_relaxed
#else
#define PVGPU_ACQUIRE memory_order_acquire
#define PVGPU_RELEASE memory_order_release
#define PVGPU_RELAXED memory_order_relaxed
#endif

static inline uint64_t pvgpu_ctrl_load_u64(const PvgpuGuest *guest, uint32_t offset)
{
    return PVGPU_CTRL_LOAD(uint64_t, guest, offset, PVGPU_ACQUIRE);
}

static inline uint32_t pvgpu_ctrl_load_u32(const PvgpuGuest *guest, uint32_t offset)
{
    return PVGPU_CTRL_LOAD(uint32_t, guest, offset, PVGPU_ACQUIRE);
}

static inline void pvgpu_ctrl_store_u64(PvgpuGuest *guest, uint32_t offset, uint64_t value)
{
    PVGPU_CTRL_STORE(uint64_t, guest, offset, value, PVGPU_RELEASE);
}

static inline void pvgpu_ctrl_store_u32(PvgpuGuest *guest, uint32_t offset, uint32_t value)
{
    PVGPU_CTRL_STORE(uint32_t, guest, offset, value, PVGPU_RELEASE);
}

/* PVGPU_DEVICE_STATUS_*: INITIALIZING, READY, REFUSED or LOST. */
static inline uint32_t pvgpu_guest_device_status(const PvgpuGuest *guest)
{
    return pvgpu_ctrl_load_u32(guest, PVGPU_CTRL_DEVICE_STATUS_OFFSET);
}

static inline int pvgpu_guest_device_lost(const PvgpuGuest *guest)
{
    return pvgpu_guest_device_status(guest) == PVGPU_DEVICE_STATUS_LOST;
}

/* The host's id of this guest's session (it names the session in logs and frame folders). */
static inline uint32_t pvgpu_guest_session_id(const PvgpuGuest *guest)
{
    return pvgpu_ctrl_load_u32(guest, PVGPU_CTRL_SESSION_ID_OFFSET);
}

/* The highest fence value whose work the host has finished. */
static inline uint64_t pvgpu_guest_completed_fence(const PvgpuGuest *guest)
{
    return pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_FENCE_COMPLETED_OFFSET);
}

/* DXGI_FRAME_STATISTICS as the host keeps it (see pvgpu_guest_frame_stats). */
typedef struct PvgpuFrameStats {
    uint64_t presented_frames;      /* PresentCount */
    uint64_t present_refresh_count; /* PresentRefreshCount */
    uint64_t sync_refresh_count;    /* SyncRefreshCount */
    uint64_t sync_time_ns;          /* SyncQPCTime: the host's CLOCK_MONOTONIC, not the guest's clock */
} PvgpuFrameStats;

/* A consistent copy of the frame statistics: the host writes them under frame_stats_sequence
 * (odd while it writes), so read the sequence, the fields, then the sequence again, and retry
 * while it was odd or changed. */
static inline void pvgpu_guest_frame_stats(const PvgpuGuest *guest, PvgpuFrameStats *out)
{
    uint64_t s1, s2;
    do {
        s1 = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_FRAME_STATS_SEQUENCE_OFFSET);
        out->presented_frames = PVGPU_CTRL_LOAD(uint64_t, guest, PVGPU_CTRL_PRESENTED_FRAMES_OFFSET, PVGPU_RELAXED);
        out->present_refresh_count =
            PVGPU_CTRL_LOAD(uint64_t, guest, PVGPU_CTRL_PRESENT_REFRESH_COUNT_OFFSET, PVGPU_RELAXED);
        out->sync_refresh_count = PVGPU_CTRL_LOAD(uint64_t, guest, PVGPU_CTRL_SYNC_REFRESH_COUNT_OFFSET, PVGPU_RELAXED);
        out->sync_time_ns = PVGPU_CTRL_LOAD(uint64_t, guest, PVGPU_CTRL_SYNC_TIME_NS_OFFSET, PVGPU_RELAXED);
        PVGPU_FENCE_ACQUIRE(); /* the fields are read before the sequence is read again */
        s2 = PVGPU_CTRL_LOAD(uint64_t, guest, PVGPU_CTRL_FRAME_STATS_SEQUENCE_OFFSET, PVGPU_RELAXED);
    } while ((s1 & 1u) != 0 || s1 != s2);
}

static inline int pvgpu_guest_fail(PvgpuGuest *guest, int result, const char *what)
{
    guest->result = result;
    snprintf(guest->message, sizeof guest->message, "%s", what);
    return result;
}

/* ---- time and waiting ---- */

/* The default clock: C++'s steady_clock; in C, timespec_get(TIME_MONOTONIC) where the library
 * has it (C23), else TIME_UTC, the wall clock C11 guarantees (a clock that goes back restarts
 * the current wait's count; one that jumps ahead ends it early). When the clock fails, each
 * call counts as a full PVGPU_GUEST_MAX_SLEEP_NS, so timeouts still end the waits. */
static inline uint64_t pvgpu_guest_now_ns(PvgpuGuest *guest)
{
    if (guest->transport.now_ns != PVGPU_NULL)
        return guest->transport.now_ns(guest->transport.user);
#ifdef __cplusplus
    return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
#else
    {
        struct timespec ts;
#ifdef TIME_MONOTONIC
        const int base = TIME_MONOTONIC;
#else
        const int base = TIME_UTC;
#endif
        if (timespec_get(&ts, base) == base)
            return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        guest->fallback_clock_ns += PVGPU_GUEST_MAX_SLEEP_NS;
        return guest->fallback_clock_ns;
    }
#endif
}

/* A condition a wait checks: done(guest, argument). */
typedef int (*PvgpuGuestCondition)(PvgpuGuest *guest, uint64_t argument);

/* Text of the log's newest entry (for device-lost and refusal messages). */
static inline void pvgpu_guest_newest_error(PvgpuGuest *guest, char *out, size_t size)
{
    uint64_t count = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_ERROR_COUNT_OFFSET);
    const unsigned char *entry;
    size_t n = 0;
    if (size == 0)
        return;
    out[0] = '\0';
    if (count == 0)
        return;
    entry = guest->base + PVGPU_CTRL_ERROR_LOG_OFFSET
            + ((count - 1) % PVGPU_ERROR_LOG_ENTRIES) * sizeof(PvgpuErrorEntry) + offsetof(PvgpuErrorEntry, detail);
    while (n + 1 < size && n < PVGPU_ERROR_DETAIL_BYTES && entry[n] != 0) {
        out[n] = (char)entry[n];
        n++;
    }
    out[n] = '\0';
}

/* PVGPU_E_DEVICE_LOST with the newest log entry's detail (the host's reason). */
static inline int pvgpu_guest_fail_lost(PvgpuGuest *guest, const char *when)
{
    char detail[PVGPU_ERROR_DETAIL_BYTES + 1];
    uint32_t status = pvgpu_guest_device_status(guest);
    pvgpu_guest_newest_error(guest, detail, sizeof detail);
    guest->result = PVGPU_E_DEVICE_LOST;
    if (status == PVGPU_DEVICE_STATUS_LOST)
        snprintf(guest->message, sizeof guest->message, "device lost %s: %s", when, detail[0] ? detail : "no detail");
    else
        snprintf(guest->message, sizeof guest->message,
                 "device lost %s: the control page was reset (device status %u); handshake again", when,
                 (unsigned)status);
    return PVGPU_E_DEVICE_LOST;
}

/* pvgpu_guest_wait_until's flags. */
#define PVGPU_WAIT_CHECK_READY 1u /* a device_status other than READY ends the wait: PVGPU_E_DEVICE_LOST */
#define PVGPU_WAIT_RERING 2u      /* ring the doorbell again every PVGPU_GUEST_RERING_NS */

/* Wait until done(guest, argument) holds: a short spin, then the transport's wait callback. */
static inline int pvgpu_guest_wait_until(PvgpuGuest *guest, PvgpuGuestCondition done, uint64_t argument,
                                         uint64_t timeout_ns, unsigned flags, const char *what)
{
    uint64_t start, now, rung;
    unsigned i;
    for (i = 0; i < PVGPU_GUEST_SPINS; i++)
        if (done(guest, argument))
            return PVGPU_OK;
    start = rung = pvgpu_guest_now_ns(guest);
    while (!done(guest, argument)) {
        uint32_t status = pvgpu_guest_device_status(guest);
        if (((flags & PVGPU_WAIT_CHECK_READY) && status != PVGPU_DEVICE_STATUS_READY)
) {
            char when[96];
            snprintf(when, sizeof when, "while waiting for %s", what);
            return pvgpu_guest_fail_lost(guest, when);
        }
        now = pvgpu_guest_now_ns(guest);
        if (now < start) /* a clock that went back */
            start = rung = now;
        if (now - start >= timeout_ns) {
            guest->result = PVGPU_E_TIMEOUT;
            snprintf(guest->message, sizeof guest->message,
                     "timed out after %.3g s waiting for %s; is the host still running?",
                     (double)timeout_ns / 1e9, what);
            return PVGPU_E_TIMEOUT;
        }
        if ((flags & PVGPU_WAIT_RERING) && now - rung >= PVGPU_GUEST_RERING_NS) {
            /* a host whose renderer restarted notices the control page only at a doorbell */
            guest->transport.doorbell(guest->transport.user);
            rung = now;
        }
        if (guest->transport.wait != PVGPU_NULL) {
            uint64_t left = timeout_ns - (now - start);
            guest->transport.wait(guest->transport.user,
                                  left < PVGPU_GUEST_MAX_SLEEP_NS ? left : PVGPU_GUEST_MAX_SLEEP_NS);
        }
    }
    return PVGPU_OK;
}

/* ---- attach and handshake ---- */

/* Take a mapped region (the whole of it, control page first) and a transport. Nothing is
 * written to the region yet. */
static inline int pvgpu_guest_attach(PvgpuGuest *guest, void *region, uint64_t region_size,
                                     const PvgpuTransport *transport)
{
    if (guest == PVGPU_NULL)
        return PVGPU_E_INVALID_ARGUMENT;
    memset(guest, 0, sizeof *guest);
    guest->timeout_ns = PVGPU_GUEST_DEFAULT_TIMEOUT_NS;
    if (region == PVGPU_NULL || transport == PVGPU_NULL || transport->doorbell == PVGPU_NULL)
        return pvgpu_guest_fail(guest, PVGPU_E_INVALID_ARGUMENT, "attach needs a region and a doorbell callback");
    if (((uintptr_t)region & 63u) != 0)
        return pvgpu_guest_fail(guest, PVGPU_E_INVALID_ARGUMENT, "the region must be mapped at a 64-byte boundary");
    if (region_size < PVGPU_CONTROL_PAGE_SIZE)
        return pvgpu_guest_fail(guest, PVGPU_E_BAD_REGION, "the region is smaller than a control page");
    guest->base = (unsigned char *)region;
    guest->region_size = region_size;
    guest->transport = *transport;
    return PVGPU_OK;
}

static inline int pvgpu_guest_magic_seen(PvgpuGuest *guest, uint64_t unused)
{
    (void)unused;
    return pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_MAGIC_OFFSET) == PVGPU_MAGIC;
}

static inline int pvgpu_guest_reset_done(PvgpuGuest *guest, uint64_t unused)
{
    (void)unused;
    /* The host zeroes the page, then writes it, the magic last: read the magic last too. */
    return pvgpu_ctrl_load_u32(guest, PVGPU_CTRL_GUEST_STATE_OFFSET) == PVGPU_GUEST_STATE_NONE
        && pvgpu_guest_device_status(guest) == PVGPU_DEVICE_STATUS_INITIALIZING
        && pvgpu_guest_magic_seen(guest, 0);
}

static inline int pvgpu_guest_answered(PvgpuGuest *guest, uint64_t unused)
{
    (void)unused;
    return pvgpu_guest_device_status(guest) != PVGPU_DEVICE_STATUS_INITIALIZING;
}

/* Map the ring and the heap the control page describes, checking that they lie in the region,
 * are 16-byte aligned and do not overlap. */
static inline int pvgpu_guest_take_parts(PvgpuGuest *guest)
{
    uint64_t ring_offset = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_OFFSET_OFFSET);
    uint64_t ring_size = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_SIZE_OFFSET);
    uint64_t heap_offset = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_HEAP_OFFSET_OFFSET);
    uint64_t heap_size = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_HEAP_SIZE_OFFSET);
    uint64_t size = guest->region_size;
    if (ring_offset < PVGPU_CONTROL_PAGE_SIZE || heap_offset < PVGPU_CONTROL_PAGE_SIZE || ring_offset > size
        || ring_size > size - ring_offset || heap_offset > size || heap_size > size - heap_offset
        || ring_size < 4096u || (ring_size & (ring_size - 1u)) != 0 || heap_size == 0
        || ring_offset % 16u != 0 || heap_offset % 16u != 0
        || (ring_offset < heap_offset + heap_size && heap_offset < ring_offset + ring_size)) {
        guest->result = PVGPU_E_BAD_REGION;
        snprintf(guest->message, sizeof guest->message,
                 "the control page describes a bad layout for the %llu-byte region (ring %llu+%llu, heap %llu+%llu: "
                 "each inside it, 16-byte aligned, not overlapping)",
                 (unsigned long long)size, (unsigned long long)ring_offset, (unsigned long long)ring_size,
                 (unsigned long long)heap_offset, (unsigned long long)heap_size);
        return PVGPU_E_BAD_REGION;
    }
    guest->ring = guest->base + ring_offset;
    guest->ring_size = ring_size;
    guest->max_record = ring_size / 2u < (uint64_t)(UINT32_MAX & ~15u) ? ring_size / 2u : (uint64_t)(UINT32_MAX & ~15u);
    guest->heap = guest->base + heap_offset;
    guest->heap_size = heap_size;
    return PVGPU_OK;
}

/* Say hello: wait for the host's control page, ask for a fresh session if a guest program
 * used this region before (a VM's region outlives guest programs), check the protocol's major
 * version, request features (the host accepts requested & offered) and wait for READY.
 * guest_pid is informational (0 if there is none). Call it again after a device loss. */
static inline int pvgpu_guest_handshake(PvgpuGuest *guest, uint64_t requested_features, uint32_t guest_pid)
{
    int rc;
    uint32_t status, host_major;
    if (guest == PVGPU_NULL || guest->base == PVGPU_NULL)
        return PVGPU_E_INVALID_ARGUMENT;
    guest->ready = 0;
    rc = pvgpu_guest_wait_until(guest, pvgpu_guest_magic_seen, 0, guest->timeout_ns, 0u,
                                "the host's control page (magic)");
    if (rc == PVGPU_E_TIMEOUT)
        return pvgpu_guest_fail(guest, PVGPU_E_BAD_REGION, "the shared region has no pvgpu control page (bad magic)");
    if (pvgpu_guest_device_status(guest) != PVGPU_DEVICE_STATUS_INITIALIZING
        || pvgpu_ctrl_load_u32(guest, PVGPU_CTRL_GUEST_STATE_OFFSET) != PVGPU_GUEST_STATE_NONE) {
        pvgpu_ctrl_store_u32(guest, PVGPU_CTRL_GUEST_STATE_OFFSET, PVGPU_GUEST_STATE_RESET);
        guest->transport.doorbell(guest->transport.user);
        rc = pvgpu_guest_wait_until(guest, pvgpu_guest_reset_done, 0, guest->timeout_ns, PVGPU_WAIT_RERING,
                                    "the host to reset the device");
        if (rc != PVGPU_OK)
            return rc;
    }
    host_major = pvgpu_ctrl_load_u32(guest, PVGPU_CTRL_HOST_VERSION_MAJOR_OFFSET);
    if (host_major != PVGPU_PROTOCOL_MAJOR) {
        guest->result = PVGPU_E_VERSION;
        snprintf(guest->message, sizeof guest->message,
                 "host speaks pvgpu protocol %u.x, this guest %u.%u; update one of them",
                 (unsigned)host_major, (unsigned)PVGPU_PROTOCOL_MAJOR, (unsigned)PVGPU_PROTOCOL_MINOR);
        return PVGPU_E_VERSION;
    }
    rc = pvgpu_guest_take_parts(guest);
    if (rc != PVGPU_OK)
        return rc;
    pvgpu_ctrl_store_u32(guest, PVGPU_CTRL_GUEST_VERSION_MAJOR_OFFSET, PVGPU_PROTOCOL_MAJOR);
    pvgpu_ctrl_store_u32(guest, PVGPU_CTRL_GUEST_VERSION_MINOR_OFFSET, PVGPU_PROTOCOL_MINOR);
    pvgpu_ctrl_store_u64(guest, PVGPU_CTRL_REQUESTED_FEATURES_OFFSET, requested_features);
    pvgpu_ctrl_store_u32(guest, PVGPU_CTRL_GUEST_PID_OFFSET, guest_pid);
    pvgpu_ctrl_store_u32(guest, PVGPU_CTRL_GUEST_STATE_OFFSET, PVGPU_GUEST_STATE_HELLO);
    guest->transport.doorbell(guest->transport.user);
    rc = pvgpu_guest_wait_until(guest, pvgpu_guest_answered, 0, guest->timeout_ns, PVGPU_WAIT_RERING,
                                "the host to accept this guest");
    if (rc != PVGPU_OK)
        return rc;
    status = pvgpu_guest_device_status(guest);
    if (status == PVGPU_DEVICE_STATUS_REFUSED) {
        char detail[PVGPU_ERROR_DETAIL_BYTES + 1];
        pvgpu_guest_newest_error(guest, detail, sizeof detail);
        guest->result = PVGPU_E_REFUSED;
        snprintf(guest->message, sizeof guest->message, "the host refused this guest: %s", detail);
        return PVGPU_E_REFUSED;
    }
    if (status == PVGPU_DEVICE_STATUS_LOST)
        return pvgpu_guest_fail_lost(guest, "during the handshake");
    if (status != PVGPU_DEVICE_STATUS_READY) {
        guest->result = PVGPU_E_PROTOCOL;
        snprintf(guest->message, sizeof guest->message, "the host answered the handshake with device status %u",
                 (unsigned)status);
        return PVGPU_E_PROTOCOL;
    }
    guest->accepted_features = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_ACCEPTED_FEATURES_OFFSET);
    guest->cursor = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_PRODUCER_OFFSET);
    guest->known_consumer = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_CONSUMER_OFFSET);
    guest->last_fence = pvgpu_guest_completed_fence(guest);
    guest->errors_seen = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_ERROR_COUNT_OFFSET);
    guest->sequence = 0;
    guest->heap_head = guest->heap_tail = guest->heap_untagged_end = 0;
    guest->heap_tag_first = guest->heap_tag_count = 0;
    guest->ready = 1;
    return PVGPU_OK;
}

/* ---- ring writer ----
 * Positions are monotonic byte counts; the record at position p lies at offset p % ring_size.
 * Records are multiples of 16 bytes, at most half the ring, and never wrap: a PAD record
 * (opcode 0, sequence 0) fills the ring's tail first. The ring is full when the producer
 * position would be more than ring_size ahead of the host's consumer position: the writer then
 * publishes, rings the doorbell and waits for the consumer. */

/* Make the committed records visible to the host; returns 1 if there was anything new. */
static inline int pvgpu_ring_publish(PvgpuGuest *guest)
{
    if (pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_PRODUCER_OFFSET) == guest->cursor)
        return 0;
    pvgpu_ctrl_store_u64(guest, PVGPU_CTRL_RING_PRODUCER_OFFSET, guest->cursor); /* after the records' bytes */
    return 1;
}

/* Publish and ring the host's doorbell (only when there is something new). */
static inline void pvgpu_guest_kick(PvgpuGuest *guest)
{
    if (pvgpu_ring_publish(guest))
        guest->transport.doorbell(guest->transport.user);
}

static inline int pvgpu_guest_consumer_reached(PvgpuGuest *guest, uint64_t target)
{
    return pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_CONSUMER_OFFSET) >= target;
}

/* Room for a record of nbytes (a multiple of 16, at most half the ring): *record points where
 * it goes. Write it there, then pvgpu_ring_commit(nbytes); publish once per batch. */
static inline int pvgpu_ring_reserve(PvgpuGuest *guest, uint64_t nbytes, void **record)
{
    uint64_t pos, off, to_end, need;
    if (!guest->ready)
        return pvgpu_guest_fail(guest, PVGPU_E_NOT_READY, "the guest has not completed the handshake");
    if (nbytes < PVGPU_RECORD_HEADER_SIZE || nbytes % PVGPU_RECORD_ALIGN != 0)
        return pvgpu_guest_fail(guest, PVGPU_E_INVALID_ARGUMENT, "a record is a multiple of 16 bytes of at least 16");
    if (nbytes > guest->max_record) {
        guest->result = PVGPU_E_TOO_LARGE;
        snprintf(guest->message, sizeof guest->message,
                 "a %llu-byte record does not fit a %llu-byte ring (records may use at most half of it)",
                 (unsigned long long)nbytes, (unsigned long long)guest->ring_size);
        return PVGPU_E_TOO_LARGE;
    }
    pos = guest->cursor;
    off = pos % guest->ring_size;
    to_end = guest->ring_size - off;
    need = nbytes <= to_end ? nbytes : to_end + nbytes;
    if (pos + need - guest->known_consumer > guest->ring_size) {
        guest->known_consumer = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_CONSUMER_OFFSET);
        if (pos + need - guest->known_consumer > guest->ring_size) {
            int rc;
            pvgpu_guest_kick(guest);
            rc = pvgpu_guest_wait_until(guest, pvgpu_guest_consumer_reached, pos + need - guest->ring_size,
                                        guest->timeout_ns, PVGPU_WAIT_CHECK_READY,
                                        "the host to make room in the full command ring");
            if (rc != PVGPU_OK)
                return rc;
            guest->known_consumer = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_RING_CONSUMER_OFFSET);
        }
    }
    if (nbytes > to_end) {
        PvgpuRecordHeader pad;
        pad.opcode = PVGPU_OP_PAD;
        pad.flags = 0;
        pad.size = (uint32_t)to_end;
        pad.sequence = 0;
        memcpy(guest->ring + off, &pad, sizeof pad);
        guest->cursor = pos + to_end;
        off = 0;
    }
    *record = guest->ring + off;
    return PVGPU_OK;
}

static inline void pvgpu_ring_commit(PvgpuGuest *guest, uint64_t nbytes)
{
    guest->cursor += nbytes;
}

/* Frame one record (header, payload, count elements, zero tail) into the ring; not yet
 * published. Returns its sequence number, or 0 when it could not be written. The generated
 * pvgpu_emit_* encoders call this; use it directly only for raw records. */
static inline uint64_t pvgpu_guest_emit_record(PvgpuGuest *guest, uint32_t opcode, const void *payload,
                                               uint32_t payload_bytes, const void *elements,
                                               uint32_t element_bytes, uint32_t count)
{
    uint64_t body = (uint64_t)payload_bytes + (uint64_t)element_bytes * count;
    uint64_t size = (PVGPU_RECORD_HEADER_SIZE + body + (PVGPU_RECORD_ALIGN - 1u)) & ~(uint64_t)(PVGPU_RECORD_ALIGN - 1u);
    unsigned char *out;
    void *record;
    PvgpuRecordHeader header;
    if (count != 0 && elements == PVGPU_NULL) {
        pvgpu_guest_fail(guest, PVGPU_E_INVALID_ARGUMENT, "a count of elements without the elements");
        return 0;
    }
    if (pvgpu_ring_reserve(guest, size, &record) != PVGPU_OK)
        return 0;
    out = (unsigned char *)record;
    header.opcode = (uint16_t)opcode;
    header.flags = 0;
    header.size = (uint32_t)size;
    header.sequence = ++guest->sequence;
    memcpy(out, &header, sizeof header);
    if (payload_bytes != 0)
        memcpy(out + PVGPU_RECORD_HEADER_SIZE, payload, payload_bytes);
    if (body != payload_bytes)
        memcpy(out + PVGPU_RECORD_HEADER_SIZE + payload_bytes, elements, (size_t)(body - payload_bytes));
    memset(out + PVGPU_RECORD_HEADER_SIZE + body, 0, (size_t)(size - PVGPU_RECORD_HEADER_SIZE - body));
    pvgpu_ring_commit(guest, size);
    if (opcode != PVGPU_OP_FENCE && opcode != PVGPU_OP_PAD)
        guest->heap_untagged_end = guest->heap_head; /* this record may name anything allocated so far */
    return header.sequence;
}

/* ---- fences ---- */

static inline uint64_t pvgpu_emit_fence(PvgpuGuest *guest, uint64_t value);

static inline void pvgpu_heap_tag(PvgpuGuest *guest, uint64_t fence_value);

/* Put a fence (the next value: fence values must increase) in the stream, publish and ring
 * the doorbell. Returns the fence value, or 0 when it could not be written. The heap space
 * allocated before the last record written so far is freed once it completes. Use this, not
 * the low-level encoder pvgpu_emit_fence (which neither tags the heap nor updates last_fence). */
static inline uint64_t pvgpu_guest_fence(PvgpuGuest *guest)
{
    uint64_t value = guest->last_fence + 1u;
    if (pvgpu_emit_fence(guest, value) == 0)
        return 0;
    guest->last_fence = value;
    pvgpu_ctrl_store_u64(guest, PVGPU_CTRL_FENCE_SUBMITTED_OFFSET, value);
    pvgpu_heap_tag(guest, value);
    pvgpu_guest_kick(guest);
    return value;
}

static inline int pvgpu_guest_fence_reached(PvgpuGuest *guest, uint64_t value)
{
    return pvgpu_guest_completed_fence(guest) >= value;
}

static inline void pvgpu_heap_release_completed(PvgpuGuest *guest, uint64_t completed);

/* Wait until fence `value` completes (the host finished the work before it and handed on the
 * frames presented before it), at most timeout_ns; then reclaim the heap space it frees. */
static inline int pvgpu_guest_wait_fence_timeout(PvgpuGuest *guest, uint64_t value, uint64_t timeout_ns)
{
    char what[48];
    int rc;
    if (!guest->ready)
        return pvgpu_guest_fail(guest, PVGPU_E_NOT_READY, "the guest has not completed the handshake");
    if (value > guest->last_fence) {
        guest->result = PVGPU_E_INVALID_ARGUMENT;
        snprintf(guest->message, sizeof guest->message,
                 "fence %llu was never put in the ring (the last is %llu): wait for a value pvgpu_guest_fence returned",
                 (unsigned long long)value, (unsigned long long)guest->last_fence);
        return PVGPU_E_INVALID_ARGUMENT;
    }
    pvgpu_guest_kick(guest); /* the host must see the fence to complete it */
    snprintf(what, sizeof what, "fence %llu", (unsigned long long)value);
    rc = pvgpu_guest_wait_until(guest, pvgpu_guest_fence_reached, value, timeout_ns, PVGPU_WAIT_CHECK_READY, what);
    if (rc != PVGPU_OK)
        return rc;
    pvgpu_heap_release_completed(guest, pvgpu_guest_completed_fence(guest));
    return PVGPU_OK;
}

static inline int pvgpu_guest_wait_fence(PvgpuGuest *guest, uint64_t value)
{
    return pvgpu_guest_wait_fence_timeout(guest, value, guest->timeout_ns);
}

/* Fence and wait: everything sent so far has been executed. */
static inline int pvgpu_guest_finish(PvgpuGuest *guest)
{
    uint64_t value = pvgpu_guest_fence(guest);
    return value == 0 ? guest->result : pvgpu_guest_wait_fence(guest, value);
}

/* ---- heap allocator ----
 * The guest owns the heap: it allocates ranges, writes them, names them in commands, and may
 * reuse them once a fence after those commands has completed (the host reads a range while
 * it executes the command, or writes a result into it before the next fence completes).
 * Allocations go round the heap as a ring; one that would cross the heap's end starts at
 * offset 0 and the skipped tail is reclaimed with it.
 *
 * The rule: a fence frees the heap space allocated before the last record written before that
 * fence. Write the record that names an allocation before the next fence, explicit or one the
 * allocator submits itself when the heap is full (heap_untagged_end is the heap position when
 * the last record was written). An allocation no record names yet is never reclaimed: when
 * the heap is full of them, pvgpu_heap_alloc fails with PVGPU_E_TOO_LARGE.
 *
 * Results the host writes into the heap (MAP_READ destinations, query results, shared handles)
 * are valid once their fence has completed and until the next pvgpu_heap_alloc or
 * pvgpu_heap_upload, which may reuse their bytes: copy them out first. */

/* Everything allocated before the last record written since the last tag is free once
 * fence_value completes. */
static inline void pvgpu_heap_tag(PvgpuGuest *guest, uint64_t fence_value)
{
    uint64_t last_end = guest->heap_tail;
    uint32_t last = 0;
    if (guest->heap_tag_count != 0) {
        last = (guest->heap_tag_first + guest->heap_tag_count - 1u) % PVGPU_HEAP_TAGS;
        last_end = guest->heap_tags[last].end;
    }
    if (guest->heap_untagged_end <= last_end)
        return;
    if (guest->heap_tag_count == PVGPU_HEAP_TAGS) { /* merged into the newest: freed a little later */
        guest->heap_tags[last].end = guest->heap_untagged_end;
        guest->heap_tags[last].fence = fence_value;
        return;
    }
    last = (guest->heap_tag_first + guest->heap_tag_count) % PVGPU_HEAP_TAGS;
    guest->heap_tags[last].end = guest->heap_untagged_end;
    guest->heap_tags[last].fence = fence_value;
    guest->heap_tag_count++;
}

static inline void pvgpu_heap_release_completed(PvgpuGuest *guest, uint64_t completed)
{
    while (guest->heap_tag_count != 0 && guest->heap_tags[guest->heap_tag_first].fence <= completed) {
        guest->heap_tail = guest->heap_tags[guest->heap_tag_first].end;
        guest->heap_tag_first = (guest->heap_tag_first + 1u) % PVGPU_HEAP_TAGS;
        guest->heap_tag_count--;
    }
}

static inline int pvgpu_heap_reclaim_oldest(PvgpuGuest *guest)
{
    if (guest->heap_tag_count == 0) {
        if (guest->heap_untagged_end <= guest->heap_tail)
            return pvgpu_guest_fail(guest, PVGPU_E_TOO_LARGE,
                                    "the heap is full of allocations no record names yet: write the records that "
                                    "name them before allocating more (or give the guest a larger heap)");
        if (pvgpu_guest_fence(guest) == 0)
            return guest->result;
    }
    return pvgpu_guest_wait_fence(guest, guest->heap_tags[guest->heap_tag_first].fence);
}

/* Reserve nbytes of heap (rounded up to PVGPU_HEAP_ALIGN); *offset is its heap offset, for a
 * command's heap range. When the heap is full it fences (if no fence is outstanding) and waits
 * for the oldest one: write the record naming this range before the next fence (see above).
 * It may reuse the bytes of results whose fence has completed: copy those out first. */
static inline int pvgpu_heap_alloc(PvgpuGuest *guest, uint64_t nbytes, uint64_t *offset)
{
    uint64_t n, size, off, start;
    if (!guest->ready)
        return pvgpu_guest_fail(guest, PVGPU_E_NOT_READY, "the guest has not completed the handshake");
    if (nbytes == 0)
        return pvgpu_guest_fail(guest, PVGPU_E_INVALID_ARGUMENT, "a heap allocation must have a size");
    size = guest->heap_size;
    if (nbytes > size || (nbytes + PVGPU_HEAP_ALIGN - 1u) / PVGPU_HEAP_ALIGN * PVGPU_HEAP_ALIGN > size) {
        guest->result = PVGPU_E_TOO_LARGE;
        snprintf(guest->message, sizeof guest->message,
                 "a %llu-byte upload does not fit the %llu-byte heap; give the guest a larger shared region",
                 (unsigned long long)nbytes, (unsigned long long)size);
        return PVGPU_E_TOO_LARGE;
    }
    n = (nbytes + PVGPU_HEAP_ALIGN - 1u) / PVGPU_HEAP_ALIGN * PVGPU_HEAP_ALIGN;
    for (;;) {
        off = guest->heap_head % size;
        if (guest->heap_head == guest->heap_tail && off + n > size) {
            /* empty heap: the tail before the end is free too, so start the next lap */
            guest->heap_head = guest->heap_tail = guest->heap_head + (size - off);
            continue;
        }
        start = off + n <= size ? guest->heap_head : guest->heap_head + (size - off);
        if (start + n - guest->heap_tail <= size) {
            guest->heap_head = start + n;
            *offset = start % size;
            return PVGPU_OK;
        }
        {
            int rc = pvgpu_heap_reclaim_oldest(guest);
            if (rc != PVGPU_OK)
                return rc;
        }
    }
}

/* Where heap offset `offset` is in this process. */
static inline void *pvgpu_heap_pointer(PvgpuGuest *guest, uint64_t offset)
{
    return guest->heap + offset;
}

/* Allocate and copy: *offset gets the heap offset of a copy of data (0 for no bytes: the
 * empty range (0, 0) names no data). */
static inline int pvgpu_heap_upload(PvgpuGuest *guest, const void *data, uint64_t nbytes, uint64_t *offset)
{
    int rc;
    if (nbytes == 0) {
        *offset = 0;
        return PVGPU_OK;
    }
    rc = pvgpu_heap_alloc(guest, nbytes, offset);
    if (rc == PVGPU_OK)
        memcpy(guest->heap + *offset, data, (size_t)nbytes);
    return rc;
}

/* ---- the host's error log ----
 * The host writes error number i into entry i % PVGPU_ERROR_LOG_ENTRIES, then stores
 * error_count = i + 1 (release). While it writes error j, error_count still reads j, so entry
 * i may be torn once error_count has reached i + PVGPU_ERROR_LOG_ENTRIES: a reader copies the
 * entries, then reads error_count again, and keeps entry i only if i + ENTRIES > that count. */

/* Copy up to max errors the host logged since the last call into out (oldest first); returns
 * how many. *lost (may be NULL) gets how many were overwritten before they could be read. */
static inline size_t pvgpu_guest_read_errors(PvgpuGuest *guest, PvgpuHostError *out, size_t max, uint64_t *lost)
{
    uint64_t count = pvgpu_ctrl_load_u64(guest, PVGPU_CTRL_ERROR_COUNT_OFFSET);
    uint64_t first = guest->errors_seen, end, i, recount, valid_from;
    size_t n = 0, kept = 0, k;
    if (lost != PVGPU_NULL)
        *lost = 0;
    if (count <= first)
        return 0;
    if (count - first > PVGPU_ERROR_LOG_ENTRIES)
        first = count - PVGPU_ERROR_LOG_ENTRIES;
    end = count - first > max ? first + max : count;
    for (i = first; i < end; i++, n++) {
        const unsigned char *entry = guest->base + PVGPU_CTRL_ERROR_LOG_OFFSET
                                     + (i % PVGPU_ERROR_LOG_ENTRIES) * sizeof(PvgpuErrorEntry);
        PvgpuErrorEntry copy;
        memcpy(&copy, entry, sizeof copy);
        out[n].index = i;
        out[n].code = copy.code;
        out[n].opcode = copy.opcode;
        out[n].sequence = copy.sequence;
        memcpy(out[n].detail, copy.detail, PVGPU_ERROR_DETAIL_BYTES);
        out[n].detail[PVGPU_ERROR_DETAIL_BYTES] = '\0';
    }
    /* The copies above are read before error_count is read again. (The entries are copied with
     * memcpy: a seqlock reader's racing plain reads, as everywhere in practice; a torn copy is
     * dropped below.) */
    PVGPU_FENCE_ACQUIRE();
    recount = PVGPU_CTRL_LOAD(uint64_t, guest, PVGPU_CTRL_ERROR_COUNT_OFFSET, PVGPU_RELAXED);
    valid_from = recount >= PVGPU_ERROR_LOG_ENTRIES ? recount - PVGPU_ERROR_LOG_ENTRIES + 1u : 0;
    for (k = 0; k < n; k++)
        if (out[k].index >= valid_from)
            out[kept++] = out[k];
    if (lost != PVGPU_NULL)
        *lost = (first - guest->errors_seen) + (uint64_t)(n - kept);
    guest->errors_seen = end;
    return kept;
}

/* One line describing an error entry, e.g. "#12 SET_VERTEX_SHADER: DEAD_ID: shader: no object has id 99". */
static inline const char *pvgpu_command_name(uint32_t opcode);
static inline const char *pvgpu_error_code_name(uint32_t code);

static inline void pvgpu_host_error_describe(const PvgpuHostError *error, char *out, size_t size)
{
    snprintf(out, size, "#%llu %s: %s: %s", (unsigned long long)error->sequence, pvgpu_command_name(error->opcode),
             pvgpu_error_code_name(error->code), error->detail);
}

/* ---- command encoders ----
 * pvgpu_emit_<command>(guest, fields in spec order without the count[, count, elements]):
 * one record into the ring, not yet published (pvgpu_guest_kick or pvgpu_guest_fence publish).
 * Returns the record's sequence number (as the error log names it), 0 when it could not be
 * written. Heap ranges are (offset, size) pairs from pvgpu_heap_alloc / pvgpu_heap_upload. */

/* ---- BEGIN GENERATED by pvgpu.protocol.cguest from the protocol spec; do not edit ---- */

/* The name of a PVGPU_ERROR_CODE_* value ("?" for one this header does not know). */
static inline const char *pvgpu_error_code_name(uint32_t code)
{
    switch (code) {
    case PVGPU_ERROR_CODE_UNKNOWN_OPCODE: return "UNKNOWN_OPCODE";
    case PVGPU_ERROR_CODE_TRUNCATED_RECORD: return "TRUNCATED_RECORD";
    case PVGPU_ERROR_CODE_SIZE_MISMATCH: return "SIZE_MISMATCH";
    case PVGPU_ERROR_CODE_HEAP_RANGE: return "HEAP_RANGE";
    case PVGPU_ERROR_CODE_WRONG_KIND: return "WRONG_KIND";
    case PVGPU_ERROR_CODE_DEAD_ID: return "DEAD_ID";
    case PVGPU_ERROR_CODE_BAD_ENUM: return "BAD_ENUM";
    case PVGPU_ERROR_CODE_COUNT_LIMIT: return "COUNT_LIMIT";
    case PVGPU_ERROR_CODE_ID_IN_USE: return "ID_IN_USE";
    case PVGPU_ERROR_CODE_QUOTA: return "QUOTA";
    case PVGPU_ERROR_CODE_INVALID_CALL: return "INVALID_CALL";
    case PVGPU_ERROR_CODE_UNSUPPORTED: return "UNSUPPORTED";
    case PVGPU_ERROR_CODE_HOST_GPU_ERROR: return "HOST_GPU_ERROR";
    case PVGPU_ERROR_CODE_BAD_FRAMING: return "BAD_FRAMING";
    case PVGPU_ERROR_CODE_VERSION: return "VERSION";
    case PVGPU_ERROR_CODE_DEVICE_LOST: return "DEVICE_LOST";
    default: return "?";
    }
}

/* The name of a PVGPU_OP_* value ("?" for one this header does not know). */
static inline const char *pvgpu_command_name(uint32_t opcode)
{
    switch (opcode) {
    case PVGPU_OP_PAD: return "PAD";
    case PVGPU_OP_CREATE_BUFFER: return "CREATE_BUFFER";
    case PVGPU_OP_CREATE_TEXTURE2D: return "CREATE_TEXTURE2D";
    case PVGPU_OP_DESTROY_OBJECT: return "DESTROY_OBJECT";
    case PVGPU_OP_UPDATE_SUBRESOURCE: return "UPDATE_SUBRESOURCE";
    case PVGPU_OP_COPY_RESOURCE: return "COPY_RESOURCE";
    case PVGPU_OP_CREATE_RENDER_TARGET_VIEW: return "CREATE_RENDER_TARGET_VIEW";
    case PVGPU_OP_CREATE_DEPTH_STENCIL_VIEW: return "CREATE_DEPTH_STENCIL_VIEW";
    case PVGPU_OP_CREATE_SHADER_RESOURCE_VIEW: return "CREATE_SHADER_RESOURCE_VIEW";
    case PVGPU_OP_CREATE_BLEND_STATE: return "CREATE_BLEND_STATE";
    case PVGPU_OP_CREATE_RASTERIZER_STATE: return "CREATE_RASTERIZER_STATE";
    case PVGPU_OP_CREATE_DEPTH_STENCIL_STATE: return "CREATE_DEPTH_STENCIL_STATE";
    case PVGPU_OP_CREATE_SAMPLER_STATE: return "CREATE_SAMPLER_STATE";
    case PVGPU_OP_CREATE_INPUT_LAYOUT: return "CREATE_INPUT_LAYOUT";
    case PVGPU_OP_CREATE_VERTEX_SHADER: return "CREATE_VERTEX_SHADER";
    case PVGPU_OP_CREATE_PIXEL_SHADER: return "CREATE_PIXEL_SHADER";
    case PVGPU_OP_SET_RENDER_TARGETS: return "SET_RENDER_TARGETS";
    case PVGPU_OP_SET_VIEWPORTS: return "SET_VIEWPORTS";
    case PVGPU_OP_SET_SCISSOR_RECTS: return "SET_SCISSOR_RECTS";
    case PVGPU_OP_SET_VERTEX_BUFFERS: return "SET_VERTEX_BUFFERS";
    case PVGPU_OP_SET_INDEX_BUFFER: return "SET_INDEX_BUFFER";
    case PVGPU_OP_SET_PRIMITIVE_TOPOLOGY: return "SET_PRIMITIVE_TOPOLOGY";
    case PVGPU_OP_SET_INPUT_LAYOUT: return "SET_INPUT_LAYOUT";
    case PVGPU_OP_SET_VERTEX_SHADER: return "SET_VERTEX_SHADER";
    case PVGPU_OP_SET_PIXEL_SHADER: return "SET_PIXEL_SHADER";
    case PVGPU_OP_SET_CONSTANT_BUFFERS: return "SET_CONSTANT_BUFFERS";
    case PVGPU_OP_SET_SHADER_RESOURCES: return "SET_SHADER_RESOURCES";
    case PVGPU_OP_SET_SAMPLERS: return "SET_SAMPLERS";
    case PVGPU_OP_SET_BLEND_STATE: return "SET_BLEND_STATE";
    case PVGPU_OP_SET_RASTERIZER_STATE: return "SET_RASTERIZER_STATE";
    case PVGPU_OP_SET_DEPTH_STENCIL_STATE: return "SET_DEPTH_STENCIL_STATE";
    case PVGPU_OP_DRAW: return "DRAW";
    case PVGPU_OP_DRAW_INDEXED: return "DRAW_INDEXED";
    case PVGPU_OP_DRAW_INSTANCED: return "DRAW_INSTANCED";
    case PVGPU_OP_DRAW_INDEXED_INSTANCED: return "DRAW_INDEXED_INSTANCED";
    case PVGPU_OP_CLEAR_RENDER_TARGET_VIEW: return "CLEAR_RENDER_TARGET_VIEW";
    case PVGPU_OP_CLEAR_DEPTH_STENCIL_VIEW: return "CLEAR_DEPTH_STENCIL_VIEW";
    case PVGPU_OP_MAP_READ: return "MAP_READ";
    case PVGPU_OP_MAP_WRITE_DISCARD: return "MAP_WRITE_DISCARD";
    case PVGPU_OP_FENCE: return "FENCE";
    case PVGPU_OP_FLUSH: return "FLUSH";
    case PVGPU_OP_CREATE_SWAP_CHAIN: return "CREATE_SWAP_CHAIN";
    case PVGPU_OP_PRESENT: return "PRESENT";
    case PVGPU_OP_RESIZE_BUFFERS: return "RESIZE_BUFFERS";
    case PVGPU_OP_DRAW_INSTANCED_INDIRECT: return "DRAW_INSTANCED_INDIRECT";
    case PVGPU_OP_DRAW_INDEXED_INSTANCED_INDIRECT: return "DRAW_INDEXED_INSTANCED_INDIRECT";
    case PVGPU_OP_RESOLVE_SUBRESOURCE: return "RESOLVE_SUBRESOURCE";
    case PVGPU_OP_CREATE_QUERY: return "CREATE_QUERY";
    case PVGPU_OP_BEGIN_QUERY: return "BEGIN_QUERY";
    case PVGPU_OP_END_QUERY: return "END_QUERY";
    case PVGPU_OP_GENERATE_MIPS: return "GENERATE_MIPS";
    case PVGPU_OP_MAP_WRITE_NO_OVERWRITE: return "MAP_WRITE_NO_OVERWRITE";
    case PVGPU_OP_COPY_SUBRESOURCE_REGION: return "COPY_SUBRESOURCE_REGION";
    case PVGPU_OP_CREATE_TEXTURE1D: return "CREATE_TEXTURE1D";
    case PVGPU_OP_CREATE_TEXTURE3D: return "CREATE_TEXTURE3D";
    case PVGPU_OP_CREATE_BUFFER_SHADER_RESOURCE_VIEW: return "CREATE_BUFFER_SHADER_RESOURCE_VIEW";
    case PVGPU_OP_CREATE_UNORDERED_ACCESS_VIEW: return "CREATE_UNORDERED_ACCESS_VIEW";
    case PVGPU_OP_CREATE_BUFFER_UNORDERED_ACCESS_VIEW: return "CREATE_BUFFER_UNORDERED_ACCESS_VIEW";
    case PVGPU_OP_CREATE_COMPUTE_SHADER: return "CREATE_COMPUTE_SHADER";
    case PVGPU_OP_SET_COMPUTE_SHADER: return "SET_COMPUTE_SHADER";
    case PVGPU_OP_SET_UNORDERED_ACCESS_VIEWS: return "SET_UNORDERED_ACCESS_VIEWS";
    case PVGPU_OP_DISPATCH: return "DISPATCH";
    case PVGPU_OP_DISPATCH_INDIRECT: return "DISPATCH_INDIRECT";
    case PVGPU_OP_CLEAR_UNORDERED_ACCESS_VIEW_FLOAT: return "CLEAR_UNORDERED_ACCESS_VIEW_FLOAT";
    case PVGPU_OP_CLEAR_UNORDERED_ACCESS_VIEW_UINT: return "CLEAR_UNORDERED_ACCESS_VIEW_UINT";
    case PVGPU_OP_SET_PREDICATION: return "SET_PREDICATION";
    case PVGPU_OP_GET_SHARED_HANDLE: return "GET_SHARED_HANDLE";
    case PVGPU_OP_OPEN_SHARED_RESOURCE: return "OPEN_SHARED_RESOURCE";
    case PVGPU_OP_CREATE_GEOMETRY_SHADER: return "CREATE_GEOMETRY_SHADER";
    case PVGPU_OP_CREATE_HULL_SHADER: return "CREATE_HULL_SHADER";
    case PVGPU_OP_CREATE_DOMAIN_SHADER: return "CREATE_DOMAIN_SHADER";
    case PVGPU_OP_COPY_STRUCTURE_COUNT: return "COPY_STRUCTURE_COUNT";
    case PVGPU_OP_SET_DISPLAY_MODE: return "SET_DISPLAY_MODE";
    default: return "?";
    }
}

/* PVGPU_OP_PAD: Fills the ring's tail so that no record wraps; the host skips it. */
static inline uint64_t pvgpu_emit_pad(PvgpuGuest *guest)
{
    return pvgpu_guest_emit_record(guest, PVGPU_OP_PAD, PVGPU_NULL, 0, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_BUFFER: ID3D11Device::CreateBuffer. Initial data, if any, is read from the heap. */
static inline uint64_t pvgpu_emit_create_buffer(PvgpuGuest *guest, uint32_t buffer, uint32_t byte_width, uint32_t usage, uint32_t bind_flags, uint32_t cpu_access_flags, uint32_t misc_flags, uint32_t structure_byte_stride, uint64_t initial_data_offset, uint64_t initial_data_size)
{
    PvgpuCmdCreateBuffer cmd;
    cmd.buffer = buffer;
    cmd.byte_width = byte_width;
    cmd.usage = usage;
    cmd.bind_flags = bind_flags;
    cmd.cpu_access_flags = cpu_access_flags;
    cmd.misc_flags = misc_flags;
    cmd.structure_byte_stride = structure_byte_stride;
    cmd._pad0 = 0;
    cmd.initial_data_offset = initial_data_offset;
    cmd.initial_data_size = initial_data_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_BUFFER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_TEXTURE2D: ID3D11Device::CreateTexture2D. Initial data holds every subresource in D3D11's order (array slice by slice, mip 0 first within a slice), each with tightly packed rows. Subresource index = mip + slice * mip_levels. Needs PVGPU_FEATURE_TEXTURE2D. */
static inline uint64_t pvgpu_emit_create_texture2d(PvgpuGuest *guest, uint32_t texture, uint32_t width, uint32_t height, uint32_t mip_levels, uint32_t array_size, uint32_t format, uint32_t sample_count, uint32_t sample_quality, uint32_t usage, uint32_t bind_flags, uint32_t cpu_access_flags, uint32_t misc_flags, uint64_t initial_data_offset, uint64_t initial_data_size)
{
    PvgpuCmdCreateTexture2d cmd;
    cmd.texture = texture;
    cmd.width = width;
    cmd.height = height;
    cmd.mip_levels = mip_levels;
    cmd.array_size = array_size;
    cmd.format = format;
    cmd.sample_count = sample_count;
    cmd.sample_quality = sample_quality;
    cmd.usage = usage;
    cmd.bind_flags = bind_flags;
    cmd.cpu_access_flags = cpu_access_flags;
    cmd.misc_flags = misc_flags;
    cmd.initial_data_offset = initial_data_offset;
    cmd.initial_data_size = initial_data_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_TEXTURE2D, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DESTROY_OBJECT: Releases an object of any kind; its id may be reused afterwards. A swap chain takes its back buffer with it (that id is free too); the back buffer alone is refused (INVALID_CALL). Views keep their resource usable, as in D3D11, but a freed id names no object (DEAD_ID). */
static inline uint64_t pvgpu_emit_destroy_object(PvgpuGuest *guest, uint32_t object)
{
    PvgpuCmdDestroyObject cmd;
    cmd.object = object;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DESTROY_OBJECT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_UPDATE_SUBRESOURCE: ID3D11DeviceContext::UpdateSubresource. With has_box=0 the whole subresource is written. */
static inline uint64_t pvgpu_emit_update_subresource(PvgpuGuest *guest, uint32_t resource, uint32_t subresource, uint32_t has_box, uint32_t box_left, uint32_t box_top, uint32_t box_front, uint32_t box_right, uint32_t box_bottom, uint32_t box_back, uint32_t src_row_pitch, uint32_t src_depth_pitch, uint64_t src_offset, uint64_t src_size)
{
    PvgpuCmdUpdateSubresource cmd;
    cmd.resource = resource;
    cmd.subresource = subresource;
    cmd.has_box = has_box;
    cmd.box_left = box_left;
    cmd.box_top = box_top;
    cmd.box_front = box_front;
    cmd.box_right = box_right;
    cmd.box_bottom = box_bottom;
    cmd.box_back = box_back;
    cmd.src_row_pitch = src_row_pitch;
    cmd.src_depth_pitch = src_depth_pitch;
    cmd._pad0 = 0;
    cmd.src_offset = src_offset;
    cmd.src_size = src_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_UPDATE_SUBRESOURCE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_COPY_RESOURCE: ID3D11DeviceContext::CopyResource. */
static inline uint64_t pvgpu_emit_copy_resource(PvgpuGuest *guest, uint32_t dst, uint32_t src)
{
    PvgpuCmdCopyResource cmd;
    cmd.dst = dst;
    cmd.src = src;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_COPY_RESOURCE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_RENDER_TARGET_VIEW: ID3D11Device::CreateRenderTargetView (format 0: the resource's) of one mip and one array slice. */
static inline uint64_t pvgpu_emit_create_render_target_view(PvgpuGuest *guest, uint32_t view, uint32_t resource, uint32_t format, uint32_t mip_slice, uint32_t array_slice)
{
    PvgpuCmdCreateRenderTargetView cmd;
    cmd.view = view;
    cmd.resource = resource;
    cmd.format = format;
    cmd.mip_slice = mip_slice;
    cmd.array_slice = array_slice;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_RENDER_TARGET_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_DEPTH_STENCIL_VIEW: ID3D11Device::CreateDepthStencilView (format 0: the resource's) of one mip and one array slice. */
static inline uint64_t pvgpu_emit_create_depth_stencil_view(PvgpuGuest *guest, uint32_t view, uint32_t resource, uint32_t format, uint32_t mip_slice, uint32_t array_slice, uint32_t flags)
{
    PvgpuCmdCreateDepthStencilView cmd;
    cmd.view = view;
    cmd.resource = resource;
    cmd.format = format;
    cmd.mip_slice = mip_slice;
    cmd.array_slice = array_slice;
    cmd.flags = flags;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_DEPTH_STENCIL_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_SHADER_RESOURCE_VIEW: ID3D11Device::CreateShaderResourceView (format 0: the resource's; mip_levels 0xFFFFFFFF: all from most_detailed_mip; array_size counts 2D slices, 6 per cube; a 3D view has first_array_slice 0 and array_size 1). Buffer views: CREATE_BUFFER_SHADER_RESOURCE_VIEW. */
static inline uint64_t pvgpu_emit_create_shader_resource_view(PvgpuGuest *guest, uint32_t view, uint32_t resource, uint32_t format, uint32_t view_dimension, uint32_t most_detailed_mip, uint32_t mip_levels, uint32_t first_array_slice, uint32_t array_size)
{
    PvgpuCmdCreateShaderResourceView cmd;
    cmd.view = view;
    cmd.resource = resource;
    cmd.format = format;
    cmd.view_dimension = view_dimension;
    cmd.most_detailed_mip = most_detailed_mip;
    cmd.mip_levels = mip_levels;
    cmd.first_array_slice = first_array_slice;
    cmd.array_size = array_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_SHADER_RESOURCE_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_BLEND_STATE: ID3D11Device::CreateBlendState; one element per render target. */
static inline uint64_t pvgpu_emit_create_blend_state(PvgpuGuest *guest, uint32_t state, uint32_t alpha_to_coverage_enable, uint32_t independent_blend_enable, uint32_t render_target_count, const PvgpuRenderTargetBlend *render_targets)
{
    PvgpuCmdCreateBlendState cmd;
    cmd.state = state;
    cmd.alpha_to_coverage_enable = alpha_to_coverage_enable;
    cmd.independent_blend_enable = independent_blend_enable;
    cmd.render_target_count = render_target_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_BLEND_STATE, &cmd, sizeof cmd, render_targets, PVGPU_CREATE_BLEND_STATE_ELEMENT_SIZE, render_target_count);
}

/* PVGPU_OP_CREATE_RASTERIZER_STATE: ID3D11Device::CreateRasterizerState. */
static inline uint64_t pvgpu_emit_create_rasterizer_state(PvgpuGuest *guest, uint32_t state, uint32_t fill_mode, uint32_t cull_mode, uint32_t front_counter_clockwise, int32_t depth_bias, float depth_bias_clamp, float slope_scaled_depth_bias, uint32_t depth_clip_enable, uint32_t scissor_enable, uint32_t multisample_enable, uint32_t antialiased_line_enable)
{
    PvgpuCmdCreateRasterizerState cmd;
    cmd.state = state;
    cmd.fill_mode = fill_mode;
    cmd.cull_mode = cull_mode;
    cmd.front_counter_clockwise = front_counter_clockwise;
    cmd.depth_bias = depth_bias;
    cmd.depth_bias_clamp = depth_bias_clamp;
    cmd.slope_scaled_depth_bias = slope_scaled_depth_bias;
    cmd.depth_clip_enable = depth_clip_enable;
    cmd.scissor_enable = scissor_enable;
    cmd.multisample_enable = multisample_enable;
    cmd.antialiased_line_enable = antialiased_line_enable;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_RASTERIZER_STATE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_DEPTH_STENCIL_STATE: ID3D11Device::CreateDepthStencilState. */
static inline uint64_t pvgpu_emit_create_depth_stencil_state(PvgpuGuest *guest, uint32_t state, uint32_t depth_enable, uint32_t depth_write_mask, uint32_t depth_func, uint32_t stencil_enable, uint32_t stencil_read_mask, uint32_t stencil_write_mask, uint32_t front_fail_op, uint32_t front_depth_fail_op, uint32_t front_pass_op, uint32_t front_func, uint32_t back_fail_op, uint32_t back_depth_fail_op, uint32_t back_pass_op, uint32_t back_func)
{
    PvgpuCmdCreateDepthStencilState cmd;
    cmd.state = state;
    cmd.depth_enable = depth_enable;
    cmd.depth_write_mask = depth_write_mask;
    cmd.depth_func = depth_func;
    cmd.stencil_enable = stencil_enable;
    cmd.stencil_read_mask = stencil_read_mask;
    cmd.stencil_write_mask = stencil_write_mask;
    cmd.front_fail_op = front_fail_op;
    cmd.front_depth_fail_op = front_depth_fail_op;
    cmd.front_pass_op = front_pass_op;
    cmd.front_func = front_func;
    cmd.back_fail_op = back_fail_op;
    cmd.back_depth_fail_op = back_depth_fail_op;
    cmd.back_pass_op = back_pass_op;
    cmd.back_func = back_func;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_DEPTH_STENCIL_STATE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_SAMPLER_STATE: ID3D11Device::CreateSamplerState. */
static inline uint64_t pvgpu_emit_create_sampler_state(PvgpuGuest *guest, uint32_t sampler, uint32_t filter, uint32_t address_u, uint32_t address_v, uint32_t address_w, float mip_lod_bias, uint32_t max_anisotropy, uint32_t comparison_func, float border_color_r, float border_color_g, float border_color_b, float border_color_a, float min_lod, float max_lod)
{
    PvgpuCmdCreateSamplerState cmd;
    cmd.sampler = sampler;
    cmd.filter = filter;
    cmd.address_u = address_u;
    cmd.address_v = address_v;
    cmd.address_w = address_w;
    cmd.mip_lod_bias = mip_lod_bias;
    cmd.max_anisotropy = max_anisotropy;
    cmd.comparison_func = comparison_func;
    cmd.border_color_r = border_color_r;
    cmd.border_color_g = border_color_g;
    cmd.border_color_b = border_color_b;
    cmd.border_color_a = border_color_a;
    cmd.min_lod = min_lod;
    cmd.max_lod = max_lod;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_SAMPLER_STATE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_INPUT_LAYOUT: ID3D11Device::CreateInputLayout. `semantic_names`: element i's name is the i-th NUL-terminated ASCII string (at most 63 characters). `shader_bytecode`: the DXBC vertex shader the layout is made for; its input signature is matched by semantic name (case-insensitive) and index, each element feeding the matching signature element's @location (its position in the signature); a signature element no layout element matches is refused, extra layout elements are allowed. Without bytecode (a WGSL vertex shader), element i feeds @location(i). */
static inline uint64_t pvgpu_emit_create_input_layout(PvgpuGuest *guest, uint32_t layout, uint64_t semantic_names_offset, uint64_t semantic_names_size, uint64_t shader_bytecode_offset, uint64_t shader_bytecode_size, uint32_t element_count, const PvgpuInputElement *elements)
{
    PvgpuCmdCreateInputLayout cmd;
    cmd.layout = layout;
    cmd.element_count = element_count;
    cmd.semantic_names_offset = semantic_names_offset;
    cmd.semantic_names_size = semantic_names_size;
    cmd.shader_bytecode_offset = shader_bytecode_offset;
    cmd.shader_bytecode_size = shader_bytecode_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_INPUT_LAYOUT, &cmd, sizeof cmd, elements, PVGPU_CREATE_INPUT_LAYOUT_ELEMENT_SIZE, element_count);
}

/* PVGPU_OP_CREATE_VERTEX_SHADER: ID3D11Device::CreateVertexShader; the code is read from the heap. */
static inline uint64_t pvgpu_emit_create_vertex_shader(PvgpuGuest *guest, uint32_t shader, uint32_t language, uint64_t code_offset, uint64_t code_size)
{
    PvgpuCmdCreateVertexShader cmd;
    cmd.shader = shader;
    cmd.language = language;
    cmd.code_offset = code_offset;
    cmd.code_size = code_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_VERTEX_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_PIXEL_SHADER: ID3D11Device::CreatePixelShader; the code is read from the heap. */
static inline uint64_t pvgpu_emit_create_pixel_shader(PvgpuGuest *guest, uint32_t shader, uint32_t language, uint64_t code_offset, uint64_t code_size)
{
    PvgpuCmdCreatePixelShader cmd;
    cmd.shader = shader;
    cmd.language = language;
    cmd.code_offset = code_offset;
    cmd.code_size = code_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_PIXEL_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_RENDER_TARGETS: ID3D11DeviceContext::OMSetRenderTargets. */
static inline uint64_t pvgpu_emit_set_render_targets(PvgpuGuest *guest, uint32_t depth_stencil_view, uint32_t view_count, const PvgpuRenderTargetSlot *views)
{
    PvgpuCmdSetRenderTargets cmd;
    cmd.depth_stencil_view = depth_stencil_view;
    cmd.view_count = view_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_RENDER_TARGETS, &cmd, sizeof cmd, views, PVGPU_SET_RENDER_TARGETS_ELEMENT_SIZE, view_count);
}

/* PVGPU_OP_SET_VIEWPORTS: ID3D11DeviceContext::RSSetViewports. */
static inline uint64_t pvgpu_emit_set_viewports(PvgpuGuest *guest, uint32_t viewport_count, const PvgpuViewport *viewports)
{
    PvgpuCmdSetViewports cmd;
    cmd.viewport_count = viewport_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_VIEWPORTS, &cmd, sizeof cmd, viewports, PVGPU_SET_VIEWPORTS_ELEMENT_SIZE, viewport_count);
}

/* PVGPU_OP_SET_SCISSOR_RECTS: ID3D11DeviceContext::RSSetScissorRects. */
static inline uint64_t pvgpu_emit_set_scissor_rects(PvgpuGuest *guest, uint32_t rect_count, const PvgpuRect *rects)
{
    PvgpuCmdSetScissorRects cmd;
    cmd.rect_count = rect_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_SCISSOR_RECTS, &cmd, sizeof cmd, rects, PVGPU_SET_SCISSOR_RECTS_ELEMENT_SIZE, rect_count);
}

/* PVGPU_OP_SET_VERTEX_BUFFERS: ID3D11DeviceContext::IASetVertexBuffers. */
static inline uint64_t pvgpu_emit_set_vertex_buffers(PvgpuGuest *guest, uint32_t start_slot, uint32_t buffer_count, const PvgpuVertexBufferBinding *buffers)
{
    PvgpuCmdSetVertexBuffers cmd;
    cmd.start_slot = start_slot;
    cmd.buffer_count = buffer_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_VERTEX_BUFFERS, &cmd, sizeof cmd, buffers, PVGPU_SET_VERTEX_BUFFERS_ELEMENT_SIZE, buffer_count);
}

/* PVGPU_OP_SET_INDEX_BUFFER: ID3D11DeviceContext::IASetIndexBuffer (R16_UINT or R32_UINT). */
static inline uint64_t pvgpu_emit_set_index_buffer(PvgpuGuest *guest, uint32_t buffer, uint32_t format, uint32_t offset)
{
    PvgpuCmdSetIndexBuffer cmd;
    cmd.buffer = buffer;
    cmd.format = format;
    cmd.offset = offset;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_INDEX_BUFFER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_PRIMITIVE_TOPOLOGY: ID3D11DeviceContext::IASetPrimitiveTopology. */
static inline uint64_t pvgpu_emit_set_primitive_topology(PvgpuGuest *guest, uint32_t topology)
{
    PvgpuCmdSetPrimitiveTopology cmd;
    cmd.topology = topology;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_PRIMITIVE_TOPOLOGY, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_INPUT_LAYOUT: ID3D11DeviceContext::IASetInputLayout. */
static inline uint64_t pvgpu_emit_set_input_layout(PvgpuGuest *guest, uint32_t layout)
{
    PvgpuCmdSetInputLayout cmd;
    cmd.layout = layout;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_INPUT_LAYOUT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_VERTEX_SHADER: ID3D11DeviceContext::VSSetShader. */
static inline uint64_t pvgpu_emit_set_vertex_shader(PvgpuGuest *guest, uint32_t shader)
{
    PvgpuCmdSetVertexShader cmd;
    cmd.shader = shader;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_VERTEX_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_PIXEL_SHADER: ID3D11DeviceContext::PSSetShader. */
static inline uint64_t pvgpu_emit_set_pixel_shader(PvgpuGuest *guest, uint32_t shader)
{
    PvgpuCmdSetPixelShader cmd;
    cmd.shader = shader;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_PIXEL_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_CONSTANT_BUFFERS: VSSetConstantBuffers / PSSetConstantBuffers. */
static inline uint64_t pvgpu_emit_set_constant_buffers(PvgpuGuest *guest, uint32_t stage, uint32_t start_slot, uint32_t buffer_count, const PvgpuConstantBufferSlot *buffers)
{
    PvgpuCmdSetConstantBuffers cmd;
    cmd.stage = stage;
    cmd.start_slot = start_slot;
    cmd.buffer_count = buffer_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_CONSTANT_BUFFERS, &cmd, sizeof cmd, buffers, PVGPU_SET_CONSTANT_BUFFERS_ELEMENT_SIZE, buffer_count);
}

/* PVGPU_OP_SET_SHADER_RESOURCES: VSSetShaderResources / PSSetShaderResources. */
static inline uint64_t pvgpu_emit_set_shader_resources(PvgpuGuest *guest, uint32_t stage, uint32_t start_slot, uint32_t view_count, const PvgpuShaderResourceSlot *views)
{
    PvgpuCmdSetShaderResources cmd;
    cmd.stage = stage;
    cmd.start_slot = start_slot;
    cmd.view_count = view_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_SHADER_RESOURCES, &cmd, sizeof cmd, views, PVGPU_SET_SHADER_RESOURCES_ELEMENT_SIZE, view_count);
}

/* PVGPU_OP_SET_SAMPLERS: VSSetSamplers / PSSetSamplers. */
static inline uint64_t pvgpu_emit_set_samplers(PvgpuGuest *guest, uint32_t stage, uint32_t start_slot, uint32_t sampler_count, const PvgpuSamplerSlot *samplers)
{
    PvgpuCmdSetSamplers cmd;
    cmd.stage = stage;
    cmd.start_slot = start_slot;
    cmd.sampler_count = sampler_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_SAMPLERS, &cmd, sizeof cmd, samplers, PVGPU_SET_SAMPLERS_ELEMENT_SIZE, sampler_count);
}

/* PVGPU_OP_SET_BLEND_STATE: ID3D11DeviceContext::OMSetBlendState. */
static inline uint64_t pvgpu_emit_set_blend_state(PvgpuGuest *guest, uint32_t state, float blend_factor_r, float blend_factor_g, float blend_factor_b, float blend_factor_a, uint32_t sample_mask)
{
    PvgpuCmdSetBlendState cmd;
    cmd.state = state;
    cmd.blend_factor_r = blend_factor_r;
    cmd.blend_factor_g = blend_factor_g;
    cmd.blend_factor_b = blend_factor_b;
    cmd.blend_factor_a = blend_factor_a;
    cmd.sample_mask = sample_mask;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_BLEND_STATE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_RASTERIZER_STATE: ID3D11DeviceContext::RSSetState. */
static inline uint64_t pvgpu_emit_set_rasterizer_state(PvgpuGuest *guest, uint32_t state)
{
    PvgpuCmdSetRasterizerState cmd;
    cmd.state = state;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_RASTERIZER_STATE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_DEPTH_STENCIL_STATE: ID3D11DeviceContext::OMSetDepthStencilState. */
static inline uint64_t pvgpu_emit_set_depth_stencil_state(PvgpuGuest *guest, uint32_t state, uint32_t stencil_ref)
{
    PvgpuCmdSetDepthStencilState cmd;
    cmd.state = state;
    cmd.stencil_ref = stencil_ref;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_DEPTH_STENCIL_STATE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DRAW: ID3D11DeviceContext::Draw. */
static inline uint64_t pvgpu_emit_draw(PvgpuGuest *guest, uint32_t vertex_count, uint32_t start_vertex_location)
{
    PvgpuCmdDraw cmd;
    cmd.vertex_count = vertex_count;
    cmd.start_vertex_location = start_vertex_location;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DRAW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DRAW_INDEXED: ID3D11DeviceContext::DrawIndexed. */
static inline uint64_t pvgpu_emit_draw_indexed(PvgpuGuest *guest, uint32_t index_count, uint32_t start_index_location, int32_t base_vertex_location)
{
    PvgpuCmdDrawIndexed cmd;
    cmd.index_count = index_count;
    cmd.start_index_location = start_index_location;
    cmd.base_vertex_location = base_vertex_location;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DRAW_INDEXED, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DRAW_INSTANCED: ID3D11DeviceContext::DrawInstanced. Needs PVGPU_FEATURE_INSTANCING. */
static inline uint64_t pvgpu_emit_draw_instanced(PvgpuGuest *guest, uint32_t vertex_count_per_instance, uint32_t instance_count, uint32_t start_vertex_location, uint32_t start_instance_location)
{
    PvgpuCmdDrawInstanced cmd;
    cmd.vertex_count_per_instance = vertex_count_per_instance;
    cmd.instance_count = instance_count;
    cmd.start_vertex_location = start_vertex_location;
    cmd.start_instance_location = start_instance_location;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DRAW_INSTANCED, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DRAW_INDEXED_INSTANCED: ID3D11DeviceContext::DrawIndexedInstanced. Needs PVGPU_FEATURE_INSTANCING. */
static inline uint64_t pvgpu_emit_draw_indexed_instanced(PvgpuGuest *guest, uint32_t index_count_per_instance, uint32_t instance_count, uint32_t start_index_location, int32_t base_vertex_location, uint32_t start_instance_location)
{
    PvgpuCmdDrawIndexedInstanced cmd;
    cmd.index_count_per_instance = index_count_per_instance;
    cmd.instance_count = instance_count;
    cmd.start_index_location = start_index_location;
    cmd.base_vertex_location = base_vertex_location;
    cmd.start_instance_location = start_instance_location;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DRAW_INDEXED_INSTANCED, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CLEAR_RENDER_TARGET_VIEW: ID3D11DeviceContext::ClearRenderTargetView. */
static inline uint64_t pvgpu_emit_clear_render_target_view(PvgpuGuest *guest, uint32_t view, float color_r, float color_g, float color_b, float color_a)
{
    PvgpuCmdClearRenderTargetView cmd;
    cmd.view = view;
    cmd.color_r = color_r;
    cmd.color_g = color_g;
    cmd.color_b = color_b;
    cmd.color_a = color_a;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CLEAR_RENDER_TARGET_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CLEAR_DEPTH_STENCIL_VIEW: ID3D11DeviceContext::ClearDepthStencilView. */
static inline uint64_t pvgpu_emit_clear_depth_stencil_view(PvgpuGuest *guest, uint32_t view, uint32_t clear_flags, float depth, uint32_t stencil)
{
    PvgpuCmdClearDepthStencilView cmd;
    cmd.view = view;
    cmd.clear_flags = clear_flags;
    cmd.depth = depth;
    cmd.stencil = stencil;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CLEAR_DEPTH_STENCIL_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_MAP_READ: First half of Map(READ): the host copies the subresource into the heap range with the given pitches; the guest waits for a following FENCE before reading it. */
static inline uint64_t pvgpu_emit_map_read(PvgpuGuest *guest, uint32_t resource, uint32_t subresource, uint32_t dst_row_pitch, uint32_t dst_depth_pitch, uint64_t dst_offset, uint64_t dst_size)
{
    PvgpuCmdMapRead cmd;
    cmd.resource = resource;
    cmd.subresource = subresource;
    cmd.dst_row_pitch = dst_row_pitch;
    cmd.dst_depth_pitch = dst_depth_pitch;
    cmd.dst_offset = dst_offset;
    cmd.dst_size = dst_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_MAP_READ, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_MAP_WRITE_DISCARD: Unmap of a Map(WRITE_DISCARD): the host replaces the subresource's contents with the heap range the guest wrote. */
static inline uint64_t pvgpu_emit_map_write_discard(PvgpuGuest *guest, uint32_t resource, uint32_t subresource, uint32_t src_row_pitch, uint64_t src_offset, uint64_t src_size)
{
    PvgpuCmdMapWriteDiscard cmd;
    cmd.resource = resource;
    cmd.subresource = subresource;
    cmd.src_row_pitch = src_row_pitch;
    cmd._pad0 = 0;
    cmd.src_offset = src_offset;
    cmd.src_size = src_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_MAP_WRITE_DISCARD, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_FENCE: Asks the host to write `value` to the control page once the GPU has finished all earlier work and the frames presented before it have been handed to the host's presenters, then interrupt the guest. The host may go on with later commands meanwhile; fences complete in order. Low-level: use pvgpu_guest_fence, which picks the value and frees heap space. */
static inline uint64_t pvgpu_emit_fence(PvgpuGuest *guest, uint64_t value)
{
    PvgpuCmdFence cmd;
    cmd.value = value;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_FENCE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_FLUSH: ID3D11DeviceContext::Flush: submit recorded work to the GPU. */
static inline uint64_t pvgpu_emit_flush(PvgpuGuest *guest)
{
    return pvgpu_guest_emit_record(guest, PVGPU_OP_FLUSH, PVGPU_NULL, 0, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_SWAP_CHAIN: IDXGIFactory::CreateSwapChain; `buffer` is the id the guest gives the back buffer texture, which the swap chain owns: it lives as long as the swap chain and is freed with it. */
static inline uint64_t pvgpu_emit_create_swap_chain(PvgpuGuest *guest, uint32_t swap_chain, uint32_t buffer, uint32_t width, uint32_t height, uint32_t format, uint32_t buffer_count)
{
    PvgpuCmdCreateSwapChain cmd;
    cmd.swap_chain = swap_chain;
    cmd.buffer = buffer;
    cmd.width = width;
    cmd.height = height;
    cmd.format = format;
    cmd.buffer_count = buffer_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_SWAP_CHAIN, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_PRESENT: IDXGISwapChain::Present: hand the back buffer to the host's presenters. The host paces it to a virtual vblank clock at the display mode's refresh rate: sync_interval 0 shows it at once, N shows it at the Nth vblank after the previous shown frame's (a late frame at the next one); the host then updates the frame statistics in the control page. */
static inline uint64_t pvgpu_emit_present(PvgpuGuest *guest, uint32_t swap_chain, uint32_t sync_interval, uint32_t flags)
{
    PvgpuCmdPresent cmd;
    cmd.swap_chain = swap_chain;
    cmd.sync_interval = sync_interval;
    cmd.flags = flags;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_PRESENT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_RESIZE_BUFFERS: IDXGISwapChain::ResizeBuffers; no view of the back buffer may be alive. The back buffer keeps its id. */
static inline uint64_t pvgpu_emit_resize_buffers(PvgpuGuest *guest, uint32_t swap_chain, uint32_t buffer_count, uint32_t width, uint32_t height, uint32_t format)
{
    PvgpuCmdResizeBuffers cmd;
    cmd.swap_chain = swap_chain;
    cmd.buffer_count = buffer_count;
    cmd.width = width;
    cmd.height = height;
    cmd.format = format;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_RESIZE_BUFFERS, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DRAW_INSTANCED_INDIRECT: ID3D11DeviceContext::DrawInstancedIndirect: the four draw arguments are read by the GPU from `args` (a buffer with RESOURCE_MISC_DRAWINDIRECT_ARGS) at `aligned_byte_offset`. Needs PVGPU_FEATURE_INSTANCING. */
static inline uint64_t pvgpu_emit_draw_instanced_indirect(PvgpuGuest *guest, uint32_t args, uint32_t aligned_byte_offset)
{
    PvgpuCmdDrawInstancedIndirect cmd;
    cmd.args = args;
    cmd.aligned_byte_offset = aligned_byte_offset;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DRAW_INSTANCED_INDIRECT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DRAW_INDEXED_INSTANCED_INDIRECT: ID3D11DeviceContext::DrawIndexedInstancedIndirect: five arguments read by the GPU from `args`. Needs PVGPU_FEATURE_INSTANCING. */
static inline uint64_t pvgpu_emit_draw_indexed_instanced_indirect(PvgpuGuest *guest, uint32_t args, uint32_t aligned_byte_offset)
{
    PvgpuCmdDrawIndexedInstancedIndirect cmd;
    cmd.args = args;
    cmd.aligned_byte_offset = aligned_byte_offset;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DRAW_INDEXED_INSTANCED_INDIRECT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_RESOLVE_SUBRESOURCE: ID3D11DeviceContext::ResolveSubresource: average a multisampled subresource into a single-sampled one of the same size and format. */
static inline uint64_t pvgpu_emit_resolve_subresource(PvgpuGuest *guest, uint32_t dst, uint32_t dst_subresource, uint32_t src, uint32_t src_subresource, uint32_t format)
{
    PvgpuCmdResolveSubresource cmd;
    cmd.dst = dst;
    cmd.dst_subresource = dst_subresource;
    cmd.src = src;
    cmd.src_subresource = src_subresource;
    cmd.format = format;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_RESOLVE_SUBRESOURCE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_QUERY: ID3D11Device::CreateQuery. */
static inline uint64_t pvgpu_emit_create_query(PvgpuGuest *guest, uint32_t query, uint32_t type)
{
    PvgpuCmdCreateQuery cmd;
    cmd.query = query;
    cmd.type = type;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_QUERY, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_BEGIN_QUERY: ID3D11DeviceContext::Begin (occlusion, occlusion predicate, timestamp disjoint). */
static inline uint64_t pvgpu_emit_begin_query(PvgpuGuest *guest, uint32_t query)
{
    PvgpuCmdBeginQuery cmd;
    cmd.query = query;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_BEGIN_QUERY, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_END_QUERY: ID3D11DeviceContext::End: the host writes the query's result into `result` by the time a following FENCE completes (GetData polls that fence). */
static inline uint64_t pvgpu_emit_end_query(PvgpuGuest *guest, uint32_t query, uint64_t result_offset, uint64_t result_size)
{
    PvgpuCmdEndQuery cmd;
    cmd.query = query;
    cmd._pad0 = 0;
    cmd.result_offset = result_offset;
    cmd.result_size = result_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_END_QUERY, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_GENERATE_MIPS: ID3D11DeviceContext::GenerateMips: fill the view's lower mips from its most detailed one (the texture needs RESOURCE_MISC_GENERATE_MIPS, RENDER_TARGET and SHADER_RESOURCE). */
static inline uint64_t pvgpu_emit_generate_mips(PvgpuGuest *guest, uint32_t view)
{
    PvgpuCmdGenerateMips cmd;
    cmd.view = view;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_GENERATE_MIPS, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_MAP_WRITE_NO_OVERWRITE: Unmap of a Map(WRITE_NO_OVERWRITE) of a DYNAMIC buffer: the bytes are written in place (the guest promised that work in flight does not read them). */
static inline uint64_t pvgpu_emit_map_write_no_overwrite(PvgpuGuest *guest, uint32_t resource, uint32_t dst_offset, uint64_t src_offset, uint64_t src_size)
{
    PvgpuCmdMapWriteNoOverwrite cmd;
    cmd.resource = resource;
    cmd.dst_offset = dst_offset;
    cmd.src_offset = src_offset;
    cmd.src_size = src_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_MAP_WRITE_NO_OVERWRITE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_COPY_SUBRESOURCE_REGION: ID3D11DeviceContext::CopySubresourceRegion. With has_box=0 the whole source subresource is copied; for buffers the box's left/right are byte offsets and dst_x the destination offset. */
static inline uint64_t pvgpu_emit_copy_subresource_region(PvgpuGuest *guest, uint32_t dst, uint32_t dst_subresource, uint32_t dst_x, uint32_t dst_y, uint32_t dst_z, uint32_t src, uint32_t src_subresource, uint32_t has_box, uint32_t box_left, uint32_t box_top, uint32_t box_front, uint32_t box_right, uint32_t box_bottom, uint32_t box_back)
{
    PvgpuCmdCopySubresourceRegion cmd;
    cmd.dst = dst;
    cmd.dst_subresource = dst_subresource;
    cmd.dst_x = dst_x;
    cmd.dst_y = dst_y;
    cmd.dst_z = dst_z;
    cmd.src = src;
    cmd.src_subresource = src_subresource;
    cmd.has_box = has_box;
    cmd.box_left = box_left;
    cmd.box_top = box_top;
    cmd.box_front = box_front;
    cmd.box_right = box_right;
    cmd.box_bottom = box_bottom;
    cmd.box_back = box_back;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_COPY_SUBRESOURCE_REGION, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_TEXTURE1D: ID3D11Device::CreateTexture1D. Initial data: every subresource in D3D11's order, tightly packed. Needs PVGPU_FEATURE_TEXTURE1D. */
static inline uint64_t pvgpu_emit_create_texture1d(PvgpuGuest *guest, uint32_t texture, uint32_t width, uint32_t mip_levels, uint32_t array_size, uint32_t format, uint32_t usage, uint32_t bind_flags, uint32_t cpu_access_flags, uint32_t misc_flags, uint64_t initial_data_offset, uint64_t initial_data_size)
{
    PvgpuCmdCreateTexture1d cmd;
    cmd.texture = texture;
    cmd.width = width;
    cmd.mip_levels = mip_levels;
    cmd.array_size = array_size;
    cmd.format = format;
    cmd.usage = usage;
    cmd.bind_flags = bind_flags;
    cmd.cpu_access_flags = cpu_access_flags;
    cmd.misc_flags = misc_flags;
    cmd._pad0 = 0;
    cmd.initial_data_offset = initial_data_offset;
    cmd.initial_data_size = initial_data_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_TEXTURE1D, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_TEXTURE3D: ID3D11Device::CreateTexture3D. Initial data: every mip in order, each depth slice after slice with tightly packed rows. Needs PVGPU_FEATURE_TEXTURE3D. */
static inline uint64_t pvgpu_emit_create_texture3d(PvgpuGuest *guest, uint32_t texture, uint32_t width, uint32_t height, uint32_t depth, uint32_t mip_levels, uint32_t format, uint32_t usage, uint32_t bind_flags, uint32_t cpu_access_flags, uint32_t misc_flags, uint64_t initial_data_offset, uint64_t initial_data_size)
{
    PvgpuCmdCreateTexture3d cmd;
    cmd.texture = texture;
    cmd.width = width;
    cmd.height = height;
    cmd.depth = depth;
    cmd.mip_levels = mip_levels;
    cmd.format = format;
    cmd.usage = usage;
    cmd.bind_flags = bind_flags;
    cmd.cpu_access_flags = cpu_access_flags;
    cmd.misc_flags = misc_flags;
    cmd.initial_data_offset = initial_data_offset;
    cmd.initial_data_size = initial_data_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_TEXTURE3D, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_BUFFER_SHADER_RESOURCE_VIEW: ID3D11Device::CreateShaderResourceView of a buffer (D3D11_SRV_DIMENSION_BUFFER / BUFFEREX): structured (format UNKNOWN), raw (R32_TYPELESS with flag RAW) or typed 32-bit elements; shaders read it as a `var<storage, read>` array. */
static inline uint64_t pvgpu_emit_create_buffer_shader_resource_view(PvgpuGuest *guest, uint32_t view, uint32_t buffer, uint32_t format, uint32_t first_element, uint32_t num_elements, uint32_t flags)
{
    PvgpuCmdCreateBufferShaderResourceView cmd;
    cmd.view = view;
    cmd.buffer = buffer;
    cmd.format = format;
    cmd.first_element = first_element;
    cmd.num_elements = num_elements;
    cmd.flags = flags;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_BUFFER_SHADER_RESOURCE_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_UNORDERED_ACCESS_VIEW: ID3D11Device::CreateUnorderedAccessView of a texture: one mip; array slices (first_array_slice, array_size), or for TEXTURE3D the depth slices (first W slice, W size; 0xFFFFFFFF: all). Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_create_unordered_access_view(PvgpuGuest *guest, uint32_t view, uint32_t resource, uint32_t format, uint32_t view_dimension, uint32_t mip_slice, uint32_t first_array_slice, uint32_t array_size)
{
    PvgpuCmdCreateUnorderedAccessView cmd;
    cmd.view = view;
    cmd.resource = resource;
    cmd.format = format;
    cmd.view_dimension = view_dimension;
    cmd.mip_slice = mip_slice;
    cmd.first_array_slice = first_array_slice;
    cmd.array_size = array_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_UNORDERED_ACCESS_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_BUFFER_UNORDERED_ACCESS_VIEW: ID3D11Device::CreateUnorderedAccessView of a buffer: structured, raw or typed 32-bit elements; shaders write it as a `var<storage, read_write>` array. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_create_buffer_unordered_access_view(PvgpuGuest *guest, uint32_t view, uint32_t buffer, uint32_t format, uint32_t first_element, uint32_t num_elements, uint32_t flags)
{
    PvgpuCmdCreateBufferUnorderedAccessView cmd;
    cmd.view = view;
    cmd.buffer = buffer;
    cmd.format = format;
    cmd.first_element = first_element;
    cmd.num_elements = num_elements;
    cmd.flags = flags;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_BUFFER_UNORDERED_ACCESS_VIEW, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_COMPUTE_SHADER: ID3D11Device::CreateComputeShader; the code is read from the heap. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_create_compute_shader(PvgpuGuest *guest, uint32_t shader, uint32_t language, uint64_t code_offset, uint64_t code_size)
{
    PvgpuCmdCreateComputeShader cmd;
    cmd.shader = shader;
    cmd.language = language;
    cmd.code_offset = code_offset;
    cmd.code_size = code_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_COMPUTE_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_COMPUTE_SHADER: ID3D11DeviceContext::CSSetShader. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_set_compute_shader(PvgpuGuest *guest, uint32_t shader)
{
    PvgpuCmdSetComputeShader cmd;
    cmd.shader = shader;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_COMPUTE_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_UNORDERED_ACCESS_VIEWS: ID3D11DeviceContext::CSSetUnorderedAccessViews. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_set_unordered_access_views(PvgpuGuest *guest, uint32_t start_slot, uint32_t view_count, const PvgpuUnorderedAccessSlot *views)
{
    PvgpuCmdSetUnorderedAccessViews cmd;
    cmd.start_slot = start_slot;
    cmd.view_count = view_count;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_UNORDERED_ACCESS_VIEWS, &cmd, sizeof cmd, views, PVGPU_SET_UNORDERED_ACCESS_VIEWS_ELEMENT_SIZE, view_count);
}

/* PVGPU_OP_DISPATCH: ID3D11DeviceContext::Dispatch: thread groups in x, y and z. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_dispatch(PvgpuGuest *guest, uint32_t thread_group_count_x, uint32_t thread_group_count_y, uint32_t thread_group_count_z)
{
    PvgpuCmdDispatch cmd;
    cmd.thread_group_count_x = thread_group_count_x;
    cmd.thread_group_count_y = thread_group_count_y;
    cmd.thread_group_count_z = thread_group_count_z;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DISPATCH, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_DISPATCH_INDIRECT: ID3D11DeviceContext::DispatchIndirect: three group counts read by the GPU from `args` (a buffer with RESOURCE_MISC_DRAWINDIRECT_ARGS) at `aligned_byte_offset`. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_dispatch_indirect(PvgpuGuest *guest, uint32_t args, uint32_t aligned_byte_offset)
{
    PvgpuCmdDispatchIndirect cmd;
    cmd.args = args;
    cmd.aligned_byte_offset = aligned_byte_offset;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_DISPATCH_INDIRECT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CLEAR_UNORDERED_ACCESS_VIEW_FLOAT: ID3D11DeviceContext::ClearUnorderedAccessViewFloat. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_clear_unordered_access_view_float(PvgpuGuest *guest, uint32_t view, float value_r, float value_g, float value_b, float value_a)
{
    PvgpuCmdClearUnorderedAccessViewFloat cmd;
    cmd.view = view;
    cmd.value_r = value_r;
    cmd.value_g = value_g;
    cmd.value_b = value_b;
    cmd.value_a = value_a;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CLEAR_UNORDERED_ACCESS_VIEW_FLOAT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CLEAR_UNORDERED_ACCESS_VIEW_UINT: ID3D11DeviceContext::ClearUnorderedAccessViewUint. Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_clear_unordered_access_view_uint(PvgpuGuest *guest, uint32_t view, uint32_t value_r, uint32_t value_g, uint32_t value_b, uint32_t value_a)
{
    PvgpuCmdClearUnorderedAccessViewUint cmd;
    cmd.view = view;
    cmd.value_r = value_r;
    cmd.value_g = value_g;
    cmd.value_b = value_b;
    cmd.value_a = value_a;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CLEAR_UNORDERED_ACCESS_VIEW_UINT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_PREDICATION: ID3D11DeviceContext::SetPredication: while set, draws, dispatches, clears and copies are skipped when the predicate's result equals `value`. The host waits for the predicate's result here. Needs PVGPU_FEATURE_PREDICATION. */
static inline uint64_t pvgpu_emit_set_predication(PvgpuGuest *guest, uint32_t predicate, uint32_t value)
{
    PvgpuCmdSetPredication cmd;
    cmd.predicate = predicate;
    cmd.value = value;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_PREDICATION, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_GET_SHARED_HANDLE: IDXGIResource::GetSharedHandle of a RESOURCE_MISC_SHARED texture: the host writes the u64 handle into `result` by the time a following FENCE completes. Needs PVGPU_FEATURE_SHARED_RESOURCES. */
static inline uint64_t pvgpu_emit_get_shared_handle(PvgpuGuest *guest, uint32_t resource, uint64_t result_offset, uint64_t result_size)
{
    PvgpuCmdGetSharedHandle cmd;
    cmd.resource = resource;
    cmd._pad0 = 0;
    cmd.result_offset = result_offset;
    cmd.result_size = result_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_GET_SHARED_HANDLE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_OPEN_SHARED_RESOURCE: ID3D11Device::OpenSharedResource: `texture` becomes this guest's id for the shared texture; the host writes its description (SharedTextureDesc) into `desc` by the time a following FENCE completes. Needs PVGPU_FEATURE_SHARED_RESOURCES. */
static inline uint64_t pvgpu_emit_open_shared_resource(PvgpuGuest *guest, uint32_t texture, uint64_t handle, uint64_t desc_offset, uint64_t desc_size)
{
    PvgpuCmdOpenSharedResource cmd;
    cmd.texture = texture;
    cmd._pad0 = 0;
    cmd.handle = handle;
    cmd.desc_offset = desc_offset;
    cmd.desc_size = desc_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_OPEN_SHARED_RESOURCE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_GEOMETRY_SHADER: ID3D11Device::CreateGeometryShader. Not offered yet (WebGPU has no geometry stage): refused with UNSUPPORTED. */
static inline uint64_t pvgpu_emit_create_geometry_shader(PvgpuGuest *guest, uint32_t shader, uint32_t language, uint64_t code_offset, uint64_t code_size)
{
    PvgpuCmdCreateGeometryShader cmd;
    cmd.shader = shader;
    cmd.language = language;
    cmd.code_offset = code_offset;
    cmd.code_size = code_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_GEOMETRY_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_HULL_SHADER: ID3D11Device::CreateHullShader. Not offered yet (WebGPU has no tessellation): refused with UNSUPPORTED. */
static inline uint64_t pvgpu_emit_create_hull_shader(PvgpuGuest *guest, uint32_t shader, uint32_t language, uint64_t code_offset, uint64_t code_size)
{
    PvgpuCmdCreateHullShader cmd;
    cmd.shader = shader;
    cmd.language = language;
    cmd.code_offset = code_offset;
    cmd.code_size = code_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_HULL_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_CREATE_DOMAIN_SHADER: ID3D11Device::CreateDomainShader. Not offered yet (WebGPU has no tessellation): refused with UNSUPPORTED. */
static inline uint64_t pvgpu_emit_create_domain_shader(PvgpuGuest *guest, uint32_t shader, uint32_t language, uint64_t code_offset, uint64_t code_size)
{
    PvgpuCmdCreateDomainShader cmd;
    cmd.shader = shader;
    cmd.language = language;
    cmd.code_offset = code_offset;
    cmd.code_size = code_size;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_CREATE_DOMAIN_SHADER, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_COPY_STRUCTURE_COUNT: ID3D11DeviceContext::CopyStructureCount: the GPU copies the hidden counter of `src_view` (a buffer UAV created with APPEND or COUNTER) as a u32 into `dst_buffer` at `dst_aligned_byte_offset` (a multiple of 4). Needs PVGPU_FEATURE_COMPUTE_SHADERS. */
static inline uint64_t pvgpu_emit_copy_structure_count(PvgpuGuest *guest, uint32_t dst_buffer, uint32_t dst_aligned_byte_offset, uint32_t src_view)
{
    PvgpuCmdCopyStructureCount cmd;
    cmd.dst_buffer = dst_buffer;
    cmd.dst_aligned_byte_offset = dst_aligned_byte_offset;
    cmd.src_view = src_view;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_COPY_STRUCTURE_COUNT, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* PVGPU_OP_SET_DISPLAY_MODE: IDXGISwapChain::ResizeTarget and SetFullscreenState together: the guest's output takes the offered display mode `mode_index` (an index into the control page's display_modes; refused with INVALID_CALL beyond display_mode_count) and goes fullscreen or windowed. Ordered with the frames: presents after it are paced to the chosen mode's refresh rate when fullscreen, to the desktop's (60 Hz) when windowed. The host writes display_mode_chosen, display_fullscreen and display_refresh. The back buffer keeps its size (RESIZE_BUFFERS changes it). */
static inline uint64_t pvgpu_emit_set_display_mode(PvgpuGuest *guest, uint32_t swap_chain, uint32_t mode_index, uint32_t fullscreen)
{
    PvgpuCmdSetDisplayMode cmd;
    cmd.swap_chain = swap_chain;
    cmd.mode_index = mode_index;
    cmd.fullscreen = fullscreen;
    return pvgpu_guest_emit_record(guest, PVGPU_OP_SET_DISPLAY_MODE, &cmd, sizeof cmd, PVGPU_NULL, 0, 0);
}

/* ---- END GENERATED ---- */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PVGPU_GUEST_H */
