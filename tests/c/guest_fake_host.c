/* pvgpu_guest.h against a host simulated in this process (tests/test_c_guest.py runs it).
 *
 * The "host" lives in the transport's callbacks: the doorbell answers the handshake, and the
 * wait callback (called only when the guest blocks: ring full, fence not reached) consumes
 * every published record, appending it to OUT, completing FENCEs and checking the heap range
 * of each UPDATE_SUBRESOURCE. So the ring fills and the heap runs out for real, and a heap
 * range reused before its fence completed shows up as changed bytes.
 *
 *     guest_fake_host encoders OUT   every command's encoder once (EMIT_ALL: a generated file)
 *     guest_fake_host stress OUT     thousands of uploads and records through a 4 KiB ring and a
 *                                    64 KiB heap
 *     guest_fake_host unnamed        uploads before the records naming them, the heap full
 *     guest_fake_host frames         the frame statistics reader
 *     guest_fake_host errors         the error-log reader, including entries overwritten
 *     guest_fake_host lost           a fence wait ends with PVGPU_E_DEVICE_LOST
 *     guest_fake_host version        a host of another major version is refused
 *     guest_fake_host timeout        a host that never answers: PVGPU_E_TIMEOUT
 *     guest_fake_host rering         a host that notices the hello only at the fourth doorbell
 *     guest_fake_host lost_hello     a host that answers the hello with LOST
 *     guest_fake_host reset          the page reset (INITIALIZING) during a fence wait
 *     guest_fake_host badfence       a wait for a fence never put in the ring
 *
 * Valid C11 and C++17. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvgpu_guest.h"

#define RING_SIZE 4096u
#define HEAP_SIZE 65536u
#define REGION_SIZE (PVGPU_CONTROL_PAGE_SIZE + RING_SIZE + HEAP_SIZE)

typedef struct FakeHost {
    unsigned char *region;
    FILE *out;
    int answer_hello;
    int lose_device;       /* set LOST at the next wait */
    int reset_device;      /* format the page again (INITIALIZING) at the next wait */
    int lose_at_hello;     /* answer the hello with LOST */
    int ignore_rings;      /* doorbells to ignore (a host that has not noticed yet) */
    uint64_t doorbells, clock_ns;
    uint64_t records, pads, waits, max_outstanding, checked_uploads;
    int failed;
} FakeHost;

static volatile uint64_t *u64_at(FakeHost *host, uint32_t offset)
{
    return (volatile uint64_t *)(void *)(host->region + offset);
}

static volatile uint32_t *u32_at(FakeHost *host, uint32_t offset)
{
    return (volatile uint32_t *)(void *)(host->region + offset);
}

static void format_page(FakeHost *host, uint32_t major)
{
    memset(host->region, 0, PVGPU_CONTROL_PAGE_SIZE);
    *u32_at(host, PVGPU_CTRL_HOST_VERSION_MAJOR_OFFSET) = major;
    *u32_at(host, PVGPU_CTRL_HOST_VERSION_MINOR_OFFSET) = PVGPU_PROTOCOL_MINOR;
    *u64_at(host, PVGPU_CTRL_OFFERED_FEATURES_OFFSET) = PVGPU_FEATURE_WGSL_SHADERS | PVGPU_FEATURE_TEXTURE2D;
    *u64_at(host, PVGPU_CTRL_REGION_SIZE_OFFSET) = REGION_SIZE;
    *u64_at(host, PVGPU_CTRL_RING_OFFSET_OFFSET) = PVGPU_CONTROL_PAGE_SIZE;
    *u64_at(host, PVGPU_CTRL_RING_SIZE_OFFSET) = RING_SIZE;
    *u64_at(host, PVGPU_CTRL_HEAP_OFFSET_OFFSET) = PVGPU_CONTROL_PAGE_SIZE + RING_SIZE;
    *u64_at(host, PVGPU_CTRL_HEAP_SIZE_OFFSET) = HEAP_SIZE;
    *u32_at(host, PVGPU_CTRL_DEVICE_STATUS_OFFSET) = PVGPU_DEVICE_STATUS_INITIALIZING;
    *u64_at(host, PVGPU_CTRL_MAGIC_OFFSET) = PVGPU_MAGIC;
}

