"""VM profiles, the QEMU command line they give, and the host-root initramfs, without booting a VM.

Profiles are written as TOML text into tmp_path and read with `load_profile`; the command line
is checked through `pvgpu vm print` (a subprocess, as a user runs it) and through
`VirtualMachine.command_line`; the initramfs is parsed back with a small cpio "newc" reader.
"""

from __future__ import annotations

import lzma
import os
import shlex
import stat
import subprocess
import sys
import tomllib

import pytest

import pvgpu
from pvgpu.vm import initramfs, pvh, qemu
from pvgpu.vm import profile as profile_mod
from pvgpu.vm.launcher import PACKAGE_PARENT, VirtualMachine, guest_python_command
from pvgpu.vm.profile import SMBIOS_KEYS, ProfileError, load_profile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "vm-profile.toml")
PVGPU = [sys.executable, "-m", "pvgpu.cli"]
MiB = 1 << 20


# --- helpers -----------------------------------------------------------------------------------
def write(tmp_path, text: str, name: str = "profile.toml") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def load(tmp_path, text: str, name: str = "profile.toml"):
    return load_profile(write(tmp_path, text, name))


def load_error(tmp_path, text: str, name: str = "profile.toml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    message = str(e.value)
    assert message.startswith(path + ": "), f"the message should start with the profile's path: {message}"
    return message


def touch(path, data: bytes = b"\0" * 512) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def size_bytes(text: str) -> int:
    """'1G', '64M', '3072M' -> bytes (the test's own reading of the example's sizes)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def values_of(argv: list[str], flag: str) -> list[str]:
    """Every value that follows `flag` in an argument list."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def one_value(argv: list[str], flag: str) -> str:
    found = values_of(argv, flag)
    assert len(found) == 1, f"expected one {flag} in {shlex.join(argv)}, found {found}"
    return found[0]


def qemu_opts(text: str) -> tuple[list[str], dict[str, str]]:
    """Split a QEMU option list the way QEMU does (',,' is a literal comma): the parts without
    '=' (e.g. the chardev backend) and the key=value pairs."""
    parts, cur, i = [], "", 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1:i + 2] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    bare = [p for p in parts if "=" not in p]
    pairs = dict(p.split("=", 1) for p in parts if "=" in p)
    return bare, pairs


def vm_print(profile_path: str, run_dir_base, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run_dir_base))
    return subprocess.run([*PVGPU, "vm", "print", profile_path, *extra], capture_output=True, text=True,
                          timeout=60, env=env)


def printed_argv(r: subprocess.CompletedProcess) -> list[str]:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one command line, got {len(lines)} lines:\n{r.stdout}"
    return shlex.split(lines[0])


def the_kernel() -> str:
    try:
        return initramfs.newest_kernel()
    except initramfs.BootError as e:
        pytest.fail(f"this machine has no kernel in /boot for the host-root boot (setup.sh installs "
                    f"linux-image-amd64): {e}")


def command_line(profile, tmp_path) -> list[str]:
    return VirtualMachine(profile, run_dir=str(tmp_path / "run")).command_line()


# --- the example profile -------------------------------------------------------------------------
def test_example_profile_loads_with_every_key():
    with open(EXAMPLE, "rb") as f:
        raw = tomllib.load(f)
    p = load_profile(EXAMPLE)
    assert p.path == EXAMPLE
    assert p.name == raw["name"] == "pvgpu-demo"
    assert p.memory == size_bytes(raw["memory"]) == 1 << 30
    assert p.cpus == raw["cpus"] == 2
    assert p.accel == raw["accel"] == "auto"
    assert p.qemu == "qemu-system-x86_64" and p.extra_args == []
    assert p.region_size == size_bytes(raw["pvgpu"]["region_size"]) == 64 * MiB
    assert p.host_socket == ""
    assert p.frames_out.endswith(raw["pvgpu"]["frames_out"]) and raw["pvgpu"]["frames_out"] == "vm-frames"
    assert p.boot.source == raw["boot"]["source"] == "host-root"
    assert p.boot.kernel == raw["boot"]["kernel"] == "auto"
    assert p.boot.kernel_entry == raw["boot"].get("kernel_entry", "auto") == "auto"
    assert p.boot.command == raw["boot"]["command"]
    assert p.boot.command.startswith("pvgpu demo --guest-only")
    assert (p.boot.initrd, p.boot.disk, p.boot.append) == ("", "", "")
    assert p.display == raw["display"]["type"] == "none"
    assert p.network == raw["network"]["type"] == "none"
    assert p.identity.cpu_model == raw["identity"]["cpu_model"] == "max"
    assert p.identity.cpu_flags == raw["identity"]["cpu_flags"] == ["-hypervisor"]
    assert p.identity.firmware == raw["identity"]["firmware"] == "seabios"
    tables = raw["identity"]["smbios"]
    assert sorted(tables) == ["type0", "type1", "type17", "type2", "type3", "type4"]
    assert p.identity.smbios == {int(name[4:]): {k: str(v) for k, v in t.items()} for name, t in tables.items()}
    assert p.identity.smbios[1]["uuid"] == "6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b"
    assert p.identity.smbios[17]["speed"] == "3200"
    assert p.identity.smbios[0]["vendor"] == "American Megatrends Inc."


