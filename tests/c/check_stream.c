/* Reads a stream of records that the Python codec encoded (tests/test_c_header.py writes it)
 * and checks every field against the values compiled in below, using only
 * pvgpu_protocol.h. Prints "ok N" (N: records checked, PAD not counted) and exits 0, or
 * prints the first mismatch and exits 1. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvgpu_protocol.h"

static unsigned char data[65536];
static size_t length;
static size_t position;
static int records;
static int pads;

static void fail_u(const char *what, unsigned long long actual, unsigned long long expected)
{
    printf("mismatch in record %d: %s is %llu (0x%llx), expected %llu (0x%llx)\n", records + 1, what,
           actual, actual, expected, expected);
    exit(1);
}

static void fail_i(const char *what, long long actual, long long expected)
{
    printf("mismatch in record %d: %s is %lld, expected %lld\n", records + 1, what, actual, expected);
    exit(1);
}

static void fail_f(const char *what, double actual, double expected)
{
    printf("mismatch in record %d: %s is %.9g, expected %.9g\n", records + 1, what, actual, expected);
    exit(1);
}

#define EXPECT_U(actual, expected) \
    do { if ((actual) != (expected)) fail_u(#actual, (unsigned long long)(actual), (unsigned long long)(expected)); } while (0)
#define EXPECT_I(actual, expected) \
    do { if ((actual) != (expected)) fail_i(#actual, (long long)(actual), (long long)(expected)); } while (0)
#define EXPECT_F(actual, expected) \
    do { if ((actual) != (expected)) fail_f(#actual, (double)(actual), (double)(expected)); } while (0)

/* Checks the next record's header (skipping PAD records) and that its padding is zero;
 * returns its payload, which is payload_size + count * element_size bytes long. */
static const unsigned char *next_record(uint16_t opcode, uint64_t sequence, uint32_t payload_size,
                                        uint32_t count, uint32_t element_size)
{
    PvgpuRecordHeader header;
    for (;;) {
        EXPECT_U(length - position >= sizeof header, 1);
        memcpy(&header, data + position, sizeof header);
        EXPECT_U(header.size % PVGPU_RECORD_ALIGN, 0);
        EXPECT_U(header.size >= PVGPU_RECORD_HEADER_SIZE, 1);
        EXPECT_U(header.size <= length - position, 1);
        if (header.opcode != PVGPU_OP_PAD)
            break;
        pads++;
        position += header.size;
    }
    EXPECT_U(header.opcode, opcode);
    EXPECT_U(header.flags, 0);
    EXPECT_U(header.sequence, sequence);
    uint32_t body = payload_size + count * element_size;
    EXPECT_U(header.size, pvgpu_record_size(body));
    for (uint32_t i = PVGPU_RECORD_HEADER_SIZE + body; i < header.size; i++)
        EXPECT_U(data[position + i], 0);
    const unsigned char *payload = data + position + PVGPU_RECORD_HEADER_SIZE;
    position += header.size;
    return payload;
}

static void check_texture(void)
{
    PvgpuCmdCreateTexture2d c;
    memcpy(&c, next_record(PVGPU_OP_CREATE_TEXTURE2D, 100, sizeof c, 0, 0), sizeof c);
    EXPECT_U(c.texture, 11);
    EXPECT_U(c.width, 640);
    EXPECT_U(c.height, 480);
    EXPECT_U(c.mip_levels, 3);
    EXPECT_U(c.array_size, 1);
    EXPECT_U(c.format, PVGPU_DXGI_FORMAT_B8G8R8A8_UNORM);
    EXPECT_U(c.sample_count, 1);
    EXPECT_U(c.sample_quality, 0);
    EXPECT_U(c.usage, PVGPU_USAGE_DEFAULT);
    EXPECT_U(c.bind_flags, PVGPU_BIND_FLAG_SHADER_RESOURCE | PVGPU_BIND_FLAG_RENDER_TARGET);
    EXPECT_U(c.cpu_access_flags, 0);
    EXPECT_U(c.misc_flags, 0);
    EXPECT_U(c.initial_data_offset, 0x200000040ULL);
    EXPECT_U(c.initial_data_size, 1638400);
    records++;
}

