"""The host service: sessions, validation, object tables, and the wgpu renderer."""