def test_empty_profile_gives_the_defaults(tmp_path):
    p = load(tmp_path, "")
    assert (p.name, p.memory, p.cpus, p.accel, p.region_size) == ("pvgpu-vm", 1 << 30, 2, "auto", 256 * MiB)
    assert (p.display, p.vnc, p.network, p.host_socket, p.frames_out) == ("none", ":0", "none", "", "")
    assert (p.boot.source, p.boot.kernel, p.boot.command, p.boot.kernel_entry) == ("host-root", "auto", "", "auto")
    assert (p.identity.cpu_model, p.identity.cpu_flags, p.identity.firmware, p.identity.smbios) == \
        ("max", [], "seabios", {})


def test_every_key_set_explicitly(tmp_path):
    disk = touch(tmp_path / "images" / "disk.qcow2")
    kernel = touch(tmp_path / "images" / "vmlinuz-custom")
    initrd = touch(tmp_path / "images" / "initrd.img")
    p = load(tmp_path, f"""
name = "box_1.test"
memory = "1536M"
cpus = 8
accel = "tcg"
qemu = "/opt/qemu/bin/qemu-system-x86_64"
extra_args = ["-rtc", "base=localtime"]

[pvgpu]
region_size = 134217728
host = "/run/pvgpu/ivshmem.sock"
frames_out = "/tmp/frames"

[boot]
source = "disk"
kernel = "images/vmlinuz-custom"
initrd = "images/initrd.img"
disk = "images/disk.qcow2"
append = "root=/dev/vda1"
command = "true"

[display]
type = "vnc"
vnc = ":3"

[network]
type = "user"

[identity]
cpu_model = "Skylake-Client"
cpu_flags = ["+avx2", "-hypervisor", "level=13"]
firmware = "seabios"

[identity.smbios.type1]
manufacturer = "A, B"
serial = 42
""")
    assert (p.name, p.memory, p.cpus, p.accel) == ("box_1.test", 1536 * MiB, 8, "tcg")
    assert p.qemu == "/opt/qemu/bin/qemu-system-x86_64" and p.extra_args == ["-rtc", "base=localtime"]
    assert (p.region_size, p.host_socket, p.frames_out) == (128 * MiB, "/run/pvgpu/ivshmem.sock", "/tmp/frames")
    assert (p.boot.source, p.boot.kernel, p.boot.initrd, p.boot.disk) == ("disk", kernel, initrd, disk)
    assert (p.boot.append, p.boot.command) == ("root=/dev/vda1", "true")
    assert (p.display, p.vnc, p.network) == ("vnc", ":3", "user")
    assert p.identity.cpu_model == "Skylake-Client"
    assert p.identity.cpu_flags == ["+avx2", "-hypervisor", "level=13"]
    assert p.identity.smbios == {1: {"manufacturer": "A, B", "serial": "42"}}


@pytest.mark.parametrize("text, expected", [
    ('memory = "256M"', 256 * MiB), ('memory = "2G"', 2 << 30), ('memory = "4096K"', 4 * MiB),
    ('memory = "1.5G"', 1536 * MiB), ('memory = "512MiB"', 512 * MiB), ('memory = "1gb"', 1 << 30),
    ("memory = 1073741824", 1 << 30),
])
def test_sizes_that_parse(tmp_path, text, expected):
    assert load(tmp_path, text).memory == expected


