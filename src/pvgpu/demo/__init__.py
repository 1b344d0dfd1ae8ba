"""The demo scene (a rotating, textured, depth-tested cube), drawn through pvgpu or by direct
wgpu calls from the same data."""