static void log_error(FakeHost *host, uint32_t code, uint32_t opcode, uint64_t sequence, const char *detail)
{
    uint64_t index = *u64_at(host, PVGPU_CTRL_ERROR_COUNT_OFFSET);
    PvgpuErrorEntry entry;
    memset(&entry, 0, sizeof entry);
    entry.code = code;
    entry.opcode = opcode;
    entry.sequence = sequence;
    memcpy(entry.detail, detail, strlen(detail) < sizeof entry.detail ? strlen(detail) : sizeof entry.detail);
    memcpy(host->region + PVGPU_CTRL_ERROR_LOG_OFFSET + (index % PVGPU_ERROR_LOG_ENTRIES) * sizeof entry, &entry,
           sizeof entry);
    *u64_at(host, PVGPU_CTRL_ERROR_COUNT_OFFSET) = index + 1u;
}

static void host_doorbell(void *user)
{
    FakeHost *host = (FakeHost *)user;
    host->doorbells++;
    if (!host->answer_hello)
        return;
    if (host->ignore_rings > 0) {
        host->ignore_rings--;
        return;
    }
    if (*u32_at(host, PVGPU_CTRL_GUEST_STATE_OFFSET) == PVGPU_GUEST_STATE_HELLO
        && *u32_at(host, PVGPU_CTRL_DEVICE_STATUS_OFFSET) == PVGPU_DEVICE_STATUS_INITIALIZING) {
        if (*u32_at(host, PVGPU_CTRL_GUEST_VERSION_MAJOR_OFFSET) != *u32_at(host, PVGPU_CTRL_HOST_VERSION_MAJOR_OFFSET)) {
            log_error(host, PVGPU_ERROR_CODE_VERSION, 0, 0, "guest speaks another major version");
            *u32_at(host, PVGPU_CTRL_DEVICE_STATUS_OFFSET) = PVGPU_DEVICE_STATUS_REFUSED;
            return;
        }
        if (host->lose_at_hello) {
            log_error(host, PVGPU_ERROR_CODE_DEVICE_LOST, 0, 0, "the renderer crashed");
            *u32_at(host, PVGPU_CTRL_DEVICE_STATUS_OFFSET) = PVGPU_DEVICE_STATUS_LOST;
            return;
        }
        *u64_at(host, PVGPU_CTRL_ACCEPTED_FEATURES_OFFSET) =
            *u64_at(host, PVGPU_CTRL_REQUESTED_FEATURES_OFFSET) & *u64_at(host, PVGPU_CTRL_OFFERED_FEATURES_OFFSET);
        *u32_at(host, PVGPU_CTRL_DEVICE_STATUS_OFFSET) = PVGPU_DEVICE_STATUS_READY;
    } else if (*u32_at(host, PVGPU_CTRL_GUEST_STATE_OFFSET) == PVGPU_GUEST_STATE_RESET) {
        format_page(host, PVGPU_PROTOCOL_MAJOR);
    }
}

static void check_upload(FakeHost *host, const unsigned char *record)
{
    PvgpuCmdUpdateSubresource cmd;
    uint64_t i;
    const unsigned char *heap = host->region + PVGPU_CONTROL_PAGE_SIZE + RING_SIZE;
    memcpy(&cmd, record + PVGPU_RECORD_HEADER_SIZE, sizeof cmd);
    if (cmd.src_offset > HEAP_SIZE || cmd.src_size > HEAP_SIZE - cmd.src_offset || cmd.src_offset % PVGPU_HEAP_ALIGN) {
        printf("upload outside the heap or misaligned: %llu+%llu\n", (unsigned long long)cmd.src_offset,
               (unsigned long long)cmd.src_size);
        host->failed = 1;
        return;
    }
    for (i = 0; i < cmd.src_size; i++) {
        if (heap[cmd.src_offset + i] != (unsigned char)cmd.box_left) {
            printf("heap range of upload %u was overwritten before its fence completed\n", (unsigned)cmd.box_top);
            host->failed = 1;
            return;
        }
    }
    host->checked_uploads++;
}

