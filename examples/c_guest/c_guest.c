/* A pvgpu guest in C: connects to `pvgpu serve --ivshmem SOCKET` the way QEMU's
 * ivshmem-doorbell device does, then draws frames with include/pvgpu_guest.h.
 *
 *     c_guest SOCKET [FRAMES] [--provoke-error]
 *
 * Frame i (W x H = 128 x 96, R8G8B8A8_UNORM) is cleared to background_color(i) and shows a
 * quad of quad_color(i) covering columns [32 + 4i, 96 + 4i) and rows [24, 72) exactly (its
 * edges lie on pixel boundaries). With --provoke-error it then sends SET_VERTEX_SHADER with
 * an id that names no object, printing "provoked sequence=N". Every error the host logged is
 * printed as "host error index=I code=C (NAME) opcode=O sequence=S: DETAIL"; the exit status
 * is 1 when there was any (2 for a failure of the guest itself), else 0.
 *
 * Valid C11 and C++17 with POSIX (sockets, mmap, poll) and Linux's SOCK_CLOEXEC and
 * MSG_CMSG_CLOEXEC (fds are not inherited by children). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pvgpu_guest.h"

#define WIDTH 128u
#define HEIGHT 96u
#define FRAMES_IN_FLIGHT 2u
/* pvgpu's ivshmem server takes part as peer 0: a guest's doorbell goes to that peer's vector 0. */
#define HOST_PEER_ID 0
#define NO_OBJECT 4242u

enum { SWAP_CHAIN = 1, BACK_BUFFER, RENDER_TARGET_VIEW, VERTEX_BUFFER, CONSTANT_BUFFER, VERTEX_SHADER, PIXEL_SHADER,
       INPUT_LAYOUT, RASTERIZER_STATE };

static const char VERTEX_SHADER_WGSL[] =
    "struct Constants { color: vec4<f32>, offset: vec4<f32> };\n"
    "@group(0) @binding(0) var<uniform> k: Constants;\n"
    "struct VsOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };\n"
    "@vertex\n"
    "fn vs_main(@location(0) pos: vec2<f32>) -> VsOut {\n"
    "    var o: VsOut;\n"
    "    o.pos = vec4<f32>(pos + k.offset.xy, 0.0, 1.0);\n"
    "    o.color = k.color;\n"
    "    return o;\n"
    "}\n";

static const char PIXEL_SHADER_WGSL[] =
    "@fragment\n"
    "fn ps_main(@location(0) color: vec4<f32>) -> @location(0) vec4<f32> {\n"
    "    return color;\n"
    "}\n";

/* The colours, as 8-bit values (the test computes the same). */
static void background_color(unsigned frame, unsigned char rgb[3])
{
    rgb[0] = (unsigned char)(frame * 16u % 256u);
    rgb[1] = 64;
    rgb[2] = 128;
}

static void quad_color(unsigned frame, unsigned char rgb[3])
{
    rgb[0] = 255;
    rgb[1] = (unsigned char)(frame * 32u % 256u);
    rgb[2] = 32;
}

/* ---- the ivshmem client side of QEMU's server protocol ---- */

typedef struct Ivshmem {
    int sock;
    long long own_id;
    int memory_fd;
    int doorbell_fd;  /* the host peer's vector 0 eventfd: writing it rings the host */
    int interrupt_fd; /* our own vector 0 eventfd: the host writes it */
    void *region;
    size_t region_size;
} Ivshmem;

/* One 8-byte little-endian message and the fd that may come with it (-1 if none). A message
 * with more than one fd, or a cut message or control part, is refused (the fds are closed). */
