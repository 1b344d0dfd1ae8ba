"""The D3D11 state tracker on wgpu."""