static void check_blend_state(void)
{
    PvgpuCmdCreateBlendState c;
    PvgpuRenderTargetBlend rt[2];
    const unsigned char *p = next_record(PVGPU_OP_CREATE_BLEND_STATE, 101, sizeof c, 2,
                                         PVGPU_CREATE_BLEND_STATE_ELEMENT_SIZE);
    memcpy(&c, p, sizeof c);
    memcpy(rt, p + sizeof c, sizeof rt);
    EXPECT_U(c.state, 12);
    EXPECT_U(c.alpha_to_coverage_enable, 0);
    EXPECT_U(c.independent_blend_enable, 1);
    EXPECT_U(c.render_target_count, 2);
    EXPECT_U(rt[0].blend_enable, 1);
    EXPECT_U(rt[0].src_blend, PVGPU_BLEND_SRC_ALPHA);
    EXPECT_U(rt[0].dest_blend, PVGPU_BLEND_INV_SRC_ALPHA);
    EXPECT_U(rt[0].blend_op, PVGPU_BLEND_OP_ADD);
    EXPECT_U(rt[0].src_blend_alpha, PVGPU_BLEND_ONE);
    EXPECT_U(rt[0].dest_blend_alpha, PVGPU_BLEND_ZERO);
    EXPECT_U(rt[0].blend_op_alpha, PVGPU_BLEND_OP_ADD);
    EXPECT_U(rt[0].write_mask, PVGPU_COLOR_WRITE_FLAG_RED | PVGPU_COLOR_WRITE_FLAG_GREEN |
                               PVGPU_COLOR_WRITE_FLAG_BLUE | PVGPU_COLOR_WRITE_FLAG_ALPHA);
    EXPECT_U(rt[1].blend_enable, 0);
    EXPECT_U(rt[1].src_blend, PVGPU_BLEND_ONE);
    EXPECT_U(rt[1].dest_blend, PVGPU_BLEND_ZERO);
    EXPECT_U(rt[1].blend_op, PVGPU_BLEND_OP_MAX);
    EXPECT_U(rt[1].src_blend_alpha, PVGPU_BLEND_BLEND_FACTOR);
    EXPECT_U(rt[1].dest_blend_alpha, PVGPU_BLEND_INV_BLEND_FACTOR);
    EXPECT_U(rt[1].blend_op_alpha, PVGPU_BLEND_OP_REV_SUBTRACT);
    EXPECT_U(rt[1].write_mask, PVGPU_COLOR_WRITE_FLAG_RED | PVGPU_COLOR_WRITE_FLAG_ALPHA);
    records++;
}

static void check_vertex_buffers(void)
{
    PvgpuCmdSetVertexBuffers c;
    PvgpuVertexBufferBinding b[2];
    const unsigned char *p = next_record(PVGPU_OP_SET_VERTEX_BUFFERS, 102, sizeof c, 2,
                                         PVGPU_SET_VERTEX_BUFFERS_ELEMENT_SIZE);
    memcpy(&c, p, sizeof c);
    memcpy(b, p + sizeof c, sizeof b);
    EXPECT_U(c.start_slot, 1);
    EXPECT_U(c.buffer_count, 2);
    EXPECT_U(b[0].buffer, 7);
    EXPECT_U(b[0].stride, 28);
    EXPECT_U(b[0].offset, 0);
    EXPECT_U(b[1].buffer, 0);
    EXPECT_U(b[1].stride, 12);
    EXPECT_U(b[1].offset, 4096);
    records++;
}

static void check_scissor_rects(void)
{
    PvgpuCmdSetScissorRects c;
    PvgpuRect r;
    const unsigned char *p = next_record(PVGPU_OP_SET_SCISSOR_RECTS, 103, sizeof c, 1,
                                         PVGPU_SET_SCISSOR_RECTS_ELEMENT_SIZE);
    memcpy(&c, p, sizeof c);
    memcpy(&r, p + sizeof c, sizeof r);
    EXPECT_U(c.rect_count, 1);
    EXPECT_I(r.left, -10);
    EXPECT_I(r.top, -20);
    EXPECT_I(r.right, 300);
    EXPECT_I(r.bottom, 200);
    records++;
}