/* Consume every published record (the host's side of the ring). */
static void host_wait(void *user, uint64_t max_ns)
{
    FakeHost *host = (FakeHost *)user;
    uint64_t producer = *u64_at(host, PVGPU_CTRL_RING_PRODUCER_OFFSET);
    uint64_t consumer = *u64_at(host, PVGPU_CTRL_RING_CONSUMER_OFFSET);
    const unsigned char *ring = host->region + PVGPU_CONTROL_PAGE_SIZE;
    (void)max_ns;
    host->waits++;
    if (host->lose_device) {
        log_error(host, PVGPU_ERROR_CODE_DEVICE_LOST, 0, 0, "the fake host lost the device");
        *u32_at(host, PVGPU_CTRL_DEVICE_STATUS_OFFSET) = PVGPU_DEVICE_STATUS_LOST;
        return;
    }
    if (host->reset_device) {
        format_page(host, PVGPU_PROTOCOL_MAJOR);
        return;
    }
    if (producer - consumer > host->max_outstanding)
        host->max_outstanding = producer - consumer;
    while (consumer < producer) {
        PvgpuRecordHeader header;
        const unsigned char *record = ring + consumer % RING_SIZE;
        memcpy(&header, record, sizeof header);
        if (header.size < 16u || header.size % 16u || header.size > RING_SIZE - consumer % RING_SIZE) {
            printf("bad framing at position %llu: size %u\n", (unsigned long long)consumer, (unsigned)header.size);
            host->failed = 1;
            exit(1);
        }
        if (host->out != NULL)
            fwrite(record, 1, header.size, host->out);
        if (header.opcode == PVGPU_OP_PAD) {
            host->pads++;
        } else {
            host->records++;
            if (header.opcode == PVGPU_OP_FENCE) {
                PvgpuCmdFence fence;
                memcpy(&fence, record + PVGPU_RECORD_HEADER_SIZE, sizeof fence);
                *u64_at(host, PVGPU_CTRL_FENCE_COMPLETED_OFFSET) = fence.value;
            } else if (header.opcode == PVGPU_OP_UPDATE_SUBRESOURCE) {
                check_upload(host, record);
            }
        }
        consumer += header.size;
    }
    *u64_at(host, PVGPU_CTRL_RING_CONSUMER_OFFSET) = consumer;
}

/* A clock that advances 10 ms each time it is read: long waits without sleeping. */
static uint64_t fake_clock(void *user)
{
    FakeHost *host = (FakeHost *)user;
    host->clock_ns += 10000000u;
    return host->clock_ns;
}

static int connect_guest(PvgpuGuest *guest, FakeHost *host)
{
    PvgpuTransport transport;
    transport.doorbell = host_doorbell;
    transport.wait = host_wait;
    transport.now_ns = fake_clock;
    transport.user = host;
    if (pvgpu_guest_attach(guest, host->region, REGION_SIZE, &transport) != PVGPU_OK)
        return guest->result;
    guest->timeout_ns = 5000000000ull;
    return pvgpu_guest_handshake(guest, ~(uint64_t)0, 1234);
}

#ifdef EMIT_ALL
#include EMIT_ALL
#endif

static int run_encoders(PvgpuGuest *guest)
{
#ifdef EMIT_ALL
    if (emit_all(guest) != 0) {
        printf("an encoder failed: %s\n", guest->message);
        return 1;
    }
    return pvgpu_guest_finish(guest) == PVGPU_OK ? 0 : 1;
#else
    (void)guest;
    printf("built without EMIT_ALL\n");
    return 1;
#endif
}