# --- bad profiles ----------------------------------------------------------------------------------
BAD = {
    # unknown keys, everywhere
    "unknown-top-level": ('colour = "red"\n', ["colour", "unknown key"]),
    "unknown-boot": ('[boot]\nsourse = "disk"\n', ["boot.sourse", "unknown key"]),
    "unknown-pvgpu": ('[pvgpu]\nregion = "64M"\n', ["pvgpu.region", "unknown key"]),
    "unknown-display": ('[display]\nkind = "vnc"\n', ["display.kind", "unknown key"]),
    "unknown-network": ('[network]\nmode = "user"\n', ["network.mode", "unknown key"]),
    "unknown-identity": ('[identity]\ncpu = "max"\n', ["identity.cpu", "unknown key"]),
    "unknown-smbios-table": ('[identity.smbios.type5]\nvendor = "x"\n',
                             ["identity.smbios.type5", "unknown SMBIOS table"]),
    "unknown-smbios-table-name": ('[identity.smbios.bios]\nvendor = "x"\n',
                                  ["identity.smbios.bios", "unknown SMBIOS table"]),
    "unknown-smbios-key": ('[identity.smbios.type1]\nprodut = "x"\n', ["identity.smbios.type1.produt", "unknown key"]),
    "smbios-key-of-another-table": ('[identity.smbios.type0]\nproduct = "x"\n',
                                    ["identity.smbios.type0.product", "unknown key"]),
    # wrong types
    "cpus-str": ('cpus = "2"\n', ["cpus", "expected int", "str"]),
    "cpus-bool": ("cpus = true\n", ["cpus", "expected int", "bool"]),
    "cpus-float": ("cpus = 2.0\n", ["cpus", "expected int", "float"]),
    "memory-bool": ("memory = true\n", ["memory", "bool"]),
    "memory-list": ('memory = ["1G"]\n', ["memory", "list"]),
    "cpu-flags-str": ('[identity]\ncpu_flags = "x"\n', ["identity.cpu_flags", "expected list", "str"]),
    "cpu-flags-int-item": ("[identity]\ncpu_flags = [1]\n", ["identity.cpu_flags", "not a CPU flag"]),
    "name-int": ("name = 5\n", ["name", "expected str"]),
    "vnc-int": ("[display]\nvnc = 1\n", ["display.vnc", "expected str"]),
    "command-list": ('[boot]\ncommand = ["a"]\n', ["boot.command", "expected str"]),
    "extra-args-str": ('extra_args = "-S"\n', ["extra_args", "expected list"]),
    "host-int": ("[pvgpu]\nhost = 1\n", ["pvgpu.host", "expected str"]),
    "smbios-float": ("[identity.smbios.type17]\nspeed = 3.5\n",
                     ["identity.smbios.type17.speed", "expected str or int"]),
    "boot-not-a-table": ("boot = 5\n", ["[boot]", "must be a table"]),
    "smbios-table-not-a-table": ('[identity.smbios]\ntype1 = "x"\n', ["identity.smbios.type1", "must be a table"]),
    # sizes
    "memory-unit": ('memory = "12Q"\n', ["memory", "'12Q'", "not a size"]),
    "memory-negative": ('memory = "-1G"\n', ["memory", "'-1G'", "not a size"]),
    "memory-empty": ('memory = ""\n', ["memory", "''", "not a size"]),
    "memory-zero": ("memory = 0\n", ["memory", "0", "must be positive"]),
    "memory-zero-str": ('memory = "0M"\n', ["memory", "must be positive"]),
    "memory-negative-int": ("memory = -5\n", ["memory", "must be positive"]),
    "region-unit": ('[pvgpu]\nregion_size = "12Q"\n', ["pvgpu.region_size", "not a size"]),
    "region-zero": ("[pvgpu]\nregion_size = 0\n", ["pvgpu.region_size", "must be positive"]),
    "region-not-power-of-two": ('[pvgpu]\nregion_size = "3M"\n', ["pvgpu.region_size", "power of two"]),
    "region-not-power-of-two-int": ("[pvgpu]\nregion_size = 100000000\n", ["pvgpu.region_size", "power of two"]),
    "region-below-1M": ('[pvgpu]\nregion_size = "512K"\n', ["pvgpu.region_size", "at least"]),
    # ranges and choices
    "cpus-zero": ("cpus = 0\n", ["cpus", "between 1 and 256"]),
    "cpus-too-many": ("cpus = 1000\n", ["cpus", "between 1 and 256"]),
    "accel": ('accel = "hvf"\n', ["accel", "'hvf'", "not one of", "kvm"]),
    "boot-source": ('[boot]\nsource = "floppy"\n', ["boot.source", "'floppy'", "not one of"]),
    "display-type": ('[display]\ntype = "spice"\n', ["display.type", "'spice'", "not one of"]),
    "network-type": ('[network]\ntype = "tap"\n', ["network.type", "'tap'", "not one of"]),
    "firmware": ('[identity]\nfirmware = "uefi"\n', ["identity.firmware", "'uefi'", "not one of"]),
    # boot sources that lack what they need
    "disk-without-disk": ('[boot]\nsource = "disk"\n', ["boot.disk", "needs a disk image"]),
    "kernel-without-initrd": ('[boot]\nsource = "kernel"\n', ["boot.initrd", "needs an initrd"]),
    # values
    "uuid": ('[identity.smbios.type1]\nuuid = "not-a-uuid"\n',
             ["identity.smbios.type1.uuid", "'not-a-uuid'", "not a UUID"]),
    "uuid-short": ('[identity.smbios.type1]\nuuid = "6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5"\n',
                   ["identity.smbios.type1.uuid", "not a UUID"]),
    "uuid-int": ("[identity.smbios.type1]\nuuid = 5\n", ["identity.smbios.type1.uuid", "not a UUID"]),
    "cpu-flag": ('[identity]\ncpu_flags = ["avx2"]\n', ["identity.cpu_flags", "'avx2'", "not a CPU flag"]),
    "cpu-flag-space": ('[identity]\ncpu_flags = ["+avx 2"]\n', ["identity.cpu_flags", "'+avx 2'", "not a CPU flag"]),
    "cpu-flag-comma": ('[identity]\ncpu_flags = ["+avx2,-sse"]\n', ["identity.cpu_flags", "not a CPU flag"]),
    "name-space": ('name = "my vm"\n', ["name", "'my vm'", "letters, digits"]),
    "name-slash": ('name = "a/b"\n', ["name", "'a/b'"]),
    "name-dash-first": ('name = "-vm"\n', ["name", "'-vm'"]),
    "name-empty": ('name = ""\n', ["name", "''"]),
    # not TOML
    "toml-syntax": ('name = "unterminated\n', ["not valid TOML"]),
    "toml-duplicate-key": ("cpus = 1\ncpus = 2\n", ["not valid TOML"]),
}


@pytest.mark.parametrize("text, expected", BAD.values(), ids=BAD.keys())
def test_bad_profile_names_the_key_and_the_problem(tmp_path, text, expected):
    message = load_error(tmp_path, text)
    for part in expected:
        assert part in message, f"{part!r} missing from the error: {message}"


def test_unknown_key_message_lists_the_known_keys(tmp_path):
    message = load_error(tmp_path, '[boot]\nsourse = "disk"\n')
    for known in ("source", "kernel", "initrd", "disk", "append", "command"):
        assert known in message, message


def test_missing_profile_file(tmp_path):
    path = str(tmp_path / "nowhere.toml")
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert str(e.value).startswith(path) and "no such profile" in str(e.value)


