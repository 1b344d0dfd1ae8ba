"""DXBC programs (decoded, `pvgpu.shaders.ir`) written as WGSL modules; sans-IO."""
