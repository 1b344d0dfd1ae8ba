"""The D3D11 conformance suite: each scene exercises one Direct3D 11 feature through pvgpu's
guest API and compares what comes back (a presented frame, a mapped texture or buffer, a
query result) with the same work done by direct wgpu calls on the `wgpu_device` fixture.
Both sides run on the same adapter (lavapipe here), so pixels must match within 1 per channel.

Layout
    scene.py      the registry: `@scene("feature")`, `SCENES`, `MIN_SCENES`
    pair.py       `Pair` (fixture `pair`): runs a list of `Draw`s on a `Target` through pvgpu
                  and through wgpu and compares; `Steps` for work between draws
    guest.py      guest-side helpers (swap chain target, presented frame, staging readback)
    direct.py     direct-wgpu helpers (targets, textures, pipelines, bind groups, readback,
                  mip generation, compute dispatch)
    wgsl.py       shaders both sides compile (binding convention in its docstring)
    test_<area>.py   the scenes; test_registry.py checks the registry

Adding a scene
    1. Put it in `test_<area>.py` (a new module is picked up by test_registry.py) and
       decorate it: `@scene("CopyStructureCount: ...")`. The text names the D3D11 feature; it
       must be unique across the suite. Every `test_*` function in a scene module must be a
       scene (test_registry.py checks that too).
    2. If the feature is pipeline state or a draw, describe it as `Draw`s and call
       `pair.check(draws, Target(...), baseline=...)`. State is given in both vocabularies
       side by side (`Blend`, `Raster`, `DepthStencil`, `Sampler`, `Texture`: the D3D11
       description for pvgpu, the wgpu dict for the reference), written by hand from the
       WebGPU spec, never taken from pvgpu's translation tables. `baseline` is the same
       work without the feature: the check asserts the feature changed the picture, so a
       pvgpu that ignored it could not pass. `reference` replaces the direct side's draws
       where wgpu-py cannot express the state itself (say why in a comment).
    3. Otherwise (copies, maps, compute, shared resources) write both halves with the
       helpers: `pair.device` / `pair.ctx` and guest.py on one side, `pair.wgpu` and
       direct.py on the other; `Steps` interleaves draws with other work on both sides;
       `pair.draw_guest` / `pair.draw_direct` record single draws. Compare with
       `assert_same` of pair.py (frames) or exact equality (bytes), and assert something that
       proves the scene is not trivial (`assert_varied`, `changed_pixels`, known bytes).
    4. Keep targets small (pair.W x pair.H, 48x32); reuse the WGSL in wgsl.py.

Scenes of one module share a host and a guest session (see conftest.py): a scene must set
all the state it draws with (the `Draw` runner does) and must not rely on what an earlier
scene left bound. A scene that fails because pvgpu is wrong stays as it is (no skip, no
xfail): the failure is the report.
"""
