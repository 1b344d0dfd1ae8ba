"""`Output`: DXGI's IDXGIOutput in snake case, the virtual display the host offers.

Everything here is read from the control page: the host's offer of display modes (ordered as
DXGI lists them: by width, height, then refresh rate), the mode the guest chose and the frame
statistics the host writes at every present.
"""

from __future__ import annotations

from ..protocol import layout as L
from ..protocol.enums import DxgiFormat, FormatSupport
from .connection import GuestConnection
from .descs import FrameStatistics, ModeDesc, Rational

#: a frame-statistics read that keeps meeting a write in progress gives up after this many tries
STATS_READ_TRIES = 10000


class Output:
    def __init__(self, connection: GuestConnection):
        self.connection = connection

    def _modes(self) -> list[tuple[int, int, int]]:
        mm = self.connection.region.mm
        count = min(self.connection.region.get("display_mode_count"), L.MAX_DISPLAY_MODES)
        return [L.DISPLAY_MODE.unpack_from(mm, L.DISPLAY_MODES_OFFSET + i * L.DISPLAY_MODE.size)
                for i in range(count)]

    def _displayable(self, format: int) -> bool:
        if format == 0:
            return True
        if not 0 < format < L.FORMAT_TABLE_ENTRIES:
            return False
        table = L.FORMAT_TABLE.unpack_from(self.connection.region.mm, L.FORMAT_TABLE_OFFSET)
        return bool(table[format] & FormatSupport.DISPLAY)

    @staticmethod
    def _desc(mode: tuple[int, int, int], format: int = 0) -> ModeDesc:
        width, height, millihertz = mode
        fmt = DxgiFormat(format) if format in DxgiFormat._value2member_map_ else format
        return ModeDesc(width, height, Rational.from_millihertz(millihertz), fmt)

    def get_display_mode_list(self, format: DxgiFormat | int = 0, flags: int = 0) -> list[ModeDesc]:
        """IDXGIOutput::GetDisplayModeList: the modes the host offers in `format` (0: any
        format; a format the host cannot display: none). Every mode is offered in every
        display format (FormatSupport.DISPLAY), so `flags` (interlaced, scaling) select nothing."""
        format = int(format)
        if not self._displayable(format):
            return []
        return [self._desc(m, format) for m in self._modes()]

    def mode_at(self, index: int, format: DxgiFormat | int = 0) -> ModeDesc:
        """The offered mode number `index` (pvgpu's: the index SET_DISPLAY_MODE takes)."""
        return self._desc(self._modes()[index], int(format))

    def closest_mode_index(self, mode: ModeDesc, like: ModeDesc | None = None) -> int:
        """Index of the offered mode closest to `mode`: the nearest size first, then the
        nearest refresh rate. A 0 width, height or refresh rate takes `like`'s (the current
        target), or matches anything where `like` has none either."""
        modes = self._modes()
        if not modes:
            from ..errors import PvgpuError
            raise PvgpuError("the host offers no display modes")
        width = mode.width or (like.width if like else 0)
        height = mode.height or (like.height if like else 0)
        refresh = mode.refresh_millihertz or (like.refresh_millihertz if like else 0)

        def distance(i: int) -> tuple[int, int, int]:
            w, h, r = modes[i]
            size = (abs(w - width) if width else 0) + (abs(h - height) if height else 0)
            return size, abs(r - refresh) if refresh else 0, i
        return min(range(len(modes)), key=distance)

    def find_closest_matching_mode(self, mode: ModeDesc, like: ModeDesc | None = None) -> ModeDesc:
        """IDXGIOutput::FindClosestMatchingMode (see `closest_mode_index`)."""
        return self._desc(self._modes()[self.closest_mode_index(mode, like)], int(mode.format))

    def get_current_mode(self) -> tuple[ModeDesc, bool]:
        """The mode the host's output is in and whether it is fullscreen, as the host wrote them
        once it executed the guest's last SET_DISPLAY_MODE (pvgpu's, not a DXGI call)."""
        modes = self._modes()
        index = self.connection.region.get("display_mode_chosen")
        mode = self._desc(modes[index]) if index < len(modes) else ModeDesc()
        return mode, bool(self.connection.region.get("display_fullscreen"))

    def get_refresh_millihertz(self) -> int:
        """The rate the host paces presents to now: the chosen mode's when fullscreen, the
        desktop's (60 Hz) when windowed."""
        return self.connection.region.get("display_refresh")

    def get_frame_statistics(self) -> FrameStatistics:
        """IDXGIOutput::GetFrameStatistics: the host's figures as of the last present it has
        shown (it writes them when the present's vblank has come, before the fence after it
        completes; so they include every present before the last completed fence, and may
        include later ones). Read consistently: the host writes them under a sequence count."""
        region = self.connection.region
        u64 = region.u64
        seq_slot = region.u64_slot("frame_stats_sequence")
        slots = [region.u64_slot(n) for n in ("presented_frames", "present_refresh_count",
                                               "sync_refresh_count", "sync_time_ns")]
        values = [0, 0, 0, 0]
        for _ in range(STATS_READ_TRIES):
            before = int(u64[seq_slot])
            if before & 1:
                continue
            values = [int(u64[s]) for s in slots]
            if int(u64[seq_slot]) == before:
                break
        return FrameStatistics(*values)
