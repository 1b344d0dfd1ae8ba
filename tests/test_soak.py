"""The soak test (issue 11), short: guests killed at random every second while every frame of
every session is checked; afterwards the host process holds nothing more than before.

benchmarks/soak.py runs it for minutes and prints the figures. Here: 4 guests at once for
30 s (and until 8 guests have been killed while drawing) after a warm-up. The baseline is taken after the warm-up (guests started, killed, every
session ended), so what the first sessions create once (the shader cache, wgpu's and numpy's
lazily loaded libraries, glibc's per-thread malloc arenas) is in both snapshots.

Bounds that are not zero, and why:
- regular files open: at most 2 more (a library opening a file lazily on a path the warm-up
  did not take); pvgpu itself opens no regular files per session, and its fds (memfds,
  eventfds, sockets, pipes) must not grow at all;
- mappings: at most 16 more, and 160 MiB more address space: glibc keeps freed thread stacks
  mapped for reuse (up to 40 MiB) and creates malloc arenas (64 MiB of address space each,
  up to 8 per core) when a new thread first allocates under contention, never unmapping
  them; no mapping of pvgpu's shared memory may remain;
- RSS: at most 32 MiB more. Python's allocator keeps freed arenas' pages, so RSS after a
  churn is not the baseline's exactly; a leak of a session's region (16 MiB here, touched
  pages only), frame slots or renderer state per session would exceed it within the ~30
  sessions this run makes.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import soak  # noqa: E402

KINDS = ("socket:", "pipe:", "anon_inode:", "/memfd:")


def fd_kinds(fds: dict[int, str]) -> dict[str, int]:
    counts = {kind: 0 for kind in KINDS + ("file",)}
    for what in fds.values():
        counts[next((k for k in KINDS if what.startswith(k)), "file")] += 1
    return counts


@pytest.mark.slow
def test_guests_killed_every_second_leave_nothing_behind():
    # Kills wait for guests that draw (see benchmarks/soak.py), so a loaded machine makes the run
    # longer, not emptier; max_seconds only stops a host that makes no progress at all.
    config = soak.SoakConfig(guests=4, seconds=30, kill_every=1.0, seed=7, size=64, warmup_s=5, min_kills=8,
                             max_seconds=600)
    r = soak.Soak(config, say=lambda *_: None).run()
    table = "\n".join(f"{k}: {v}" for k, v in soak.rows(r))

    assert not r.capped, table
    assert r.killed_when["drawing"] >= 8, table
    assert r.guests_failed == [], table
    assert r.sessions_not_ended == 0, table
    assert r.frames_checked > 0 and r.guest_frames > 0, table
    assert r.mismatches == 0 and r.out_of_order == 0, (table, r.first_bad)
    assert r.lost_frames == 0 and r.count_differs == 0, table
    assert r.guest_read_mismatches == 0, table

    before, after = fd_kinds(r.before.fds), fd_kinds(r.after.fds)
    for kind in KINDS:
        assert after[kind] <= before[kind], (kind, r.new_fds)
    assert after["file"] <= before["file"] + 2, r.new_fds
    assert r.after.pvgpu_fds == 0 and r.after.pvgpu_maps == 0, table
    assert len(r.after.maps) <= len(r.before.maps) + 16, table
    assert r.after.maps_kib <= r.before.maps_kib + 160 * 1024, table
    assert r.after.workers == [] and r.after.other_children == [], table
    assert set(r.after.share_files) <= set(r.before.share_files), r.after.share_files
    assert r.after.rss_kib <= r.before.rss_kib + 32 * 1024, table
    assert r.stopped_clean, table
