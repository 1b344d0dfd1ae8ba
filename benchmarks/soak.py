"""Soak test (issue 11): many guests at once for minutes, one killed at random every second.

A HostService runs in this process with process isolation (each session's renderer in a
worker process, as `pvgpu serve` runs it); a FrameCallback presenter checks every presented
frame of every session against its exact expected image (benchmarks/soak_guest.py draws
frames that are a function of the session id and frame index). `guests` guest processes run
at once; every `kill_every` seconds one of them, chosen by a seeded random generator, is
killed with SIGKILL and a new one started in its place.

Which guest: with probability `any_share` any guest (so some die while starting: before they
connect, during the handshake, while their renderer worker starts), otherwise one that has
shown at least one frame (killed mid-stream: mid-present, mid-read-back, with commands in the
ring). A tick while no guest has shown a frame yet kills none and is counted. Why: starting a
guest and its renderer worker costs 2 to 3 s of CPU on lavapipe (Python, numpy, wgpu, a
device, the first pipeline); on a busy 2-core machine kills among all guests starve every
start, and the run degenerates into guests that never draw (measured here under load: 4
guests, 14 kills, every one before the guest's first frame, no frame at all). On a 16-core
machine hardly a tick is skipped (6 of 320).

The service's own process is measured twice: after a warm-up (the same churn for a while,
then every guest gone and every session ended) and after the run (the same ending): open
file descriptors, memory mappings (count, size, mappings of pvgpu's shared memory), live
child processes (renderer workers, zombies), files in the service's shared-texture folder
and `/dev/shm/pvgpu-*` entries, and RSS (with its peak sampled during the run).

Checks besides the pixels: each session's frames arrive in order with no index skipped or
repeated; every frame a guest saw completed (its fence after the present) reached the
presenter; the host's own frame count for each session equals the frames checked.

    python -m benchmarks.soak --guests 8 --minutes 5 --kill-every 1.0 --seed N [--min-kills N]

Exit status 1 when a check failed (a mismatch, a lost or reordered frame, a guest that failed,
a session that did not end, no frame at all).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.soak_guest import expected_frame
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.service import HostService, SessionRecord
from pvgpu.protocol.enums import DeviceStatus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_MODULE = "pvgpu.host.worker"
PVGPU_MEMFD = "/memfd:pvgpu-"  # how the service's memfds (regions, watchdog, frame slots) show in maps


# --- the host process, as /proc sees it ---------------------------------------------------------
def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def open_fds(pid: int) -> dict[int, str]:
    """fd -> what it points at."""
    out = {}
    folder = f"/proc/{pid}/fd"
    for name in os.listdir(folder):
        try:
            out[int(name)] = os.readlink(os.path.join(folder, name))
        except OSError:  # closed while listing
            pass
    return out


def mappings(pid: int) -> list[tuple[int, str]]:
    """(size in bytes, what is mapped) of each memory mapping."""
    out = []
    for line in _read(f"/proc/{pid}/maps").splitlines():
        parts = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        out.append((hi - lo, parts[5] if len(parts) > 5 else ""))
    return out


def status_kib(pid: int, key: str) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of the processes whose parent is `pid` (zombies included)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _read(f"/proc/{name}/stat")
        if not stat:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            cmd = _read(f"/proc/{name}/cmdline").replace("\0", " ").strip()
            out.append((int(name), fields[0], cmd))
    return out


def shm_entries() -> set[str]:
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith("pvgpu-")}
    except OSError:
        return set()


def files_under(folder: str) -> list[str]:
    """Every file and folder under `folder`, relative to it."""
    out = []
    for top, dirs, files in os.walk(folder):
        out += [os.path.relpath(os.path.join(top, n), folder) for n in dirs + files]
    return sorted(out)


@dataclass
class Snapshot:
    """The host process at one moment."""

    fds: dict[int, str]
    maps: list[tuple[int, str]]
    rss_kib: int
    threads: int
    workers: list[int]  # live renderer worker processes
    other_children: list[tuple[int, str, str]]  # any other child still there (zombies included)
    shm: set[str]  # /dev/shm/pvgpu-* (machine-wide: other programs' entries show too)
    share_files: list[str]  # files and folders in the service's shared-texture folder

    @classmethod
    def take(cls, share_dir: str, guest_pids: set[int] = frozenset()) -> "Snapshot":
        pid = os.getpid()
        kids = children(pid)
        workers = [p for p, state, cmd in kids if WORKER_MODULE in cmd and state != "Z"]
        others = [k for k in kids if k[0] not in workers and k[0] not in guest_pids]
        return cls(open_fds(pid), mappings(pid), status_kib(pid, "VmRSS"), status_kib(pid, "Threads"),
                   workers, others, shm_entries(), files_under(share_dir))

    @property
    def maps_kib(self) -> int:
        return sum(size for size, _ in self.maps) // 1024

    @property
    def pvgpu_maps(self) -> int:
        return sum(1 for _, what in self.maps if what.startswith(PVGPU_MEMFD))

    @property
    def pvgpu_fds(self) -> int:
        return sum(1 for what in self.fds.values() if what.startswith(PVGPU_MEMFD))


# --- frames --------------------------------------------------------------------------------------
@dataclass
class SessionFrames:
    checked: int = 0
    mismatches: int = 0
    out_of_order: int = 0  # frames whose index was not the one after the previous frame's
    first_bad: list = field(default_factory=list)  # (index, pixels differing) of the first few


class FrameChecker:
    """Checks each presented frame against its expected image, as it is presented (on the
    supervisor threads; only counters are kept, so a long run holds no frames)."""

    def __init__(self, size: int):
        self.size = size
        self.sessions: dict[int, SessionFrames] = {}
        self._lock = threading.Lock()

    def present(self, session_id: int, frame) -> None:
        pixels = frame.pixels
        want = expected_frame(session_id, frame.index, self.size)
        same = pixels.shape == want.shape and np.array_equal(pixels, want)
        with self._lock:
            s = self.sessions.setdefault(session_id, SessionFrames())
            if frame.index != s.checked:
                s.out_of_order += 1
            s.checked += 1
            if not same:
                s.mismatches += 1
                if len(s.first_bad) < 3:
                    diff = -1 if pixels.shape != want.shape else int(np.any(pixels != want, axis=-1).sum())
                    s.first_bad.append((frame.index, diff))

    def presenter(self) -> FrameCallback:
        return FrameCallback(self.present)


# --- guests --------------------------------------------------------------------------------------
@dataclass
class Guest:
    proc: subprocess.Popen
    stderr_path: str
    session_id: int | None = None
    confirmed: int = -1  # the last frame whose present the guest saw handled
    reads_ok: int = 0
    reads_bad: int = 0
    killed: bool = False
    exit_code: int | None = None
    _partial: bytes = b""

    @property
    def state(self) -> str:
        if self.session_id is None:
            return "starting"
        return "connected" if self.confirmed < 0 else "drawing"

    def take_output(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            word, _, rest = line.decode(errors="replace").partition(" ")
            if word == "session":
                self.session_id = int(rest)
            elif word == "frame":
                self.confirmed = int(rest)
            elif word == "read":
                if rest.endswith(" ok"):
                    self.reads_ok += 1
                else:
                    self.reads_bad += 1


class GuestPool:
    """The guest processes, their stdout read through one selector (no threads: the host
    process is the one measured)."""

    def __init__(self, socket_path: str, size: int, read_every: int, folder: str):
        self.socket_path, self.size, self.read_every, self.folder = socket_path, size, read_every, folder
        self.selector = selectors.DefaultSelector()
        self.alive: list[Guest] = []
        self.gone: list[Guest] = []
        self.started = 0

    def start(self) -> Guest:
        self.started += 1
        path = os.path.join(self.folder, f"guest-{self.started}.err")
        with open(path, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.soak_guest", self.socket_path,
                                     "--size", str(self.size), "--read-every", str(self.read_every)],
                                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        os.set_blocking(proc.stdout.fileno(), False)
        guest = Guest(proc, path)
        self.selector.register(proc.stdout, selectors.EVENT_READ, guest)
        self.alive.append(guest)
        return guest

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if not self._drain(key.data):
                self.selector.unregister(key.fileobj)  # it closed its output: it is ending

    def _drain(self, guest: Guest) -> bool:
        """Take what the guest has written; False once its output is closed."""
        fd = guest.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return True
            if not data:
                return False
            guest.take_output(data)

    def _finish(self, guest: Guest) -> None:
        guest.exit_code = guest.proc.wait()
        self._drain(guest)  # what it wrote before it died
        try:
            self.selector.unregister(guest.proc.stdout)
        except KeyError:
            pass
        guest.proc.stdout.close()
        self.alive.remove(guest)
        self.gone.append(guest)

    def kill(self, guest: Guest) -> None:
        guest.killed = True
        guest.proc.send_signal(signal.SIGKILL)
        self._finish(guest)

    def exited_on_their_own(self) -> list[Guest]:
        """Guests that ended without being killed (an error: they draw until killed)."""
        done = [g for g in self.alive if g.proc.poll() is not None]
        for guest in done:
            self._finish(guest)
        return done

    def stop_all(self) -> None:
        for guest in list(self.alive):
            self.kill(guest)

    def close(self) -> None:
        self.stop_all()
        self.selector.close()


# --- the run -------------------------------------------------------------------------------------
@dataclass
class SoakConfig:
    guests: int = 8
    seconds: float = 300.0
    kill_every: float = 1.0
    any_share: float = 0.25  # share of kills that pick among all guests, starting ones included
    seed: int = 0
    size: int = 64
    warmup_s: float = 20.0
    read_every: int = 4
    region_size: int = 16 << 20
    end_timeout_s: float = 120.0  # how long all sessions may take to end once their guests are gone
    min_kills: int = 0  # the run goes on past `seconds` until this many guests were killed drawing ...
    max_seconds: float = 3600.0  # ... but a phase never lasts longer than this (a stuck host)
    #: drop each ended session's record from HostService.sessions (an experiment: the service
    #: keeps every ended session's record, and with it its figures, for as long as it runs)
    forget_ended: bool = False


@dataclass
class SoakResult:
    config: SoakConfig
    guests_started: int = 0
    guests_killed: int = 0
    killed_when: Counter = field(default_factory=Counter)  # Guest.state of each guest killed
    ticks_skipped: int = 0  # kill ticks that found no guest to kill (none drawing yet)
    capped: bool = False  # a phase ended at max_seconds, short of its kills
    run_seconds: float = 0.0  # how long the measured run lasted
    guests_failed: list = field(default_factory=list)  # (exit code, last stderr line) of guests that ended by themselves
    frames_checked: int = 0
    sessions_drawn: int = 0  # sessions that presented at least one frame
    mismatches: int = 0
    out_of_order: int = 0
    lost_frames: int = 0  # frames guests saw completed that never reached the presenter
    count_differs: int = 0  # sessions whose host frame count is not the frames checked
    guest_reads: int = 0
    guest_read_mismatches: int = 0
    guest_frames: int = 0  # frames confirmed by guests (fence after present completed)
    sessions: int = 0
    sessions_not_ended: int = 0
    end_reasons: Counter = field(default_factory=Counter)
    before: Snapshot | None = None
    after: Snapshot | None = None
    rss_peak_kib: int = 0
    rss_samples: list = field(default_factory=list)  # (seconds into the run, RSS KiB, sessions so far)
    records_kept: int = 0  # SessionRecords the service still holds after the run
    stopped_clean: bool = False  # after service.stop(): socket and shared folder gone
    first_bad: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def new_fds(self) -> dict[int, str]:
        return {fd: what for fd, what in self.after.fds.items() if self.before.fds.get(fd) != what}

    @property
    def new_shm(self) -> set[str]:
        return self.after.shm - self.before.shm


def _end_reason(record: SessionRecord) -> str:
    st = record.stats
    if st.lost_reason:
        return f"device lost: {st.lost_reason}"
    return f"guest gone (device {DeviceStatus(st.status).name})"


class Soak:
    def __init__(self, config: SoakConfig, say=print):
        self.config = config
        self.say = say
        self.rng = random.Random(config.seed)
        self.folder = tempfile.mkdtemp(prefix="pvgpu-soak-")
        self.checker = FrameChecker(config.size)
        self.ended: dict[int, tuple[str, int]] = {}  # session -> (why it ended, frames the host counted)
        self.service = HostService(os.path.join(self.folder, "host.sock"), region_size=config.region_size,
                                   presenters=[self.checker.presenter()], on_session_end=self._on_end,
                                   max_sessions=4 * config.guests + 16)
        self.pool = GuestPool(self.service.socket_path, config.size, config.read_every, self.folder)
        self.result = SoakResult(config)

    def _on_end(self, record: SessionRecord) -> None:
        self.ended[record.session_id] = (_end_reason(record), record.stats.frames)
        if self.config.forget_ended:
            with self.service._lock:
                self.service.sessions.pop(record.session_id, None)

    def _churn(self, seconds: float, min_kills: int, sample: bool) -> None:
        """Keep `guests` guests running for `seconds` and until `min_kills` guests have been
        killed while drawing (at most `max_seconds`), one kill tick every `kill_every` s."""
        cfg, pool, res = self.config, self.pool, self.result
        while len(pool.alive) < cfg.guests:
            pool.start()
        start = time.monotonic()
        first_drawing_kills = res.killed_when["drawing"]
        next_kill, next_sample = start + cfg.kill_every, start
        while True:
            now = time.monotonic()
            enough = now >= start + seconds and res.killed_when["drawing"] - first_drawing_kills >= min_kills
            if enough:
                break
            if now >= start + cfg.max_seconds:
                res.capped = True
                break
            pool.pump(max(0.0, min(next_kill, next_sample if sample else next_kill) - now))
            for guest in pool.exited_on_their_own():
                res.guests_failed.append((guest.exit_code, _last_line(guest.stderr_path)))
                pool.start()
            now = time.monotonic()
            if now >= next_kill:
                self._kill_one()
                next_kill += cfg.kill_every
            if sample and now >= next_sample:
                rss = status_kib(os.getpid(), "VmRSS")
                res.rss_peak_kib = max(res.rss_peak_kib, rss)
                res.rss_samples.append((round(now - start, 1), rss, len(self.ended)))
                next_sample += 1.0
        if sample:
            res.run_seconds = time.monotonic() - start

    def _kill_one(self) -> None:
        """SIGKILL one guest and start another; none while no guest draws (module doc)."""
        pool, res = self.pool, self.result
        drawing = [g for g in pool.alive if g.confirmed >= 0]
        if not drawing:
            res.ticks_skipped += 1
            return
        victim = self.rng.choice(pool.alive if self.rng.random() < self.config.any_share else drawing)
        res.killed_when[victim.state] += 1
        pool.kill(victim)
        res.guests_killed += 1
        pool.start()

    def _settle(self) -> int:
        """Kill every guest, wait for every session to end; the sessions still running."""
        self.pool.stop_all()
        deadline = time.monotonic() + self.config.end_timeout_s
        while time.monotonic() < deadline:
            if self.service.active_sessions() == 0 and not Snapshot.take(self.service.share_dir).workers:
                break
            time.sleep(0.1)
        gc.collect()
        return self.service.active_sessions()

    def run(self) -> SoakResult:
        cfg, res = self.config, self.result
        started = time.monotonic()
        self.service.start()
        try:
            self.say(f"warm-up: {cfg.guests} guests for {cfg.warmup_s:.0f} s")
            self._churn(cfg.warmup_s, min_kills=cfg.guests, sample=False)
            res.sessions_not_ended += self._settle()
            res.before = Snapshot.take(self.service.share_dir)
            res.rss_peak_kib = res.before.rss_kib
            self.say(f"run: {cfg.guests} guests for {cfg.seconds:.0f} s, one killed every {cfg.kill_every} s")
            self._churn(cfg.seconds, min_kills=cfg.min_kills, sample=True)
            res.sessions_not_ended += self._settle()
            res.after = Snapshot.take(self.service.share_dir)
            res.rss_peak_kib = max(res.rss_peak_kib, res.after.rss_kib)
            res.records_kept = len(self.service.sessions)
            self._tally()
        finally:
            self.pool.close()
            self.service.stop()
            res.stopped_clean = not os.path.exists(self.service.socket_path) and \
                not os.path.exists(self.service.share_dir)
            shutil.rmtree(self.folder, ignore_errors=True)
        res.seconds = time.monotonic() - started
        return res

    def _tally(self) -> None:
        res, pool = self.result, self.pool
        res.guests_started = pool.started
        frames = self.checker.sessions
        res.frames_checked = sum(s.checked for s in frames.values())
        res.sessions_drawn = sum(1 for s in frames.values() if s.checked)
        res.mismatches = sum(s.mismatches for s in frames.values())
        res.out_of_order = sum(s.out_of_order for s in frames.values())
        res.first_bad = [(sid, bad) for sid, s in frames.items() for bad in s.first_bad][:5]
        for guest in pool.gone:
            res.guest_reads += guest.reads_ok + guest.reads_bad
            res.guest_read_mismatches += guest.reads_bad
            res.guest_frames += guest.confirmed + 1
            if guest.session_id is not None:
                checked = frames.get(guest.session_id, SessionFrames()).checked
                res.lost_frames += max(0, guest.confirmed + 1 - checked)
        for sid, (_, counted) in self.ended.items():
            if counted != frames.get(sid, SessionFrames()).checked:
                res.count_differs += 1
        res.sessions = len(self.ended)
        res.end_reasons = Counter(reason for reason, _ in self.ended.values())


def _last_line(path: str) -> str:
    lines = _read(path).strip().splitlines()
    return lines[-1] if lines else ""


# --- the table -----------------------------------------------------------------------------------
def rows(r: SoakResult) -> list[tuple[str, str]]:
    b, a = r.before, r.after
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    out = [
        ("guests at once / kill every / seed", f"{r.config.guests} / {r.config.kill_every} s / {r.config.seed}"),
        ("run (after warm-up)", f"{r.run_seconds:.0f} s (warm-up {r.config.warmup_s:.0f} s)"
                                + (" CAPPED" if r.capped else "")),
        ("guests started / killed (warm-up included)", f"{r.guests_started} / {r.guests_killed}"),
        ("killed while starting / connected / drawing",
         " / ".join(str(r.killed_when[k]) for k in ("starting", "connected", "drawing"))),
        ("kill ticks with no guest to kill", str(r.ticks_skipped)),
        ("guests that failed by themselves", str(len(r.guests_failed))),
        ("sessions ended (all of them?)",
         f"{r.sessions} ({'yes' if not r.sessions_not_ended else f'{r.sessions_not_ended} still running'})"),
        ("frames checked (host side) / sessions that drew", f"{r.frames_checked} / {r.sessions_drawn}"),
        ("frame mismatches / out of order", f"{r.mismatches} / {r.out_of_order}"),
        ("frames guests saw done but never presented", str(r.lost_frames)),
        ("sessions whose frame count != frames checked", str(r.count_differs)),
        ("guest MAP_READ checks (mismatches)", f"{r.guest_reads} ({r.guest_read_mismatches})"),
        ("open fds before / after", f"{len(b.fds)} / {len(a.fds)}"),
        ("pvgpu memfd fds before / after", f"{b.pvgpu_fds} / {a.pvgpu_fds}"),
        ("mappings before / after", f"{len(b.maps)} / {len(a.maps)}"),
        ("mapped size before / after", f"{mib(b.maps_kib)} / {mib(a.maps_kib)}"),
        ("pvgpu memfd mappings before / after", f"{b.pvgpu_maps} / {a.pvgpu_maps}"),
        ("threads before / after", f"{b.threads} / {a.threads}"),
        ("worker processes left", str(len(a.workers))),
        ("other child processes left", str(len(a.other_children))),
        ("entries in the shared-texture folder (its shader-cache) before / after", f"{len(b.share_files)} / {len(a.share_files)}"),
        ("new /dev/shm/pvgpu-* entries (machine-wide)", str(len(r.new_shm))),
        ("RSS before / after / peak", f"{mib(b.rss_kib)} / {mib(a.rss_kib)} / {mib(r.rss_peak_kib)}"),
        ("session records the service still holds" + (" (--forget-ended)" if r.config.forget_ended else ""),
         str(r.records_kept)),
        ("socket and shared folder removed at stop", "yes" if r.stopped_clean else "NO"),
    ]
    for reason, n in r.end_reasons.most_common():
        out.append((f"sessions ended: {reason}", str(n)))
    return out


def maps_diff(before: list[tuple[int, str]], after: list[tuple[int, str]]) -> list[tuple[str, int, int]]:
    """(what is mapped, change in count, change in KiB) for each name whose mappings changed."""
    def tally(maps):
        out: dict[str, list[int]] = {}
        for size, what in maps:
            entry = out.setdefault(what, [0, 0])
            entry[0] += 1
            entry[1] += size // 1024
        return out
    b, a = tally(before), tally(after)
    out = []
    for what in sorted(set(a) | set(b)):
        (nb, kb), (na, ka) = b.get(what, (0, 0)), a.get(what, (0, 0))
        if (nb, kb) != (na, ka):
            out.append((what, na - nb, ka - kb))
    return out


def print_table(r: SoakResult, say=print) -> None:
    table = rows(r)
    width = max(len(k) for k, _ in table)
    say(f"| {'figure'.ljust(width)} | value |")
    say(f"| {'-' * width} | --- |")
    for k, v in table:
        say(f"| {k.ljust(width)} | {v} |")
    grown = maps_diff(r.before.maps, r.after.maps)
    if grown:
        say("mappings that changed (what: count, KiB): " + "; ".join(f"{w or '[anon]'}: {n:+d}, {k:+d}" for w, n, k in grown))
    if r.after.share_files:
        say(f"left in the shared-texture folder: {r.after.share_files[:10]}")
    if r.new_fds:
        say(f"new fds: {r.new_fds}")
    if r.first_bad:
        say(f"first mismatching frames (session, (index, pixels differing)): {r.first_bad}")
    if r.guests_failed:
        say(f"guests that failed: {r.guests_failed[:5]}")
    if r.rss_samples:
        step = max(1, len(r.rss_samples) // 10)
        trace = ", ".join(f"{t:.0f}s {kib / 1024:.0f}M ({n} sessions)" for t, kib, n in r.rss_samples[::step])
        say(f"RSS over the run: {trace}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guests", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--kill-every", type=float, default=1.0, help="seconds between kills")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--any-share", type=float, default=0.25,
                    help="share of kills that choose among all guests (else among those drawing)")
    ap.add_argument("--size", type=int, default=64, help="frame width and height")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds of churn before the baseline")
    ap.add_argument("--forget-ended", action="store_true",
                    help="drop ended sessions' records from the service (shows what they cost)")
    ap.add_argument("--min-kills", type=int, default=0,
                    help="go on past --minutes until this many guests were killed while drawing")
    args = ap.parse_args(argv)
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    config = SoakConfig(args.guests, args.minutes * 60, args.kill_every, args.any_share, args.seed, args.size,
                        args.warmup, min_kills=args.min_kills, forget_ended=args.forget_ended)
    result = Soak(config).run()
    print_table(result)
    bad = result.mismatches or result.out_of_order or result.lost_frames or result.guest_read_mismatches \
        or result.guests_failed or result.sessions_not_ended or not result.frames_checked or result.capped
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