@pytest.mark.parametrize("key", ["disk", "initrd", "kernel"])
def test_missing_boot_file_is_reported_with_its_key(tmp_path, key):
    source = {"disk": "disk", "initrd": "kernel", "kernel": "kernel"}[key]
    message = load_error(tmp_path, f'[boot]\nsource = "{source}"\n{key} = "images/missing-{key}.bin"\n')
    assert f"boot.{key}" in message and f"images/missing-{key}.bin" in message and "does not exist" in message


@pytest.mark.parametrize("key", ["disk", "initrd", "kernel"])
def test_boot_files_resolve_against_the_profile_folder_not_the_cwd(tmp_path, monkeypatch, key):
    profiles = tmp_path / "profiles"
    here = tmp_path / "cwd"
    target = touch(profiles / f"{key}.bin")
    touch(here / f"only-in-cwd-{key}.bin")
    monkeypatch.chdir(here)
    source = {"disk": "disk", "initrd": "kernel", "kernel": "kernel"}[key]
    write(profiles, f'[boot]\nsource = "{source}"\n{key} = "{key}.bin"\n')
    for profile_path in (str(profiles / "profile.toml"), os.path.relpath(profiles / "profile.toml")):
        p = load_profile(profile_path)
        assert getattr(p.boot, key) == target and os.path.isabs(getattr(p.boot, key))
    # A file that only exists relative to the working directory does not count.
    message = load_error(profiles, f'[boot]\nsource = "{source}"\n{key} = "only-in-cwd-{key}.bin"\n', "other.toml")
    assert f"boot.{key}" in message and "does not exist" in message


def test_absolute_boot_paths_are_kept(tmp_path):
    disk = touch(tmp_path / "elsewhere" / "disk.img")
    p = load(tmp_path / "profiles", f'[boot]\nsource = "disk"\ndisk = "{disk}"\n')
    assert p.boot.disk == disk


# Bugs: each of these ends in a traceback instead of a ProfileError.
def test_bug_profile_that_is_a_folder_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError) as e:
        load_profile(str(tmp_path))
    assert str(tmp_path) in str(e.value)


def test_bug_profile_that_is_not_utf8_is_a_profile_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[identity.smbios.type1]\nmanufacturer = "Müller"\n'.encode("latin-1"))
    with pytest.raises(ProfileError) as e:
        load_profile(str(path))
    assert str(path) in str(e.value)


def test_bug_extra_args_must_be_strings(tmp_path):
    message = load_error(tmp_path, 'extra_args = ["-rtc", 5]\n')
    assert "extra_args" in message


def test_bug_smbios_value_must_not_be_a_bool(tmp_path):
    # `cpus = true` is rejected (expected int, got bool); an SMBIOS value `true` became "True".
    message = load_error(tmp_path, "[identity.smbios.type1]\nserial = true\n")
    assert "identity.smbios.type1.serial" in message and "bool" in message


# --- the QEMU command line ---------------------------------------------------------------------------
def test_vm_print_example(tmp_path):
    r = vm_print(EXAMPLE, tmp_path)
    argv = printed_argv(r)
    run_dir = os.path.join(str(tmp_path), "pvgpu-vm", "pvgpu-demo")
    assert argv[0] == "qemu-system-x86_64"
    assert "ivshmem-doorbell,chardev=pvgpu,vectors=1" in values_of(argv, "-device")
    bare, chardev = qemu_opts(one_value(argv, "-chardev"))
    assert bare == ["socket"] and chardev == {"path": os.path.join(run_dir, "ivshmem.sock"), "id": "pvgpu"}
    machine = qemu_opts(one_value(argv, "-machine"))
    here = qemu.choose_accel(load_profile(EXAMPLE)).accel
    assert machine[0] == ["q35"] and machine[1]["accel"] == here
    assert one_value(argv, "-cpu") == "max,-hypervisor"
    assert one_value(argv, "-m") == "1024M"
    assert one_value(argv, "-smp") == "2"
    assert one_value(argv, "-name") == "pvgpu-demo"
    assert one_value(argv, "-display") == "none" and "-vnc" not in argv
    assert one_value(argv, "-nic") == "none"
    # The SMBIOS tables, all of them, with the profile's values in its order.
    with open(EXAMPLE, "rb") as f:
        tables = tomllib.load(f)["identity"]["smbios"]
    smbios = [qemu_opts(v)[1] for v in values_of(argv, "-smbios")]
    assert smbios == [{"type": str(n), **{k: str(v) for k, v in tables[f"type{n}"].items()}}
                      for n in sorted(int(t[4:]) for t in tables)]
    assert "type=1,manufacturer=Contoso,product=Workstation 7,version=1.0,serial=CT-2024-00042," \
           "uuid=6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b,sku=WS7-BASE,family=Workstation" in values_of(argv, "-smbios")
    # host-root: the host's kernel (under TCG its vmlinux), the run dir's initramfs and the
    # read-only 9p root share.
    assert one_value(argv, "-kernel") == pvh.boot_kernel(the_kernel(), "auto", here).path
    assert one_value(argv, "-initrd") == os.path.join(run_dir, "initramfs.cpio")
    append = one_value(argv, "-append").split()
    assert "console=ttyS0" in append and "panic=-1" in append
    assert "-no-reboot" in argv
    fsdevs = {qemu_opts(v)[1]["id"]: qemu_opts(v) for v in values_of(argv, "-fsdev")}
    root_bare, root = fsdevs["hostroot"]
    assert root_bare == ["local"] and root["path"] == "/" and root["readonly"] == "on"
    assert fsdevs["job"][1]["path"] == os.path.join(run_dir, "job") and "readonly" not in fsdevs["job"][1]
    devices = [qemu_opts(v) for v in values_of(argv, "-device")]
    nine_p = {d[1]["mount_tag"]: d[1]["fsdev"] for d in devices if d[0] == ["virtio-9p-pci"]}
    assert nine_p == {initramfs.ROOT_TAG: "hostroot", initramfs.JOB_TAG: "job"}
    # Viewer input: a keyboard and an absolute pointer the initramfs's modules drive.
    assert {"virtio-keyboard-pci", "virtio-tablet-pci"} <= set(values_of(argv, "-device"))
    assert "usb-tablet" not in " ".join(argv)
    assert "-drive" not in argv
    # `vm print` writes nothing into the run dir.
    assert not os.path.exists(run_dir)


