"""Conformance scenes: D3D11 features through pvgpu compared with direct wgpu (see pair.py)."""