static int run_stress(PvgpuGuest *guest, FakeHost *host)
{
    static unsigned char data[9000];
    unsigned i;
    uint64_t offset, fences = 0;
    for (i = 0; i < 3000; i++) {
        uint64_t size = 1u + (i * 7919u) % sizeof data;
        memset(data, (int)(i & 0xFFu), (size_t)size);
        if (pvgpu_heap_upload(guest, data, size, &offset) != PVGPU_OK) {
            printf("upload %u failed: %s\n", i, guest->message);
            return 1;
        }
        if (!pvgpu_emit_update_subresource(guest, 1, 0, 0, i & 0xFFu, i, 0, 0, 0, 0, 0, 0, offset, size)
            || !pvgpu_emit_draw(guest, i, 0)) {
            printf("record %u failed: %s\n", i, guest->message);
            return 1;
        }
        if (i % 7u == 6u) {
            if (pvgpu_guest_fence(guest) == 0) {
                printf("fence failed: %s\n", guest->message);
                return 1;
            }
            fences++;
        }
    }
    for (i = 0; i < 2000; i++) { /* 64 KB of records, no fence: the ring fills and the writer waits */
        if (!pvgpu_emit_draw(guest, i, 1)) {
            printf("draw %u failed: %s\n", i, guest->message);
            return 1;
        }
    }
    if (pvgpu_guest_finish(guest) != PVGPU_OK) {
        printf("finish failed: %s\n", guest->message);
        return 1;
    }
    printf("stress records=%llu pads=%llu waits=%llu max_outstanding=%llu checked_uploads=%llu fences=%llu "
           "sequence=%llu\n",
           (unsigned long long)host->records, (unsigned long long)host->pads, (unsigned long long)host->waits,
           (unsigned long long)host->max_outstanding, (unsigned long long)host->checked_uploads,
           (unsigned long long)fences, (unsigned long long)guest->sequence);
    return host->failed;
}

static void print_errors(PvgpuGuest *guest, size_t max)
{
    PvgpuHostError errors[PVGPU_ERROR_LOG_ENTRIES];
    uint64_t lost = 0;
    size_t n = pvgpu_guest_read_errors(guest, errors, max, &lost), i;
    printf("read %u lost %llu\n", (unsigned)n, (unsigned long long)lost);
    for (i = 0; i < n; i++) {
        char line[256];
        pvgpu_host_error_describe(&errors[i], line, sizeof line);
        printf("%llu %s\n", (unsigned long long)errors[i].index, line);
    }
}

/* Uploads before the records that name them, with the heap forced full: an allocation no
 * record names yet is never reclaimed (the allocator's own fence frees only what records
 * named), so the second 40000-byte upload fails cleanly instead of reusing the first's bytes;
 * after the first's record it succeeds. Then three uploads, their three records, and an upload
 * that needs their space. The host checks every upload's bytes when it consumes its record. */
static int run_unnamed(PvgpuGuest *guest, FakeHost *host)
{
    static unsigned char data[5][40000];
    static const uint64_t sizes[5] = {40000u, 40000u, 15000u, 15000u, 30000u};
    uint64_t offsets[5];
    unsigned i;
    int rc;
    for (i = 0; i < 5; i++)
        memset(data[i], 0xA0 + (int)i, sizeof data[i]);
    if (pvgpu_heap_upload(guest, data[0], sizes[0], &offsets[0]) != PVGPU_OK)
        return printf("upload 0: %s\n", guest->message), 1;
    rc = pvgpu_heap_upload(guest, data[1], sizes[1], &offsets[1]);
    printf("upload 1 before record 0: %d: %s\n", rc, rc == PVGPU_OK ? "ok" : guest->message);
    if (!pvgpu_emit_update_subresource(guest, 1, 0, 0, 0xA0, 0, 0, 0, 0, 0, 0, 0, offsets[0], sizes[0]))
        return printf("record 0: %s\n", guest->message), 1;
    if (pvgpu_heap_upload(guest, data[1], sizes[1], &offsets[1]) != PVGPU_OK)
        return printf("upload 1: %s\n", guest->message), 1;
    if (!pvgpu_emit_update_subresource(guest, 1, 0, 0, 0xA1, 1, 0, 0, 0, 0, 0, 0, offsets[1], sizes[1]))
        return printf("record 1: %s\n", guest->message), 1;
    for (i = 2; i < 4; i++)
        if (pvgpu_heap_upload(guest, data[i], sizes[i], &offsets[i]) != PVGPU_OK)
            return printf("upload %u: %s\n", i, guest->message), 1;
    for (i = 2; i < 4; i++)
        if (!pvgpu_emit_update_subresource(guest, 1, 0, 0, 0xA0 + i, i, 0, 0, 0, 0, 0, 0, offsets[i], sizes[i]))
            return printf("record %u: %s\n", i, guest->message), 1;
    if (pvgpu_heap_upload(guest, data[4], sizes[4], &offsets[4]) != PVGPU_OK)
        return printf("upload 4: %s\n", guest->message), 1;
    if (!pvgpu_emit_update_subresource(guest, 1, 0, 0, 0xA4, 4, 0, 0, 0, 0, 0, 0, offsets[4], sizes[4]))
        return printf("record 4: %s\n", guest->message), 1;
    if (pvgpu_guest_finish(guest) != PVGPU_OK)
        return printf("finish: %s\n", guest->message), 1;
    printf("offsets %llu %llu %llu %llu %llu checked_uploads=%llu failed=%d\n", (unsigned long long)offsets[0],
           (unsigned long long)offsets[1], (unsigned long long)offsets[2], (unsigned long long)offsets[3],
           (unsigned long long)offsets[4], (unsigned long long)host->checked_uploads, host->failed);
    return host->failed;
}