@pytest.mark.parametrize("accel", ["kvm", "tcg"])
def test_vm_print_custom_profile(tmp_path, accel):
    touch(tmp_path / "images" / "win.qcow2")
    host = str(tmp_path / "host" / "ivshmem.sock")
    path = write(tmp_path, f"""
name = "custom"
memory = "3G"
cpus = 4
accel = "{accel}"
extra_args = ["-rtc", "base=localtime"]
[pvgpu]
host = "{host}"
[boot]
source = "disk"
disk = "images/win.qcow2"
[display]
type = "vnc"
vnc = ":1"
[network]
type = "user"
[identity]
cpu_model = "Skylake-Client"
cpu_flags = ["+avx2", "-hypervisor", "level=13"]
[identity.smbios.type1]
manufacturer = "A, B"
product = "P,Q,,R"
uuid = "6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b"
[identity.smbios.type17]
speed = 3200
""")
    argv = printed_argv(vm_print(path, tmp_path / "run"))
    assert one_value(argv, "-machine") == f"q35,accel={accel}"
    assert one_value(argv, "-m") == "3072M"
    assert one_value(argv, "-smp") == "4"
    assert one_value(argv, "-cpu") == "Skylake-Client,+avx2,-hypervisor,level=13"
    assert one_value(argv, "-chardev") == f"socket,path={host},id=pvgpu"
    assert "ivshmem-doorbell,chardev=pvgpu,vectors=1" in values_of(argv, "-device")
    assert values_of(argv, "-smbios") == [
        "type=1,manufacturer=A,, B,product=P,,Q,,,,R,uuid=6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b",
        "type=17,speed=3200"]
    assert qemu_opts(values_of(argv, "-smbios")[0])[1]["manufacturer"] == "A, B"
    assert one_value(argv, "-drive") == f"file={tmp_path / 'images' / 'win.qcow2'},if=virtio,format=qcow2"
    # A disk guest (Windows, say) gets a USB tablet, which it drives without extra drivers.
    devices = values_of(argv, "-device")
    assert "qemu-xhci,id=pvgpu-usb" in devices and "usb-tablet,bus=pvgpu-usb.0" in devices
    assert "virtio-tablet-pci" not in devices
    assert "-kernel" not in argv and "-initrd" not in argv and "-fsdev" not in argv
    assert one_value(argv, "-nic") == "user,model=virtio-net-pci"
    assert one_value(argv, "-display") == "none" and one_value(argv, "-vnc") == ":1"
    assert argv[-2:] == ["-rtc", "base=localtime"]


def test_raw_disk_and_commas_in_its_path(tmp_path):
    disk = touch(tmp_path / "a,b" / "disk.img")
    p = load(tmp_path, '[boot]\nsource = "disk"\ndisk = "a,b/disk.img"\n')
    argv = command_line(p, tmp_path)
    drive = one_value(argv, "-drive")
    assert drive == f"file={disk.replace(',', ',,')},if=virtio,format=raw"
    assert qemu_opts(drive)[1]["file"] == disk


def test_disk_with_its_own_kernel(tmp_path):
    touch(tmp_path / "disk.img")
    kernel, initrd = touch(tmp_path / "vmlinuz-x"), touch(tmp_path / "initrd-x")
    p = load(tmp_path, '[boot]\nsource = "disk"\ndisk = "disk.img"\nkernel = "vmlinuz-x"\n'
                       'initrd = "initrd-x"\nappend = "root=/dev/vda1 ro"\n')
    argv = command_line(p, tmp_path)
    assert one_value(argv, "-kernel") == kernel and one_value(argv, "-initrd") == initrd
    assert one_value(argv, "-append") == "root=/dev/vda1 ro"


def test_kernel_boot(tmp_path):
    kernel, initrd = touch(tmp_path / "vmlinuz-x"), touch(tmp_path / "initrd-x")
    p = load(tmp_path, '[boot]\nsource = "kernel"\nkernel = "vmlinuz-x"\ninitrd = "initrd-x"\nappend = "quiet"\n')
    argv = command_line(p, tmp_path)
    assert one_value(argv, "-kernel") == kernel and one_value(argv, "-initrd") == initrd
    assert one_value(argv, "-append") == "console=ttyS0 quiet"
    assert "-fsdev" not in argv and "-drive" not in argv