static void check_sampler(void)
{
    PvgpuCmdCreateSamplerState c;
    memcpy(&c, next_record(PVGPU_OP_CREATE_SAMPLER_STATE, 104, sizeof c, 0, 0), sizeof c);
    EXPECT_U(c.sampler, 13);
    EXPECT_U(c.filter, PVGPU_FILTER_ANISOTROPIC);
    EXPECT_U(c.address_u, PVGPU_TEXTURE_ADDRESS_MODE_WRAP);
    EXPECT_U(c.address_v, PVGPU_TEXTURE_ADDRESS_MODE_CLAMP);
    EXPECT_U(c.address_w, PVGPU_TEXTURE_ADDRESS_MODE_BORDER);
    EXPECT_F(c.mip_lod_bias, -0.5f);
    EXPECT_U(c.max_anisotropy, 16);
    EXPECT_U(c.comparison_func, PVGPU_COMPARISON_FUNC_NEVER);
    EXPECT_F(c.border_color_r, 0.0f);
    EXPECT_F(c.border_color_g, 0.25f);
    EXPECT_F(c.border_color_b, 0.5f);
    EXPECT_F(c.border_color_a, 1.0f);
    EXPECT_F(c.min_lod, 0.0f);
    EXPECT_F(c.max_lod, FLT_MAX);
    records++;
}

static void check_draw(void)
{
    PvgpuCmdDrawIndexedInstanced c;
    memcpy(&c, next_record(PVGPU_OP_DRAW_INDEXED_INSTANCED, 105, sizeof c, 0, 0), sizeof c);
    EXPECT_U(c.index_count_per_instance, 6);
    EXPECT_U(c.instance_count, 100);
    EXPECT_U(c.start_index_location, 0);
    EXPECT_I(c.base_vertex_location, INT32_MIN);
    EXPECT_U(c.start_instance_location, 5);
    records++;
}

static void check_flush(void)
{
    next_record(PVGPU_OP_FLUSH, 106, 0, 0, 0);
    records++;
}

static void check_fence(void)
{
    PvgpuCmdFence c;
    memcpy(&c, next_record(PVGPU_OP_FENCE, 107, sizeof c, 0, 0), sizeof c);
    EXPECT_U(c.value, 0xFFFFFFFFFFFFFFFEULL);
    records++;
}

static void check_map_write_discard(void)
{
    PvgpuCmdMapWriteDiscard c;
    memcpy(&c, next_record(PVGPU_OP_MAP_WRITE_DISCARD, 108, sizeof c, 0, 0), sizeof c);
    EXPECT_U(c.resource, 7);
    EXPECT_U(c.subresource, 0);
    EXPECT_U(c.src_row_pitch, 1024);
    EXPECT_U(c._pad0, 0);
    EXPECT_U(c.src_offset, 0x100000000ULL);
    EXPECT_U(c.src_size, 4096);
    records++;
}

static void check_swap_chain(void)
{
    PvgpuCmdCreateSwapChain c;
    memcpy(&c, next_record(PVGPU_OP_CREATE_SWAP_CHAIN, 109, sizeof c, 0, 0), sizeof c);
    EXPECT_U(c.swap_chain, 20);
    EXPECT_U(c.buffer, 21);
    EXPECT_U(c.width, 1920);
    EXPECT_U(c.height, 1080);
    EXPECT_U(c.format, PVGPU_DXGI_FORMAT_R8G8B8A8_UNORM_SRGB);
    EXPECT_U(c.buffer_count, 2);
    records++;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s STREAM_FILE\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        perror(argv[1]);
        return 2;
    }
    length = fread(data, 1, sizeof data, in);
    fclose(in);

    check_texture();
    check_blend_state();
    check_vertex_buffers();
    check_scissor_rects();
    check_sampler();
    check_draw();
    check_flush();
    check_fence();
    check_map_write_discard();
    check_swap_chain();
    EXPECT_U(pads, 1);
    EXPECT_U(position, length);
    printf("ok %d\n", records);
    return 0;
}
