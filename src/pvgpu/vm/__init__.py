"""Running guests in QEMU: VM profiles, the launcher, and the host-root boot (virtme-ng style)."""