static int receive(int sock, long long *value, int *fd)
{
    unsigned char data[8];
    union {
        struct cmsghdr align;
        char buffer[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    struct pollfd pfd;
    ssize_t n;
    unsigned long long v = 0;
    int i, rc, extra = 0;

    *fd = -1;
    pfd.fd = sock;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do
        rc = poll(&pfd, 1, 10000);
    while (rc < 0 && errno == EINTR);
    if (rc != 1) {
        fprintf(stderr, "c_guest: the ivshmem server sent nothing for 10 s\n");
        return -1;
    }
    memset(&msg, 0, sizeof msg);
    iov.iov_base = data;
    iov.iov_len = sizeof data;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buffer;
    msg.msg_controllen = sizeof control.buffer;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            size_t k, count;
            if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                continue;
            count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (k = 0; k < count; k++) {
                int got;
                memcpy(&got, CMSG_DATA(cmsg) + k * sizeof(int), sizeof got);
                if (*fd < 0) {
                    *fd = got;
                } else {
                    close(got);
                    extra = 1;
                }
            }
        }
    }
    if (n != (ssize_t)sizeof data || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || extra) {
        fprintf(stderr, "c_guest: the ivshmem server closed the connection or sent a malformed message (%d bytes%s)\n",
                (int)n, (msg.msg_flags & MSG_CTRUNC) != 0 || extra ? ", too many fds" : "");
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -1;
    }
    for (i = 7; i >= 0; i--)
        v = (v << 8) | data[i];
    *value = (long long)v;
    return 0;
}

/* Connect and take what the server hands every client: version 0, our peer id, the memory fd
 * (with -1), then per peer one eventfd per vector (with the peer's id), our own vectors last
 * (with our id). The first fd of an id is its vector 0. */
