"""pvgpu: a paravirtual GPU. Guests record Direct3D 11 style commands into shared memory;
the host executes them on wgpu."""

__version__ = "0.1.0"