/* The frame statistics as the host wrote them under its sequence count. */
static int run_frames(PvgpuGuest *guest, FakeHost *host)
{
    PvgpuFrameStats stats;
    *u64_at(host, PVGPU_CTRL_FRAME_STATS_SEQUENCE_OFFSET) = 5u;
    *u64_at(host, PVGPU_CTRL_PRESENTED_FRAMES_OFFSET) = 42u;
    *u64_at(host, PVGPU_CTRL_PRESENT_REFRESH_COUNT_OFFSET) = 40u;
    *u64_at(host, PVGPU_CTRL_SYNC_REFRESH_COUNT_OFFSET) = 41u;
    *u64_at(host, PVGPU_CTRL_SYNC_TIME_NS_OFFSET) = 123456789012ull;
    *u64_at(host, PVGPU_CTRL_FRAME_STATS_SEQUENCE_OFFSET) = 6u;
    pvgpu_guest_frame_stats(guest, &stats);
    printf("frames %llu %llu %llu %llu\n", (unsigned long long)stats.presented_frames,
           (unsigned long long)stats.present_refresh_count, (unsigned long long)stats.sync_refresh_count,
           (unsigned long long)stats.sync_time_ns);
    return 0;
}

static int run_errors(PvgpuGuest *guest, FakeHost *host)
{
    char detail[PVGPU_ERROR_DETAIL_BYTES + 8];
    unsigned i;
    print_errors(guest, PVGPU_ERROR_LOG_ENTRIES); /* nothing yet */
    log_error(host, PVGPU_ERROR_CODE_DEAD_ID, PVGPU_OP_SET_VERTEX_SHADER, 7, "shader: no object has id 99");
    log_error(host, PVGPU_ERROR_CODE_WRONG_KIND, PVGPU_OP_DRAW, 8, "second");
    memset(detail, 'x', sizeof detail - 1); /* a detail that fills the entry: no NUL in the log */
    detail[sizeof detail - 1] = '\0';
    log_error(host, PVGPU_ERROR_CODE_QUOTA, PVGPU_OP_CREATE_BUFFER, 9, detail);
    print_errors(guest, 2);                       /* the first two */
    print_errors(guest, PVGPU_ERROR_LOG_ENTRIES); /* the third */
    for (i = 0; i < 30; i++) {
        char text[32];
        snprintf(text, sizeof text, "burst %u", i);
        log_error(host, PVGPU_ERROR_CODE_BAD_ENUM, PVGPU_OP_DRAW, 100u + i, text);
    }
    print_errors(guest, PVGPU_ERROR_LOG_ENTRIES); /* 30 more than the log holds */
    print_errors(guest, PVGPU_ERROR_LOG_ENTRIES); /* nothing new */
    return 0;
}