static int ivshmem_connect(Ivshmem *iv, const char *path)
{
    struct sockaddr_un addr;
    struct stat st;
    long long value;
    int fd, rc, step = 0;

    iv->memory_fd = iv->doorbell_fd = iv->interrupt_fd = -1;
    iv->region = NULL;
    iv->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (iv->sock < 0 || strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "c_guest: cannot make a socket for %s\n", path);
        return -1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    rc = connect(iv->sock, (struct sockaddr *)&addr, sizeof addr);
    if (rc != 0 && errno == EINTR) { /* the connection goes on: wait until it is writable */
        struct pollfd pfd;
        int err = 0;
        socklen_t len = sizeof err;
        pfd.fd = iv->sock;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        do
            rc = poll(&pfd, 1, 10000);
        while (rc < 0 && errno == EINTR);
        if (rc == 1 && getsockopt(iv->sock, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
            rc = 0;
        } else {
            errno = err != 0 ? err : ETIMEDOUT;
            rc = -1;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "c_guest: no ivshmem server on %s (%s); start `pvgpu serve --ivshmem %s`\n", path,
                strerror(errno), path);
        return -1;
    }
    while (iv->memory_fd < 0 || iv->doorbell_fd < 0 || iv->interrupt_fd < 0) {
        if (receive(iv->sock, &value, &fd) != 0)
            return -1;
        if (step == 0) {
            if (value != 0 || fd >= 0) {
                fprintf(stderr, "c_guest: ivshmem protocol version %lld, only 0 is known\n", value);
                if (fd >= 0)
                    close(fd);
                return -1;
            }
        } else if (step == 1) {
            if (fd >= 0)
                close(fd);
            if (value < 1 || value > 65535) {
                fprintf(stderr, "c_guest: the ivshmem server gave peer id %lld (not in 1..65535)\n", value);
                return -1;
            }
            iv->own_id = value;
        } else if (value == -1 && fd >= 0) {
            if (iv->memory_fd >= 0) {
                close(fd);
                fprintf(stderr, "c_guest: the ivshmem server sent a second memory fd\n");
                return -1;
            }
            iv->memory_fd = fd;
        } else if (value == iv->own_id && fd >= 0) {
            if (iv->interrupt_fd < 0)
                iv->interrupt_fd = fd;
            else
                close(fd); /* vectors beyond 0: not used */
        } else if (value == HOST_PEER_ID && fd >= 0) {
            if (iv->doorbell_fd < 0)
                iv->doorbell_fd = fd;
            else
                close(fd);
        } else if (fd >= 0) {
            close(fd); /* another peer: not ours to ring */
        }
        step++;
    }
    if (fstat(iv->memory_fd, &st) != 0 || st.st_size <= 0) {
        fprintf(stderr, "c_guest: cannot size the shared memory\n");
        return -1;
    }
    iv->region_size = (size_t)st.st_size;
    iv->region = mmap(NULL, iv->region_size, PROT_READ | PROT_WRITE, MAP_SHARED, iv->memory_fd, 0);
    if (iv->region == MAP_FAILED) {
        iv->region = NULL;
        fprintf(stderr, "c_guest: cannot map the shared memory: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void ivshmem_close(Ivshmem *iv)
{
    if (iv->region != NULL)
        munmap(iv->region, iv->region_size);
    if (iv->memory_fd >= 0)
        close(iv->memory_fd);
    if (iv->doorbell_fd >= 0)
        close(iv->doorbell_fd);
    if (iv->interrupt_fd >= 0)
        close(iv->interrupt_fd);
    if (iv->sock >= 0)
        close(iv->sock);
}

/* PvgpuTransport's callbacks: QEMU turns a doorbell register write into a write of the peer's
 * eventfd, and an interrupt of ours into our vector's eventfd becoming readable. */
static void doorbell(void *user)
{
    const Ivshmem *iv = (const Ivshmem *)user;
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(iv->doorbell_fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN) /* EAGAIN: the counter is already non-zero, the host will look */
        perror("c_guest: doorbell");
}

static void wait_interrupt(void *user, uint64_t max_ns)
{
    const Ivshmem *iv = (const Ivshmem *)user;
    struct pollfd pfd;
    uint64_t count;
    uint64_t ms = (max_ns + 999999u) / 1000000u;
    int rc;
    pfd.fd = iv->interrupt_fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, ms > 60000u ? 60000 : (int)ms); /* an early return (EINTR) is fine: the caller waits again */
    if (rc == 1 && read(iv->interrupt_fd, &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR)
        perror("c_guest: interrupt");
}

static uint64_t monotonic_ns(void *user)
{
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- drawing ---- */

static int fail(const PvgpuGuest *guest, const char *what)
{
    fprintf(stderr, "c_guest: %s: %s\n", what, guest->message);
    return 2;
}

static int create_objects(PvgpuGuest *g)
{
    /* two clockwise triangles covering x in [-0.5, 0.5], y in [-0.5, 0.5] */
    static const float quad[12] = {-0.5f, 0.5f, 0.5f, 0.5f, 0.5f, -0.5f, -0.5f, 0.5f, 0.5f, -0.5f, -0.5f, -0.5f};
    static const char names[] = "POSITION";
    PvgpuInputElement element;
    uint64_t vb, vs, ps, names_at;

    if (pvgpu_heap_upload(g, quad, sizeof quad, &vb) != PVGPU_OK
        || pvgpu_heap_upload(g, VERTEX_SHADER_WGSL, sizeof VERTEX_SHADER_WGSL - 1, &vs) != PVGPU_OK
        || pvgpu_heap_upload(g, PIXEL_SHADER_WGSL, sizeof PIXEL_SHADER_WGSL - 1, &ps) != PVGPU_OK
        || pvgpu_heap_upload(g, names, sizeof names, &names_at) != PVGPU_OK)
        return fail(g, "uploading");
    element.semantic_index = 0;
    element.format = PVGPU_DXGI_FORMAT_R32G32_FLOAT;
    element.input_slot = 0;
    element.aligned_byte_offset = 0;
    element.input_slot_class = PVGPU_INPUT_CLASSIFICATION_PER_VERTEX_DATA;
    element.instance_data_step_rate = 0;
    if (!pvgpu_emit_create_swap_chain(g, SWAP_CHAIN, BACK_BUFFER, WIDTH, HEIGHT, PVGPU_DXGI_FORMAT_R8G8B8A8_UNORM, 2)
        || !pvgpu_emit_create_render_target_view(g, RENDER_TARGET_VIEW, BACK_BUFFER, 0, 0, 0)
        || !pvgpu_emit_create_buffer(g, VERTEX_BUFFER, sizeof quad, PVGPU_USAGE_IMMUTABLE,
                                     PVGPU_BIND_FLAG_VERTEX_BUFFER, 0, 0, 0, vb, sizeof quad)
        || !pvgpu_emit_create_buffer(g, CONSTANT_BUFFER, 32, PVGPU_USAGE_DEFAULT, PVGPU_BIND_FLAG_CONSTANT_BUFFER,
                                     0, 0, 0, 0, 0)
        || !pvgpu_emit_create_vertex_shader(g, VERTEX_SHADER, PVGPU_SHADER_LANGUAGE_WGSL, vs,
                                            sizeof VERTEX_SHADER_WGSL - 1)
        || !pvgpu_emit_create_pixel_shader(g, PIXEL_SHADER, PVGPU_SHADER_LANGUAGE_WGSL, ps,
                                           sizeof PIXEL_SHADER_WGSL - 1)
        || !pvgpu_emit_create_input_layout(g, INPUT_LAYOUT, names_at, sizeof names, 0, 0, 1, &element)
        || !pvgpu_emit_create_rasterizer_state(g, RASTERIZER_STATE, PVGPU_FILL_MODE_SOLID, PVGPU_CULL_MODE_NONE,
                                               0, 0, 0.0f, 0.0f, 1, 0, 0, 0))
        return fail(g, "creating objects");
    return 0;
}

static int draw_frame(PvgpuGuest *g, unsigned frame)
{
    unsigned char bg[3], fg[3];
    float constants[8];
    uint64_t at;
    PvgpuRenderTargetSlot target;
    PvgpuViewport viewport;
    PvgpuVertexBufferBinding binding;
    PvgpuConstantBufferSlot cb;
    int i;

    background_color(frame, bg);
    quad_color(frame, fg);
    for (i = 0; i < 3; i++)
        constants[i] = (float)fg[i] / 255.0f;
    constants[3] = 1.0f;
    constants[4] = (float)(8u * frame) / (float)WIDTH; /* 4 pixels a frame, in clip space */
    constants[5] = constants[6] = constants[7] = 0.0f;
    if (pvgpu_heap_upload(g, constants, sizeof constants, &at) != PVGPU_OK)
        return fail(g, "uploading constants");
    target.view = RENDER_TARGET_VIEW;
    viewport.top_left_x = 0.0f;
    viewport.top_left_y = 0.0f;
    viewport.width = (float)WIDTH;
    viewport.height = (float)HEIGHT;
    viewport.min_depth = 0.0f;
    viewport.max_depth = 1.0f;
    binding.buffer = VERTEX_BUFFER;
    binding.stride = 8;
    binding.offset = 0;
    cb.buffer = CONSTANT_BUFFER;
    if (!pvgpu_emit_update_subresource(g, CONSTANT_BUFFER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, at, sizeof constants)
        || !pvgpu_emit_set_render_targets(g, 0, 1, &target)
        || !pvgpu_emit_clear_render_target_view(g, RENDER_TARGET_VIEW, (float)bg[0] / 255.0f, (float)bg[1] / 255.0f,
                                                (float)bg[2] / 255.0f, 1.0f)
        || !pvgpu_emit_set_viewports(g, 1, &viewport)
        || !pvgpu_emit_set_rasterizer_state(g, RASTERIZER_STATE)
        || !pvgpu_emit_set_input_layout(g, INPUT_LAYOUT)
        || !pvgpu_emit_set_vertex_buffers(g, 0, 1, &binding)
        || !pvgpu_emit_set_primitive_topology(g, PVGPU_PRIMITIVE_TOPOLOGY_TRIANGLELIST)
        || !pvgpu_emit_set_vertex_shader(g, VERTEX_SHADER)
        || !pvgpu_emit_set_constant_buffers(g, PVGPU_SHADER_STAGE_VERTEX, 0, 1, &cb)
        || !pvgpu_emit_set_pixel_shader(g, PIXEL_SHADER)
        || !pvgpu_emit_draw(g, 6, 0)
        || !pvgpu_emit_present(g, SWAP_CHAIN, 0, 0))
        return fail(g, "recording a frame");
    return 0;
}

/* Print every error the host logged since the last call; returns how many. */
static unsigned report_host_errors(PvgpuGuest *g)
{
    PvgpuHostError errors[PVGPU_ERROR_LOG_ENTRIES];
    uint64_t lost = 0;
    size_t n = pvgpu_guest_read_errors(g, errors, PVGPU_ERROR_LOG_ENTRIES, &lost), i;
    for (i = 0; i < n; i++)
        printf("host error index=%llu code=%u (%s) opcode=%u sequence=%llu: %s\n",
               (unsigned long long)errors[i].index, (unsigned)errors[i].code, pvgpu_error_code_name(errors[i].code),
               (unsigned)errors[i].opcode, (unsigned long long)errors[i].sequence, errors[i].detail);
    if (lost)
        printf("host errors lost=%llu (overwritten before they were read)\n", (unsigned long long)lost);
    return (unsigned)(n + lost);
}

static int run(PvgpuGuest *g, unsigned frames, int provoke_error)
{
    uint64_t fences[FRAMES_IN_FLIGHT] = {0, 0};
    unsigned frame, errors;
    int rc = create_objects(g);
    if (rc != 0)
        return rc;
    for (frame = 0; frame < frames; frame++) {
        uint64_t *slot = &fences[frame % FRAMES_IN_FLIGHT];
        if (*slot != 0 && pvgpu_guest_wait_fence(g, *slot) != PVGPU_OK) /* at most 2 frames in flight */
            return fail(g, "waiting for a frame");
        rc = draw_frame(g, frame);
        if (rc != 0)
            return rc;
        *slot = pvgpu_guest_fence(g);
        if (*slot == 0)
            return fail(g, "fencing a frame");
    }
    if (provoke_error) {
        uint64_t sequence = pvgpu_emit_set_vertex_shader(g, NO_OBJECT);
        if (sequence == 0)
            return fail(g, "recording the bad command");
        printf("provoked sequence=%llu\n", (unsigned long long)sequence);
    }
    if (pvgpu_guest_finish(g) != PVGPU_OK)
        return fail(g, "finishing");
    errors = report_host_errors(g);
    printf("frames=%u errors=%u status=%u\n", frames, errors, (unsigned)pvgpu_guest_device_status(g));
    return errors != 0 || pvgpu_guest_device_lost(g) ? 1 : 0;
}

int main(int argc, char **argv)
{
    Ivshmem iv;
    PvgpuGuest guest;
    PvgpuTransport transport;
    unsigned frames = 3;
    int provoke_error = 0, i, rc;
    const uint64_t wanted = PVGPU_FEATURE_WGSL_SHADERS | PVGPU_FEATURE_TEXTURE2D | PVGPU_FEATURE_HEADLESS_PRESENT;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCKET [FRAMES] [--provoke-error]\n", argv[0]);
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--provoke-error") == 0)
            provoke_error = 1;
        else
            frames = (unsigned)strtoul(argv[i], NULL, 10);
    }
    if (ivshmem_connect(&iv, argv[1]) != 0) {
        ivshmem_close(&iv);
        return 2;
    }
    transport.doorbell = doorbell;
    transport.wait = wait_interrupt;
    transport.now_ns = monotonic_ns;
    transport.user = &iv;
    if (pvgpu_guest_attach(&guest, iv.region, iv.region_size, &transport) != PVGPU_OK
        || pvgpu_guest_handshake(&guest, wanted, (uint32_t)getpid()) != PVGPU_OK) {
        rc = fail(&guest, "connecting");
    } else if ((guest.accepted_features & wanted) != wanted) {
        fprintf(stderr, "c_guest: the host does not offer WGSL shaders, 2D textures and headless present "
                        "(accepted features %#llx)\n", (unsigned long long)guest.accepted_features);
        rc = 2;
    } else {
        printf("connected: session=%u ivshmem peer %lld, %zu-byte region, ring %llu bytes, heap %llu bytes\n",
               (unsigned)pvgpu_guest_session_id(&guest), iv.own_id, iv.region_size,
               (unsigned long long)guest.ring_size, (unsigned long long)guest.heap_size);
        rc = run(&guest, frames, provoke_error);
    }
    ivshmem_close(&iv);
    return rc;
}
