/* Writes a stream of protocol records, built only from pvgpu_protocol.h, to argv[1].
 * tests/test_c_header.py decodes it with the Python codec and compares every field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvgpu_protocol.h"

static unsigned char stream[4096];
static size_t used;
static uint64_t next_sequence = 1;

/* Appends one record: header, payload, then `count` elements of `element_size` bytes. */
static void emit(uint16_t opcode, const void *payload, uint32_t payload_size,
                 const void *elements, uint32_t element_size, uint32_t count)
{
    uint32_t body = payload_size + element_size * count;
    PvgpuRecordHeader header;
    header.opcode = opcode;
    header.flags = 0;
    header.size = pvgpu_record_size(body);
    header.sequence = next_sequence++;
    if (used + header.size > sizeof stream) {
        fprintf(stderr, "stream buffer too small\n");
        exit(2);
    }
    memset(stream + used, 0, header.size);
    memcpy(stream + used, &header, sizeof header);
    if (payload_size)
        memcpy(stream + used + sizeof header, payload, payload_size);
    if (count)
        memcpy(stream + used + sizeof header + payload_size, elements, (size_t)element_size * count);
    used += header.size;
}

/* A PAD record of `size` bytes, as the ring writes one (sequence 0); the bytes after its
 * header are garbage that the decoder must skip. */
static void emit_pad(uint32_t size)
{
    PvgpuRecordHeader header;
    header.opcode = PVGPU_OP_PAD;
    header.flags = 0;
    header.size = size;
    header.sequence = 0;
    memset(stream + used, 0xAB, size);
    memcpy(stream + used, &header, sizeof header);
    used += size;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_FILE\n", argv[0]);
        return 2;
    }

    PvgpuCmdCreateBuffer buffer;
    memset(&buffer, 0, sizeof buffer);
    buffer.buffer = 7;
    buffer.byte_width = 256;
    buffer.usage = PVGPU_USAGE_IMMUTABLE;
    buffer.bind_flags = PVGPU_BIND_FLAG_VERTEX_BUFFER | PVGPU_BIND_FLAG_SHADER_RESOURCE;
    buffer.cpu_access_flags = 0;
    buffer.misc_flags = 0;
    buffer.structure_byte_stride = 16;
    buffer.initial_data_offset = 0x100000123ULL;
    buffer.initial_data_size = 256;
    emit(PVGPU_OP_CREATE_BUFFER, &buffer, sizeof buffer, NULL, 0, 0);

    PvgpuInputElement elements[2];
    memset(elements, 0, sizeof elements);
    elements[0].semantic_index = 0;
    elements[0].format = PVGPU_DXGI_FORMAT_R32G32B32_FLOAT;
    elements[0].input_slot = 0;
    elements[0].aligned_byte_offset = 0;
    elements[0].input_slot_class = PVGPU_INPUT_CLASSIFICATION_PER_VERTEX_DATA;
    elements[0].instance_data_step_rate = 0;
    elements[1].semantic_index = 1;
    elements[1].format = PVGPU_DXGI_FORMAT_R8G8B8A8_UNORM;
    elements[1].input_slot = 1;
    elements[1].aligned_byte_offset = PVGPU_APPEND_ALIGNED_ELEMENT;
    elements[1].input_slot_class = PVGPU_INPUT_CLASSIFICATION_PER_INSTANCE_DATA;
    elements[1].instance_data_step_rate = 1;
    PvgpuCmdCreateInputLayout layout;
    memset(&layout, 0, sizeof layout);
    layout.layout = 9;
    layout.element_count = 2;
    emit(PVGPU_OP_CREATE_INPUT_LAYOUT, &layout, sizeof layout, elements,
         PVGPU_CREATE_INPUT_LAYOUT_ELEMENT_SIZE, 2);

    emit_pad(48);

    PvgpuViewport viewport;
    viewport.top_left_x = 0.0f;
    viewport.top_left_y = 0.5f;
    viewport.width = 1920.0f;
    viewport.height = 1080.0f;
    viewport.min_depth = 0.0f;
    viewport.max_depth = 1.0f;
    PvgpuCmdSetViewports viewports;
    viewports.viewport_count = 1;
    emit(PVGPU_OP_SET_VIEWPORTS, &viewports, sizeof viewports, &viewport,
         PVGPU_SET_VIEWPORTS_ELEMENT_SIZE, 1);

    PvgpuCmdDrawIndexed draw;
    draw.index_count = 36;
    draw.start_index_location = 6;
    draw.base_vertex_location = -5;
    emit(PVGPU_OP_DRAW_INDEXED, &draw, sizeof draw, NULL, 0, 0);

    PvgpuCmdClearRenderTargetView clear;
    clear.view = 3;
    clear.color_r = 0.25f;
    clear.color_g = 0.5f;
    clear.color_b = -0.75f;
    clear.color_a = 1.0f;
    emit(PVGPU_OP_CLEAR_RENDER_TARGET_VIEW, &clear, sizeof clear, NULL, 0, 0);

    emit(PVGPU_OP_FLUSH, NULL, 0, NULL, 0, 0);

    PvgpuCmdFence fence;
    fence.value = 0x123456789ABCULL;
    emit(PVGPU_OP_FENCE, &fence, sizeof fence, NULL, 0, 0);

    FILE *out = fopen(argv[1], "wb");
    if (out == NULL || fwrite(stream, 1, used, out) != used || fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    printf("wrote %zu bytes\n", used);
    return 0;
}
