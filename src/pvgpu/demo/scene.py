"""The cube scene's data, defined once for every way of drawing it: mesh, texture, shaders,
per-frame constants. Pure numpy; imports neither guest nor host."""

from __future__ import annotations

import math

import numpy as np

CLEAR_COLOR = (0.08, 0.09, 0.16, 1.0)
TEXTURE_SIZE = 64
VERTEX_STRIDE = 20  # float3 position, float2 uv
CONSTANTS_BYTES = 80  # mat4x4 (64) + tint vec4 (16)

#: Constant buffer slot 0 of the vertex stage -> @group(0) @binding(0); the pixel stage's
#: shader resource 0 -> @group(1) @binding(32), its sampler 0 -> @group(1) @binding(16).
VERTEX_SHADER = """
struct Constants { mvp: mat4x4<f32>, tint: vec4<f32> };
@group(0) @binding(0) var<uniform> k: Constants;
struct VsOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32>, @location(1) tint: vec4<f32> };
@vertex
fn vs_main(@location(0) pos: vec3<f32>, @location(1) uv: vec2<f32>) -> VsOut {
    var o: VsOut;
    o.pos = k.mvp * vec4<f32>(pos, 1.0);
    o.uv = uv;
    o.tint = k.tint;
    return o;
}
"""

PIXEL_SHADER = """
@group(1) @binding(16) var samp: sampler;
@group(1) @binding(32) var tex: texture_2d<f32>;
@fragment
fn ps_main(@location(0) uv: vec2<f32>, @location(1) tint: vec4<f32>) -> @location(0) vec4<f32> {
    return textureSample(tex, samp, uv) * tint;
}
"""


def cube_mesh() -> tuple[np.ndarray, np.ndarray]:
    """24 vertices (position, uv) as float32 rows of 5, and 36 uint16 indices, clockwise
    front faces seen from outside (D3D11's default winding)."""
    faces = [  # normal axis, sign
        (0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1),
    ]
    verts, idx = [], []
    for axis, sign in faces:
        u_axis, v_axis = [a for a in range(3) if a != axis]
        base = len(verts)
        for (u, v) in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            p = [0.0, 0.0, 0.0]
            p[axis] = float(sign)
            p[u_axis] = float(u)
            p[v_axis] = float(v)
            verts.append(p + [(u + 1) / 2, 1 - (v + 1) / 2])
        # Wind each face clockwise as the camera sees it from outside (the left-handed view flips
        # the winding computed here in right-handed math).
        n = np.zeros(3)
        n[axis] = sign
        a, b, c = (np.array(verts[base + i][:3]) for i in (0, 1, 2))
        ccw_from_outside = np.dot(np.cross(b - a, c - a), n) > 0
        quad = [0, 1, 2, 0, 2, 3] if ccw_from_outside else [0, 2, 1, 0, 3, 2]
        idx.extend(base + q for q in quad)
    return np.array(verts, dtype=np.float32), np.array(idx, dtype=np.uint16)


def texture_pixels(size: int = TEXTURE_SIZE) -> np.ndarray:
    """A checkerboard with a colour gradient, RGBA8, (size, size, 4)."""
    y, x = np.mgrid[0:size, 0:size]
    check = ((x // 8 + y // 8) % 2).astype(np.float32)
    img = np.empty((size, size, 4), dtype=np.uint8)
    img[..., 0] = (80 + 175 * check * x / size).astype(np.uint8)
    img[..., 1] = (80 + 175 * (1 - check) * y / size).astype(np.uint8)
    img[..., 2] = (200 * check + 40).astype(np.uint8)
    img[..., 3] = 255
    return img


def _perspective(fov_y: float, aspect: float, near: float, far: float) -> np.ndarray:
    """Left-handed perspective with depth in [0, 1] (D3D's convention, which wgpu shares)."""
    f = 1.0 / math.tan(fov_y / 2)
    m = np.zeros((4, 4), dtype=np.float64)
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = far / (far - near)
    m[2, 3] = -near * far / (far - near)
    m[3, 2] = 1.0
    return m


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    ry = np.array([[cy, 0, sy, 0], [0, 1, 0, 0], [-sy, 0, cy, 0], [0, 0, 0, 1]])
    rx = np.array([[1, 0, 0, 0], [0, cp, -sp, 0], [0, sp, cp, 0], [0, 0, 0, 1]])
    return ry @ rx


def frame_constants(frame: int, width: int, height: int) -> bytes:
    """The constant buffer for one frame: model-view-projection (column-major, as WGSL's
    mat4x4 expects) and a tint."""
    angle = frame * 0.05
    model = _rotation(angle, angle * 0.7)
    view = np.eye(4)
    view[2, 3] = 4.0  # camera 4 units back (left-handed: +z into the screen)
    mvp = _perspective(math.radians(60), width / height, 0.1, 100.0) @ view @ model
    tint = np.array([1.0, 0.9 + 0.1 * math.sin(angle), 1.0, 1.0])
    return mvp.T.astype(np.float32).tobytes() + tint.astype(np.float32).tobytes()
