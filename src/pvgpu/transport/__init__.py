"""Shared region, command ring, heap and doorbells (see DESIGN.md, "Shared memory")."""
