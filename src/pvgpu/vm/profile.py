"""VM profiles: one TOML file describing a VM (resources, boot source, display, network) and
its identity (SMBIOS tables, CPU model and flags, firmware). See examples/vm-profile.toml.

Every key is checked: unknown keys, wrong types, sizes that do not parse and missing files
are reported with the key's full name and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ..errors import PvgpuError

SMBIOS_KEYS: dict[int, tuple[str, ...]] = {
    0: ("vendor", "version", "date", "release", "uefi"),
    1: ("manufacturer", "product", "version", "serial", "uuid", "sku", "family"),
    2: ("manufacturer", "product", "version", "serial", "asset", "location"),
    3: ("manufacturer", "version", "serial", "asset", "sku"),
    4: ("sock_pfx", "manufacturer", "version", "serial", "asset", "part", "max-speed", "current-speed"),
    17: ("loc_pfx", "bank", "manufacturer", "serial", "asset", "part", "speed"),
}
BOOT_SOURCES = ("host-root", "kernel", "disk")
KERNEL_ENTRIES = ("auto", "pvh", "bzimage")  # see vm.pvh
ACCELS = ("auto", "kvm", "tcg")
DISPLAYS = ("none", "vnc", "gtk", "sdl")
NETWORKS = ("none", "user")
FIRMWARES = ("seabios", "ovmf")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"


class ProfileError(PvgpuError):
    """A profile that cannot be used; the message names the key."""


def parse_size(text: str | int, key: str) -> int:
    """'256M', '2G', '4096K', 1048576 -> bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise ProfileError(f"{key}: {text} must be positive")
        return text
    if not isinstance(text, str):
        raise ProfileError(f"{key}: expected a size such as \"256M\" or \"2G\", got {type(text).__name__}")
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ProfileError(f"{key}: {text!r} is not a size (use a number with K, M, G or T, e.g. \"256M\")")
    value = float(m.group(1)) * (1 << (10 * " KMGT".index(m.group(2).upper() or " ")))
    if value < 1:
        raise ProfileError(f"{key}: {text!r} must be positive")
    return int(value)


@dataclass
class Boot:
    source: str = "host-root"
    kernel: str = "auto"
    kernel_entry: str = "auto"  # auto: the vmlinux's PVH entry under TCG; pvh; bzimage
    initrd: str = ""
    append: str = ""
    disk: str = ""
    command: str = ""


@dataclass
class Identity:
    cpu_model: str = "max"
    cpu_flags: list[str] = field(default_factory=list)
    firmware: str = "seabios"
    smbios: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass
class Profile:
    name: str = "pvgpu-vm"
    memory: int = 1 << 30
    cpus: int = 2
    accel: str = "auto"
    region_size: int = 256 << 20
    host_socket: str = ""  # a running `pvgpu serve --ivshmem`; empty: the launcher starts one
    frames_out: str = ""  # where the launcher's own host writes presented frames
    present: list[str] = field(default_factory=list)  # `--present` values for the launcher's own host
    boot: Boot = field(default_factory=Boot)
    display: str = "none"
    vnc: str = ":0"
    network: str = "none"
    identity: Identity = field(default_factory=Identity)
    qemu: str = "qemu-system-x86_64"
    extra_args: list[str] = field(default_factory=list)
    path: str = ""


def _presents(items: list, key: str, base: str) -> list[str]:
    """`present = ["window", "png:frames"]`: checked as `--present` values are, with file
    and folder paths taken relative to the profile."""
    from ..host.present.spec import parse_present
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ProfileError(f"{key}: every item must be a string such as \"web\" or \"png:DIR\", not {item!r}")
        try:
            spec = parse_present(item)
        except PvgpuError as e:
            raise ProfileError(f"{key}: {e}") from None
        if spec.kind in ("png", "record") and not os.path.isabs(spec.path):
            item = f"{spec.kind}:{os.path.join(base, spec.path)}"
        out.append(item)
    return out


class _Table:
    """Reads one TOML table, remembering which keys were used so the rest can be reported."""

    def __init__(self, data: dict, name: str, source: str):
        if not isinstance(data, dict):
            raise ProfileError(f"{source}: [{name}] must be a table")
        self.data, self.name, self.source, self.used = data, name, source, set()

    def key(self, k: str) -> str:
        return f"{self.source}: {self.name + '.' if self.name else ''}{k}"

    def get(self, k: str, kind: type | tuple, default: Any) -> Any:
        self.used.add(k)
        if k not in self.data:
            return default
        v = self.data[k]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(v, kind) or (int in kinds and bool not in kinds and isinstance(v, bool)):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(t.__name__ for t in kind)
            raise ProfileError(f"{self.key(k)}: expected {want}, got {type(v).__name__} ({v!r})")
        return v

    def choice(self, k: str, options: tuple[str, ...], default: str) -> str:
        v = self.get(k, str, default)
        if v not in options:
            raise ProfileError(f"{self.key(k)}: {v!r} is not one of {', '.join(options)}")
        return v

    def sub(self, k: str) -> "_Table":
        self.used.add(k)
        return _Table(self.data.get(k, {}), f"{self.name + '.' if self.name else ''}{k}", self.source)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise ProfileError(f"{self.key(unknown[0])}: unknown key (known here: {known})")


def load_profile(path: str) -> Profile:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile") from None
    except OSError as e:
        raise ProfileError(f"{path}: cannot read the profile: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: not valid TOML: {e}") from None
    return profile_from_dict(data, path)