def test_host_root_append_and_run_dir(tmp_path):
    p = load(tmp_path, '[boot]\nappend = "loglevel=7"\n')
    argv = command_line(p, tmp_path)
    run = str(tmp_path / "run")
    assert one_value(argv, "-append") == "console=ttyS0 panic=-1 quiet loglevel=7"
    here = qemu.choose_accel(p).accel
    assert one_value(argv, "-kernel") == pvh.boot_kernel(the_kernel(), "auto", here).path
    assert one_value(argv, "-initrd") == os.path.join(run, "initramfs.cpio")
    assert one_value(argv, "-chardev") == f"socket,path={os.path.join(run, 'ivshmem.sock')},id=pvgpu"
    assert one_value(argv, "-serial") == f"file:{os.path.join(run, 'console.log')}"
    assert one_value(argv, "-qmp").startswith(f"unix:{os.path.join(run, 'qmp.sock')},")


@pytest.mark.parametrize("display", ["gtk", "sdl"])
def test_windowed_displays(tmp_path, display):
    argv = command_line(load(tmp_path, f'[display]\ntype = "{display}"\n'), tmp_path)
    assert one_value(argv, "-display") == display and "-vnc" not in argv


def test_ovmf_firmware(tmp_path, monkeypatch):
    code, vars_ = touch(tmp_path / "OVMF_CODE.fd"), touch(tmp_path / "OVMF_VARS.fd")
    monkeypatch.setattr(profile_mod, "OVMF_CODE", code)
    monkeypatch.setattr(qemu, "OVMF_CODE", code)
    monkeypatch.setattr(qemu, "OVMF_VARS", vars_)
    argv = command_line(load(tmp_path, '[identity]\nfirmware = "ovmf"\n'), tmp_path)
    drives = [qemu_opts(v)[1] for v in values_of(argv, "-drive")]
    assert drives == [
        {"if": "pflash", "format": "raw", "unit": "0", "readonly": "on", "file": code},
        {"if": "pflash", "format": "raw", "unit": "1", "file": str(tmp_path / "run" / "OVMF_VARS.fd")}]
    monkeypatch.setattr(profile_mod, "OVMF_CODE", str(tmp_path / "no-ovmf.fd"))
    message = load_error(tmp_path, '[identity]\nfirmware = "ovmf"\n', "ovmf.toml")
    assert "identity.firmware" in message and "ovmf" in message


def test_memory_in_mib(tmp_path):
    assert one_value(command_line(load(tmp_path, 'memory = "1.5G"'), tmp_path), "-m") == "1536M"
    assert one_value(command_line(load(tmp_path, 'memory = "2048K"'), tmp_path), "-m") == "2M"


def test_bug_memory_that_is_not_whole_mib_is_not_truncated(tmp_path):
    # memory = "512K" gave `-m 0M`, "1536K" gave `-m 1M`: rejected, or passed on exactly.
    for text in ('memory = "512K"', 'memory = "1536K"'):
        try:
            p = load(tmp_path, text)
        except ProfileError as e:
            assert "memory" in str(e)
            continue
        value = one_value(command_line(p, tmp_path), "-m")
        assert size_bytes(value) == p.memory, f"{text} became -m {value}"


def test_bug_host_socket_with_a_comma_is_escaped(tmp_path):
    # Every other path in a QEMU option list has its commas doubled; -chardev's path did not,
    # so QEMU read "/tmp/a,b.sock" as path=/tmp/a plus an option "b.sock".
    p = load(tmp_path, '[pvgpu]\nhost = "/tmp/a,b/ivshmem.sock"\n')
    chardev = one_value(command_line(p, tmp_path), "-chardev")
    assert qemu_opts(chardev) == (["socket"], {"path": "/tmp/a,b/ivshmem.sock", "id": "pvgpu"}), chardev


def test_command_line_matches_every_smbios_key(tmp_path):
    def value(k: str) -> str:
        return "6f1a7b3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b" if k == "uuid" else f"v-{k},x"

    body = "".join(f"[identity.smbios.type{t}]\n" + "".join(f'{k} = "{value(k)}"\n' for k in keys)
                   for t, keys in SMBIOS_KEYS.items())
    argv = command_line(load(tmp_path, body), tmp_path)
    assert [qemu_opts(v)[1] for v in values_of(argv, "-smbios")] == [
        {"type": str(t), **{k: value(k) for k in keys}} for t, keys in sorted(SMBIOS_KEYS.items())]


BAD_CLI = {
    "unknown-key": ('[boot]\nsourse = "disk"\n', ["boot.sourse", "unknown key"]),
    "bad-size": ('[pvgpu]\nregion_size = "3M"\n', ["pvgpu.region_size", "power of two"]),
    "bad-toml": ("cpus = \n", ["not valid TOML"]),
}