int main(int argc, char **argv)
{
    FakeHost host;
    PvgpuGuest guest;
    int rc;
    const char *mode = argc > 1 ? argv[1] : "";

    memset(&host, 0, sizeof host);
    host.region = (unsigned char *)aligned_alloc(4096, REGION_SIZE);
    if (host.region == NULL)
        return 2;
    memset(host.region, 0, REGION_SIZE);
    host.answer_hello = strcmp(mode, "timeout") != 0;
    format_page(&host, strcmp(mode, "version") == 0 ? PVGPU_PROTOCOL_MAJOR + 1u : PVGPU_PROTOCOL_MAJOR);
    if (argc > 2) {
        host.out = fopen(argv[2], "wb");
        if (host.out == NULL)
            return 2;
    }
    if (strcmp(mode, "timeout") == 0) {
        PvgpuTransport transport;
        transport.doorbell = host_doorbell;
        transport.wait = NULL;
        transport.now_ns = NULL;
        transport.user = &host;
        pvgpu_guest_attach(&guest, host.region, REGION_SIZE, &transport);
        guest.timeout_ns = 20000000ull;
        rc = pvgpu_guest_handshake(&guest, 0, 0);
        printf("handshake %d: %s\n", rc, guest.message);
        free(host.region);
        return 0;
    }
    if (strcmp(mode, "rering") == 0) {
        host.ignore_rings = 3; /* the hello's doorbell and two more: answered at the fourth */
        rc = connect_guest(&guest, &host);
        printf("handshake %d doorbells %llu waited %.2f s\n", rc, (unsigned long long)host.doorbells,
               (double)host.clock_ns / 1e9);
        free(host.region);
        return 0;
    }
    host.lose_at_hello = strcmp(mode, "lost_hello") == 0;
    rc = connect_guest(&guest, &host);
    if (strcmp(mode, "version") == 0 || strcmp(mode, "lost_hello") == 0) {
        printf("handshake %d: %s\n", rc, guest.message);
        free(host.region);
        return 0;
    }
    if (rc != PVGPU_OK) {
        printf("handshake failed (%d): %s\n", rc, guest.message);
        return 1;
    }
    /* a second program on the same region asks for a reset first */
    rc = connect_guest(&guest, &host);
    if (rc != PVGPU_OK || guest.accepted_features != (PVGPU_FEATURE_WGSL_SHADERS | PVGPU_FEATURE_TEXTURE2D)) {
        printf("second handshake failed (%d): %s\n", rc, guest.message);
        return 1;
    }
    if (strcmp(mode, "encoders") == 0)
        rc = run_encoders(&guest);
    else if (strcmp(mode, "stress") == 0)
        rc = run_stress(&guest, &host);
    else if (strcmp(mode, "unnamed") == 0)
        rc = run_unnamed(&guest, &host);
    else if (strcmp(mode, "frames") == 0)
        rc = run_frames(&guest, &host);
    else if (strcmp(mode, "errors") == 0)
        rc = run_errors(&guest, &host);
    else if (strcmp(mode, "lost") == 0) {
        uint64_t value;
        host.lose_device = 1;
        value = pvgpu_guest_fence(&guest);
        rc = pvgpu_guest_wait_fence(&guest, value);
        printf("wait %d lost %d: %s\n", rc, pvgpu_guest_device_lost(&guest), guest.message);
        rc = 0;
    } else if (strcmp(mode, "reset") == 0) {
        uint64_t value;
        host.reset_device = 1;
        value = pvgpu_guest_fence(&guest);
        rc = pvgpu_guest_wait_fence(&guest, value);
        printf("wait %d: %s\n", rc, guest.message);
        rc = 0;
    } else if (strcmp(mode, "badfence") == 0) {
        rc = pvgpu_guest_wait_fence(&guest, guest.last_fence + 1u);
        printf("wait %d: %s\n", rc, guest.message);
        rc = 0;
    } else {
        printf("unknown mode %s\n", mode);
        rc = 2;
    }
    if (host.out != NULL)
        fclose(host.out);
    free(host.region);
    return rc;
}
