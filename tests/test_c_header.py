"""The generated C header: committed copy is current, it compiles, and C and Python agree
on the bytes in both directions (C encodes / Python decodes, Python encodes / C checks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pvgpu.protocol import codec
from pvgpu.protocol.cheader import generate_c_header
from pvgpu.protocol.codec import Commands
from pvgpu.protocol.enums import (
    Blend, BlendOp, BindFlag, ColorWriteFlag, ComparisonFunc, DxgiFormat, Filter,
    InputClassification, TextureAddressMode, Usage,
)
from pvgpu.protocol.spec import APPEND_ALIGNED_ELEMENT

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "include" / "pvgpu_protocol.h"
C_DIR = Path(__file__).resolve().parent / "c"
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]
FLT_MAX = 3.4028234663852886e38

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


@pytest.fixture
def include_dir(tmp_path: Path) -> Path:
    """A directory holding the freshly generated header (so these tests check the generator)."""
    d = tmp_path / "include"
    d.mkdir()
    (d / "pvgpu_protocol.h").write_text(generate_c_header())
    return d


def gcc(*args: str | Path) -> None:
    result = subprocess.run(["gcc", *CFLAGS, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, f"gcc {' '.join(map(str, args))} failed:\n{result.stderr}"


def build(source: Path, include_dir: Path, out: Path) -> Path:
    gcc(f"-I{include_dir}", source, "-o", out)
    return out


def test_committed_header_is_current() -> None:
    assert COMMITTED.read_text() == generate_c_header(), (
        "include/pvgpu_protocol.h is out of date with the spec; "
        "run `pvgpu header > include/pvgpu_protocol.h`")


@needs_gcc
def test_header_compiles(include_dir: Path, tmp_path: Path) -> None:
    gcc("-c", "-x", "c", include_dir / "pvgpu_protocol.h", "-o", tmp_path / "header.o")
    # -Wpadded: the compiler adds no padding of its own; every gap is an explicit _padN member.
    gcc("-Wpadded", "-c", "-x", "c", include_dir / "pvgpu_protocol.h", "-o", tmp_path / "header.o")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_header_compiles_as_cpp(include_dir: Path, tmp_path: Path) -> None:
    """A C++17 driver (the seed's user-mode driver is C++) includes the header as it is."""
    source = tmp_path / "use.cpp"
    source.write_text('#include "pvgpu_protocol.h"\n'
                      'int main() { PvgpuCmdDraw d{}; d.vertex_count = 3;\n'
                      '  return static_cast<int>(pvgpu_record_size(sizeof d)) == 32 ? 0 : 1; }\n')
    result = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wpadded",
                             f"-I{include_dir}", str(source), "-o", str(tmp_path / "use")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert subprocess.run([tmp_path / "use"]).returncode == 0


@needs_gcc
def test_c_encoded_stream_decodes_in_python(include_dir: Path, tmp_path: Path) -> None:
    exe = build(C_DIR / "encode_stream.c", include_dir, tmp_path / "encode_stream")
    stream_path = tmp_path / "stream.bin"
    subprocess.run([exe, stream_path], check=True, capture_output=True)
    data = stream_path.read_bytes()

    expected = [
        (1, Commands.CreateBuffer(
            buffer=7, byte_width=256, usage=Usage.IMMUTABLE,
            bind_flags=BindFlag.VERTEX_BUFFER | BindFlag.SHADER_RESOURCE, cpu_access_flags=0,
            misc_flags=0, structure_byte_stride=16, initial_data_offset=0x1_0000_0123,
            initial_data_size=256)),
        (2, Commands.CreateInputLayout(layout=9, element_count=2, semantic_names_offset=0, semantic_names_size=0,
                                       shader_bytecode_offset=0, shader_bytecode_size=0, elements=[
            Commands.InputElement(semantic_index=0, format=DxgiFormat.R32G32B32_FLOAT, input_slot=0,
                                  aligned_byte_offset=0,
                                  input_slot_class=InputClassification.PER_VERTEX_DATA,
                                  instance_data_step_rate=0),
            Commands.InputElement(semantic_index=1, format=DxgiFormat.R8G8B8A8_UNORM, input_slot=1,
                                  aligned_byte_offset=APPEND_ALIGNED_ELEMENT,
                                  input_slot_class=InputClassification.PER_INSTANCE_DATA,
                                  instance_data_step_rate=1),
        ])),
        (3, Commands.SetViewports(viewport_count=1, viewports=[
            Commands.Viewport(top_left_x=0.0, top_left_y=0.5, width=1920.0, height=1080.0,
                              min_depth=0.0, max_depth=1.0)])),
        (4, Commands.DrawIndexed(index_count=36, start_index_location=6, base_vertex_location=-5)),
        (5, Commands.ClearRenderTargetView(view=3, color_r=0.25, color_g=0.5, color_b=-0.75, color_a=1.0)),
        (6, Commands.Flush()),
        (7, Commands.Fence(value=0x1234_5678_9ABC)),
    ]
    decoded = list(codec.iter_stream(data))
    assert [seq for seq, _ in decoded] == [seq for seq, _ in expected]
    for (seq, got), (_, want) in zip(decoded, expected):
        assert type(got) is type(want), f"record {seq}"
        assert got == want, f"record {seq}: {got} != {want}"

    # Framing as the C side wrote it: exact sizes, and the 48-byte PAD after record 2.
    offset, headers = 0, []
    while offset < len(data):
        opcode, flags, size, seq = codec.read_header(data, offset)
        headers.append((opcode, size))
        offset += size
    assert headers == [(1, 64), (13, 112), (0, 48), (17, 48), (32, 32), (35, 48), (40, 16), (39, 32)]


def python_stream() -> bytes:
    """The records tests/c/check_stream.c expects, with the values compiled into it."""
    cmds = [
        Commands.CreateTexture2d(
            texture=11, width=640, height=480, mip_levels=3, array_size=1,
            format=DxgiFormat.B8G8R8A8_UNORM, sample_count=1, sample_quality=0, usage=Usage.DEFAULT,
            bind_flags=BindFlag.SHADER_RESOURCE | BindFlag.RENDER_TARGET, cpu_access_flags=0,
            misc_flags=0, initial_data_offset=0x2_0000_0040, initial_data_size=1_638_400),
        Commands.CreateBlendState(state=12, alpha_to_coverage_enable=0, independent_blend_enable=1,
                                  render_target_count=0, render_targets=[
            Commands.RenderTargetBlend(blend_enable=1, src_blend=Blend.SRC_ALPHA, dest_blend=Blend.INV_SRC_ALPHA,
                                       blend_op=BlendOp.ADD, src_blend_alpha=Blend.ONE,
                                       dest_blend_alpha=Blend.ZERO, blend_op_alpha=BlendOp.ADD,
                                       write_mask=0xF),
            Commands.RenderTargetBlend(blend_enable=0, src_blend=Blend.ONE, dest_blend=Blend.ZERO,
                                       blend_op=BlendOp.MAX, src_blend_alpha=Blend.BLEND_FACTOR,
                                       dest_blend_alpha=Blend.INV_BLEND_FACTOR,
                                       blend_op_alpha=BlendOp.REV_SUBTRACT,
                                       write_mask=ColorWriteFlag.RED | ColorWriteFlag.ALPHA),
        ]),
        Commands.SetVertexBuffers(start_slot=1, buffer_count=0, buffers=[
            Commands.VertexBufferBinding(buffer=7, stride=28, offset=0),
            Commands.VertexBufferBinding(buffer=0, stride=12, offset=4096),
        ]),
        Commands.SetScissorRects(rect_count=0, rects=[Commands.Rect(left=-10, top=-20, right=300, bottom=200)]),
        Commands.CreateSamplerState(
            sampler=13, filter=Filter.ANISOTROPIC, address_u=TextureAddressMode.WRAP,
            address_v=TextureAddressMode.CLAMP, address_w=TextureAddressMode.BORDER, mip_lod_bias=-0.5,
            max_anisotropy=16, comparison_func=ComparisonFunc.NEVER, border_color_r=0.0,
            border_color_g=0.25, border_color_b=0.5, border_color_a=1.0, min_lod=0.0, max_lod=FLT_MAX),
        Commands.DrawIndexedInstanced(index_count_per_instance=6, instance_count=100, start_index_location=0,
                                      base_vertex_location=-2**31, start_instance_location=5),
        Commands.Flush(),
        None,  # a PAD record
        Commands.Fence(value=2**64 - 2),
        Commands.MapWriteDiscard(resource=7, subresource=0, src_row_pitch=1024, src_offset=2**32,
                                 src_size=4096),
        Commands.CreateSwapChain(swap_chain=20, buffer=21, width=1920, height=1080,
                                 format=DxgiFormat.R8G8B8A8_UNORM_SRGB, buffer_count=2),
    ]
    out, seq = bytearray(), 100
    for cmd in cmds:
        if cmd is None:
            out += codec.HEADER.pack(codec.PAD_OPCODE, 0, 32, 0) + bytes(16)
        else:
            out += codec.encode(cmd, seq)
            seq += 1
    return bytes(out)


@pytest.fixture
def check_stream(include_dir: Path, tmp_path: Path) -> Path:
    return build(C_DIR / "check_stream.c", include_dir, tmp_path / "check_stream")


@needs_gcc
def test_python_encoded_stream_checks_in_c(check_stream: Path, tmp_path: Path) -> None:
    path = tmp_path / "stream.bin"
    path.write_bytes(python_stream())
    result = subprocess.run([check_stream, path], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok 10\n", "")


@needs_gcc
def test_c_checker_reports_a_mismatch(check_stream: Path, tmp_path: Path) -> None:
    """The checker is not vacuous: one changed field is reported and fails the run."""
    data = bytearray(python_stream())
    fence = codec.encode(Commands.Fence(value=2**64 - 2), 107)
    at = data.index(fence)
    data[at:at + len(fence)] = codec.encode(Commands.Fence(value=2**64 - 3), 107)
    path = tmp_path / "stream.bin"
    path.write_bytes(bytes(data))
    result = subprocess.run([check_stream, path], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout.startswith("mismatch in record 8: c.value is 18446744073709551613"), result.stdout