@pytest.mark.parametrize("text, expected", BAD_CLI.values(), ids=BAD_CLI.keys())
def test_vm_print_bad_profile_exits_2_without_traceback(tmp_path, text, expected):
    path = write(tmp_path, text)
    r = vm_print(path, tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("pvgpu: error: ") and "Traceback" not in r.stderr, r.stderr
    assert path in r.stderr and all(part in r.stderr for part in expected), r.stderr
    assert r.stdout == ""


def test_vm_print_missing_profile_exits_2(tmp_path):
    r = vm_print(str(tmp_path / "nothing.toml"), tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("pvgpu: error: ") and "no such profile" in r.stderr
    assert "Traceback" not in r.stderr


def test_bug_vm_print_folder_as_profile_exits_2_without_traceback(tmp_path):
    r = vm_print(str(tmp_path), tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("pvgpu: error: ") and "Traceback" not in r.stderr, r.stderr


def test_guest_python_command_runs_this_pvgpu(tmp_path):
    assert os.path.dirname(os.path.dirname(os.path.abspath(pvgpu.__file__))) == PACKAGE_PARENT
    assert os.path.isfile(os.path.join(PACKAGE_PARENT, "pvgpu", "cli.py"))
    cmd = guest_python_command("vm print x")
    assert shlex.split(cmd) == [f"PYTHONPATH={PACKAGE_PARENT}", sys.executable, "-m", "pvgpu.cli", "vm", "print", "x"]
    # The shell function the launcher writes into run.sh, with an argument holding a space.
    profile = write(tmp_path / "my profiles", 'name = "shim"\n')
    script = f'pvgpu() {{ {guest_python_command(chr(34) + "$@" + chr(34))}; }}\npvgpu vm print {shlex.quote(profile)}\n'
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd="/", env=env, timeout=60)
    argv = printed_argv(r)
    assert one_value(argv, "-name") == "shim"


# --- initramfs ---------------------------------------------------------------------------------------
def read_newc(data: bytes) -> list[dict]:
    """Parse a cpio "newc" archive; returns its entries, the TRAILER!!! last."""
    entries, pos = [], 0
    while True:
        assert pos % 4 == 0, pos
        header = data[pos:pos + 110]
        assert len(header) == 110 and header[:6] == b"070701", f"bad header at {pos}: {header[:6]!r}"
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
         check) = fields
        name_end = pos + 110 + namesize
        raw_name = data[pos + 110:name_end]
        assert raw_name.endswith(b"\0") and b"\0" not in raw_name[:-1], raw_name
        body_start = name_end + (-name_end % 4)
        assert data[name_end:body_start] == b"\0" * (body_start - name_end)
        body_end = body_start + filesize
        assert body_end <= len(data), "archive ends inside an entry"
        pos = body_end + (-body_end % 4)
        assert data[body_end:pos] == b"\0" * (pos - body_end)
        entries.append(dict(name=raw_name[:-1].decode(), ino=ino, mode=mode, uid=uid, gid=gid, nlink=nlink,
                            data=data[body_start:body_end], rdev=(rdevmajor, rdevminor), check=check))
        if entries[-1]["name"] == "TRAILER!!!":
            assert data[pos:] == b"", "bytes after the trailer"
            return entries


def test_cpio_round_trip():
    given = [initramfs._Entry("d", 0o040755),
             initramfs._Entry("d/a", 0o100644, b"x"),
             initramfs._Entry("d/bb", 0o100755, b"yz"),
             initramfs._Entry("d/ccc", 0o100600, b"123"),
             initramfs._Entry("d/dddd", 0o100644, b"four"),
             initramfs._Entry("d/e", 0o100644, bytes(range(256)) * 3 + b"tail5"),
             initramfs._Entry("d/empty", 0o100644),
             initramfs._Entry("d/link", 0o120777, b"a"),
             initramfs._Entry("d/tty", 0o020620, rdev=(4, 7))]
    archive = initramfs._cpio(given)
    entries = read_newc(archive)
    assert [e["name"] for e in entries] == [g.name for g in given] + ["TRAILER!!!"]
    for got, want in zip(entries, given):
        assert (got["mode"], got["data"], got["rdev"]) == (want.mode, want.data, want.rdev), want.name
        assert got["nlink"] >= 1 and (got["uid"], got["gid"], got["check"]) == (0, 0, 0)
    assert len({e["ino"] for e in entries[:-1]}) == len(given) and all(e["ino"] for e in entries[:-1])
    trailer = entries[-1]
    assert (trailer["mode"], trailer["data"]) == (0, b"")
    assert read_newc(initramfs._cpio([]))[0]["name"] == "TRAILER!!!"


@pytest.fixture(scope="module")
def built():
    kernel = the_kernel()
    release = initramfs.kernel_release(kernel)
    modules = initramfs.module_chain(release)
    entries = read_newc(initramfs.build_initramfs(kernel))
    return release, modules, {e["name"]: e for e in entries}, [e["name"] for e in entries]


def elf_type(data: bytes) -> int:
    assert data[:4] == b"\x7fELF", data[:4]
    assert data[4] == 2 and data[5] == 1, "expected a little-endian ELF64"
    return int.from_bytes(data[16:18], "little")


def test_initramfs_has_init_busybox_console_and_modules(built):
    release, modules, by_name, order = built
    assert order[-1] == "TRAILER!!!"
    assert len(order) == len(set(order)), "duplicate entries"
    for i, name in enumerate(order[:-1]):  # every parent folder comes before what it holds
        parent = os.path.dirname(name)
        assert not parent or (parent in order[:i] and stat.S_ISDIR(by_name[parent]["mode"])), name
    for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "tmp"):
        assert stat.S_ISDIR(by_name[d]["mode"]), d

    init = by_name["init"]
    assert stat.S_ISREG(init["mode"]) and init["mode"] & 0o111 == 0o111
    text = init["data"].decode()
    assert text.startswith(f"#!/bin/busybox sh\n/bin/busybox echo \"{initramfs.USER_SPACE_MARKER}\"\n")
    assert f"{initramfs.ROOT_TAG} /newroot" in text and "trans=virtio" in text and ",ro," in text
    assert initramfs.JOB_TAG in text and f"/newroot{initramfs.JOB_DIR}" in text
    assert f"{initramfs.JOB_DIR}/run.sh" in text and f"{initramfs.JOB_DIR}/exit_code" in text
    assert "poweroff -f" in text and "probe" not in text  # accel = "auto" needs no probe boot

    busybox = by_name["bin/busybox"]
    assert stat.S_ISREG(busybox["mode"]) and busybox["mode"] & 0o111
    assert elf_type(busybox["data"]) in (2, 3) and not initramfs._has_interpreter(busybox["data"])
    with open(initramfs.BUSYBOX, "rb") as f:
        assert busybox["data"] == f.read()
    sh = by_name["bin/sh"]
    assert stat.S_ISLNK(sh["mode"]) and sh["data"] == b"busybox"

    console = by_name["dev/console"]
    assert stat.S_ISCHR(console["mode"]) and console["rdev"] == (5, 1) and console["data"] == b""

    # The modules: exactly module_chain's, as loadable ELF relocatables, insmod'ed in that order.
    names = [os.path.basename(p).removesuffix(".xz") for p in modules]
    assert names, "module_chain found none of the 9p/virtio modules"
    assert [n for n in order if n.startswith("lib/pvgpu/")] == [f"lib/pvgpu/{n}" for n in names]
    for name, path in zip(names, modules):
        data = by_name[f"lib/pvgpu/{name}"]["data"]
        with open(path, "rb") as f:
            on_disk = f.read()
        assert data == (lzma.decompress(on_disk) if path.endswith(".xz") else on_disk), name
        assert elf_type(data) == 1, f"{name} is not an ELF relocatable (.ko)"
        assert b"vermagic=" + release.encode() in data, f"{name} is not built for {release}"
        assert stat.S_ISREG(by_name[f"lib/pvgpu/{name}"]["mode"])
    loop = next(line for line in text.splitlines() if line.startswith("for m in "))
    assert loop.split(";")[0].split()[3:] == names