def profile_from_dict(data: dict, source: str = "<profile>") -> Profile:
    base = os.path.dirname(os.path.abspath(source)) if os.path.exists(source) else os.getcwd()
    top = _Table(data, "", source)
    p = Profile(path=source)
    p.name = top.get("name", str, p.name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", p.name):
        raise ProfileError(f"{top.key('name')}: {p.name!r} may hold only letters, digits, '.', '_' and '-'")
    p.memory = parse_size(top.get("memory", (str, int), "1G"), top.key("memory"))
    if p.memory % (1 << 20):
        raise ProfileError(f"{top.key('memory')}: {p.memory} bytes is not a whole number of MiB")
    p.cpus = top.get("cpus", int, p.cpus)
    if not 1 <= p.cpus <= 256:
        raise ProfileError(f"{top.key('cpus')}: {p.cpus} must be between 1 and 256")
    p.accel = top.choice("accel", ACCELS, p.accel)
    p.qemu = top.get("qemu", str, p.qemu)
    p.extra_args = list(top.get("extra_args", list, []))
    for arg in p.extra_args:
        if not isinstance(arg, str):
            raise ProfileError(f"{top.key('extra_args')}: every item must be a string, not {arg!r}")

    pv = top.sub("pvgpu")
    p.region_size = parse_size(pv.get("region_size", (str, int), "256M"), pv.key("region_size"))
    if p.region_size & (p.region_size - 1) or p.region_size < (1 << 20):
        raise ProfileError(f"{pv.key('region_size')}: {p.region_size} bytes must be a power of two of at least "
                           f"1M (QEMU's ivshmem BAR)")
    p.host_socket = pv.get("host", str, "")
    p.frames_out = pv.get("frames_out", str, "")
    if p.frames_out and not os.path.isabs(p.frames_out):
        p.frames_out = os.path.join(base, p.frames_out)
    p.present = _presents(pv.get("present", list, []), pv.key("present"), base)
    pv.done()

    b = top.sub("boot")
    boot = Boot(source=b.choice("source", BOOT_SOURCES, "host-root"))
    boot.kernel = b.get("kernel", str, "auto")
    boot.kernel_entry = b.choice("kernel_entry", KERNEL_ENTRIES, "auto")
    boot.initrd = _path(b, "initrd", base)
    boot.append = b.get("append", str, "")
    boot.disk = _path(b, "disk", base)
    boot.command = b.get("command", str, "")
    if boot.kernel != "auto":
        boot.kernel = _path(b, "kernel", base)
    if boot.source == "disk" and not boot.disk:
        raise ProfileError(f"{b.key('disk')}: boot.source = \"disk\" needs a disk image")
    if boot.source == "kernel" and boot.kernel == "auto" and not boot.initrd:
        raise ProfileError(f"{b.key('initrd')}: boot.source = \"kernel\" needs an initrd (or use host-root)")
    b.done()
    p.boot = boot

    d = top.sub("display")
    p.display = d.choice("type", DISPLAYS, "none")
    p.vnc = d.get("vnc", str, ":0")
    d.done()
    n = top.sub("network")
    p.network = n.choice("type", NETWORKS, "none")
    n.done()

    i = top.sub("identity")
    ident = Identity(cpu_model=i.get("cpu_model", str, "max"), firmware=i.choice("firmware", FIRMWARES, "seabios"))
    flags = i.get("cpu_flags", list, [])
    for flag in flags:
        if not isinstance(flag, str) or not re.fullmatch(r"[+-][A-Za-z0-9_.-]+|[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]+", flag):
            raise ProfileError(f"{i.key('cpu_flags')}: {flag!r} is not a CPU flag like \"+avx2\", \"-hypervisor\" "
                               f"or \"level=13\"")
    ident.cpu_flags = flags
    if ident.firmware == "ovmf" and not os.path.exists(OVMF_CODE):
        raise ProfileError(f"{i.key('firmware')}: OVMF needs {OVMF_CODE} (Debian: apt-get install ovmf)")
    sm = i.sub("smbios")
    for table_name in list(sm.data):
        m = re.fullmatch(r"type(\d+)", table_name)
        if not m or int(m.group(1)) not in SMBIOS_KEYS:
            raise ProfileError(f"{sm.key(table_name)}: unknown SMBIOS table (known: "
                               f"{', '.join(f'type{t}' for t in SMBIOS_KEYS)})")
        t = sm.sub(table_name)
        values = {}
        for k in list(t.data):
            if k not in SMBIOS_KEYS[int(m.group(1))]:
                raise ProfileError(f"{t.key(k)}: unknown key for SMBIOS type {m.group(1)} (known: "
                                   f"{', '.join(SMBIOS_KEYS[int(m.group(1))])})")
            v = t.get(k, (str, int), "")
            values[k] = str(v)
        if "uuid" in values and not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", values["uuid"]):
            raise ProfileError(f"{t.key('uuid')}: {values['uuid']!r} is not a UUID")
        ident.smbios[int(m.group(1))] = values
    i.done()
    p.identity = ident
    top.done()
    return p


def _path(table: _Table, key: str, base: str) -> str:
    value = table.get(key, str, "")
    if not value:
        return ""
    path = value if os.path.isabs(value) else os.path.join(base, value)
    if not os.path.exists(path):
        raise ProfileError(f"{table.key(key)}: {value} does not exist")
    return path