def test_has_interpreter():
    for path in ("/bin/ls", os.path.realpath("/usr/bin/python3"), os.path.realpath("/bin/sh")):
        with open(path, "rb") as f:
            data = f.read()
        assert data[:4] == b"\x7fELF", path
        assert initramfs._has_interpreter(data) is True, path
    with open("/bin/busybox", "rb") as f:
        assert initramfs._has_interpreter(f.read()) is False, "Debian's busybox-static should be static"
    assert initramfs._has_interpreter(b"#!/bin/sh\necho hi\n") is True  # not ELF: not usable as a static binary


def test_kernel_release():
    assert initramfs.kernel_release("/boot/vmlinuz-6.1.0-56-amd64") == "6.1.0-56-amd64"
    with pytest.raises(initramfs.BootError):
        initramfs.kernel_release("/somewhere/bzImage")
    assert initramfs.kernel_release(the_kernel()) in os.listdir("/lib/modules")


# --- module_chain --------------------------------------------------------------------------------------
def module_name(path: str) -> str:
    base = os.path.basename(path)
    return base[:base.index(".ko")].replace("-", "_")


def test_module_chain_puts_dependencies_first():
    release = initramfs.kernel_release(the_kernel())
    chain = initramfs.module_chain(release)
    names = [module_name(p) for p in chain]
    assert len(names) == len(set(names))
    assert all(os.path.isfile(p) for p in chain)

    def before(*seq):
        missing = [n for n in seq if n not in names]
        assert not missing, f"{missing} not in the module chain {names} (built into {release}?)"
        idx = [names.index(n) for n in seq]
        assert idx == sorted(idx), f"expected {' before '.join(seq)} in {names}"

    before("virtio_ring", "virtio", "virtio_pci")
    before("9pnet", "9pnet_virtio", "9p")
    before("netfs", "fscache", "9p")
    before("virtio", "9pnet_virtio")
    before("virtio_ring", "virtio", "virtio_input")

    # In general: each module's dependencies (modules.dep) all come before it, and are all there.
    base = f"/lib/modules/{release}/"
    deps = {}
    with open(base + "modules.dep") as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[base + mod.strip()] = [base + d for d in rest.split()]
    for i, path in enumerate(chain):
        for dep in deps[path]:
            assert dep in chain[:i], f"{dep} should come before {path}"
    # Every root module is either in the chain or built in.
    with open(base + "modules.builtin") as f:
        builtin = {module_name(line.strip()) for line in f if line.strip()}
    for root in initramfs.GUEST_MODULES:
        assert root in names or root in builtin, root
    assert names[-1] in [m.replace("-", "_") for m in initramfs.GUEST_MODULES]


def test_module_chain_single_module_and_missing_release():
    release = initramfs.kernel_release(the_kernel())
    assert [module_name(p) for p in initramfs.module_chain(release, ["9pnet_virtio"])][-1] == "9pnet_virtio"
    assert initramfs.module_chain(release, ["no_such_module_xyz"]) == []
    with pytest.raises(initramfs.BootError) as e:
        initramfs.module_chain("0.0.0-no-such-release")
    assert "modules.dep" in str(e.value)
