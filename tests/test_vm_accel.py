"""`accel = "auto"` without a probe boot, and the TCG boot through the vmlinux's PVH entry.

The accelerator is decided from /proc, /sys and /dev; the detection runs here on folders built
in tmp_path that hold what a real KVM host (Intel, AMD), a PVM sandbox and a host without KVM
show, and on this machine's own. The vmlinux is unpacked from this machine's real bzImage and
checked with binutils' readelf, a parser independent of pvgpu's.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import subprocess

import pytest

from pvgpu.errors import PvgpuError
from pvgpu.vm import accel, initramfs, pvh, qemu
from pvgpu.vm.launcher import VirtualMachine
from pvgpu.vm.profile import ProfileError, profile_from_dict

FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx"


def fake_host(tmp_path, cpu_flags: str, modules: list[str], sys_modules: list[str], kvm: bool = True) -> dict:
    """The /proc, /sys and /dev of a host, as folders: cpuinfo with two CPUs of these flags,
    /proc/modules with MODULES, /sys/module/NAME for SYS_MODULES, /dev/kvm if KVM."""
    proc, sys_, dev = tmp_path / "proc", tmp_path / "sys", tmp_path / "dev"
    for d in (proc, sys_ / "module", dev):
        d.mkdir(parents=True)
    cpu = "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n"
    (proc / "cpuinfo").write_text("".join(cpu.format(n=n, flags=cpu_flags) for n in range(2)))
    (proc / "modules").write_text("".join(f"{m} 1234 0 - Live 0x0000000000000000\n" for m in modules))
    for m in sys_modules:
        (sys_ / "module" / m / "parameters").mkdir(parents=True)
    if kvm:
        (dev / "kvm").write_bytes(b"")
    return {"proc": str(proc), "sys": str(sys_), "dev": str(dev)}


def test_real_kvm_intel(tmp_path):
    roots = fake_host(tmp_path, FLAGS + " vmx ept vpid", ["kvm_intel", "kvm"], ["kvm", "kvm_intel"])
    choice = accel.detect(**roots)
    assert choice.accel == "kvm"
    assert "VMX" in choice.reason and "kvm_intel" in choice.reason
    assert str(choice) == f"kvm ({choice.reason})"


def test_real_kvm_amd_seen_only_in_sys_module(tmp_path):
    roots = fake_host(tmp_path, FLAGS + " svm npt", [], ["kvm", "kvm_amd"])
    os.unlink(os.path.join(roots["proc"], "modules"))  # some hosts have no /proc/modules
    choice = accel.detect(**roots)
    assert choice.accel == "kvm" and "SVM" in choice.reason and "kvm_amd" in choice.reason


def test_pvm_is_tcg_with_the_reason(tmp_path):
    roots = fake_host(tmp_path, FLAGS + " hypervisor", [], ["kvm", "kvm_pvm"])
    choice = accel.detect(**roots)
    kvm = os.path.join(roots["dev"], "kvm")
    assert choice == accel.AccelChoice(
        "tcg", f"{kvm} is the PVM hypervisor (kvm_pvm), no VMX/SVM in the CPU flags; only a PVM-enabled "
               f"guest kernel would run at native speed")


def test_pvm_seen_in_proc_modules_wins_over_vmx(tmp_path):
    """kvm_pvm drives /dev/kvm even on a CPU that has VMX: guests still run emulated."""
    roots = fake_host(tmp_path, FLAGS + " vmx", ["kvm_pvm", "kvm"], [])
    choice = accel.detect(**roots)
    assert choice.accel == "tcg" and "PVM hypervisor (kvm_pvm), VMX in the CPU flags" in choice.reason


def test_no_dev_kvm(tmp_path):
    roots = fake_host(tmp_path, FLAGS + " vmx", ["kvm_intel", "kvm"], ["kvm_intel"], kvm=False)
    choice = accel.detect(**roots)
    assert choice.accel == "tcg" and choice.reason.endswith("kvm does not exist (no KVM on this host)")
    with pytest.raises(PvgpuError) as e:
        accel.choose("kvm", **roots)
    assert "accel = \"kvm\"" in str(e.value) and "kvm does not exist" in str(e.value)


def test_dev_kvm_without_vmx_or_svm(tmp_path):
    roots = fake_host(tmp_path, FLAGS, ["kvm"], ["kvm"])
    choice = accel.detect(**roots)
    assert choice.accel == "tcg" and "no VMX/SVM in the CPU flags" in choice.reason
    assert "PVM" not in choice.reason


def test_explicit_accels(tmp_path):
    pvm = fake_host(tmp_path / "pvm", FLAGS, [], ["kvm_pvm"])
    kvm = accel.choose("kvm", **pvm)  # asked for: used, with what auto would do said
    assert kvm.accel == "kvm" and "auto would pick tcg" in kvm.reason and "kvm_pvm" in kvm.reason
    assert accel.choose("tcg", **pvm).accel == "tcg"
    intel = fake_host(tmp_path / "intel", FLAGS + " vmx", ["kvm_intel"], [])
    assert accel.choose("kvm", **intel) == accel.AccelChoice("kvm", "accel = \"kvm\" in the profile")
    assert accel.choose("auto", **intel).accel == "kvm"
    with pytest.raises(PvgpuError):
        accel.choose("hvf", **intel)


def test_this_machine():
    """Here /dev/kvm is the PVM hypervisor, so auto picks TCG; on a real KVM host, KVM."""
    choice = accel.detect()
    with open("/proc/cpuinfo") as f:
        virt = {"vmx", "svm"} & set(next(line for line in f if line.startswith("flags")).split())
    if os.path.isdir("/sys/module/kvm_pvm") and not virt:
        assert choice == accel.AccelChoice(
            "tcg", "/dev/kvm is the PVM hypervisor (kvm_pvm), no VMX/SVM in the CPU flags; only a PVM-enabled "
                   "guest kernel would run at native speed")
    else:
        assert choice.accel == ("kvm" if virt and os.path.exists("/dev/kvm") and
                                not os.path.isdir("/sys/module/kvm_pvm") else "tcg"), choice
    assert qemu.choose_accel(profile_from_dict({})) == choice


# --- the vmlinux and its PVH entry ------------------------------------------------------------------
def readelf_notes(path: str) -> str:
    r = subprocess.run(["readelf", "-n", "-h", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    kernel = initramfs.newest_kernel()
    cache = str(tmp_path_factory.mktemp("cache"))
    return kernel, cache, pvh.vmlinux(kernel, cache)


def test_vmlinux_from_this_machines_kernel(unpacked):
    kernel, cache, path = unpacked
    import hashlib
    with open(kernel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert path == os.path.join(cache, "vmlinux", digest + ".elf")
    out = readelf_notes(path)
    assert "Class:                             ELF64" in out and "Advanced Micro Devices X86-64" in out
    assert "EXEC (Executable file)" in out
    # binutils does not name Xen's note 18 (XEN_ELFNOTE_PHYS32_ENTRY); it shows its number.
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Xen"] and "(0x00000012)" in line)
    desc = bytes.fromhex("".join(lines[at + 1].split(":", 1)[1].split()))
    entry = pvh.pvh_entry_of_file(path)
    assert entry == struct.unpack_from("<I", desc)[0] and entry > 0
    with open(path, "rb") as f:
        assert pvh.pvh_entry(f.read()) == entry
    with open(kernel, "rb") as f:
        assert f.read(4) != b"\x7fELF", "the kernel in /boot should be a bzImage"


def test_vmlinux_is_cached_and_rechecked(unpacked):
    kernel, cache, path = unpacked
    before = os.stat(path).st_mtime_ns
    assert pvh.vmlinux(kernel, cache) == path and os.stat(path).st_mtime_ns == before
    assert pvh.vmlinux(path, cache) == path  # an ELF with the note is booted as it is
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".")] == []


def test_a_damaged_cache_entry_is_unpacked_again(tmp_path):
    kernel = initramfs.newest_kernel()
    path = pvh.vmlinux(kernel, str(tmp_path))
    with open(path, "r+b") as f:
        f.truncate(1000)
    assert pvh.vmlinux(kernel, str(tmp_path)) == path
    assert pvh.pvh_entry_of_file(path) > 0


def bzimage(payload: bytes, version: int = 0x20F, setup_sects: int = 1, length: int | None = None) -> bytes:
    """A bzImage: the setup header's fields the payload's place depends on, then PAYLOAD."""
    head = bytearray((setup_sects + 1) * 512)
    head[0x1F1] = setup_sects
    head[0x1FE:0x200] = b"\x55\xaa"
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, version)
    struct.pack_into("<II", head, 0x248, 0, len(payload) if length is None else length)
    return bytes(head) + payload


def elf_with_notes(notes: list[tuple[bytes, int, bytes]]) -> bytes:
    """An x86-64 ELF header, one PT_NOTE program header, and the notes."""
    body = b""
    for owner, kind, desc in notes:
        name = owner + b"\0"
        body += struct.pack("<III", len(name), len(desc), kind) + name.ljust(-(-len(name) // 4) * 4, b"\0")
        body += desc.ljust(-(-len(desc) // 4) * 4, b"\0")
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<HH", header, 16, 2, 62)
    struct.pack_into("<Q", header, 0x20, 64)
    struct.pack_into("<HH", header, 0x36, 56, 1)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, 120, 0, 0, len(body), len(body), 4)
    return bytes(header) + phdr + body


def test_synthetic_bzimage_with_a_gzip_payload(tmp_path):
    elf = elf_with_notes([(b"Xen", 6, b"linux\0"), (b"Xen", 18, struct.pack("<I", 0x1000850))])
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(bzimage(gzip.compress(elf) + struct.pack("<I", len(elf))))
    path = pvh.vmlinux(str(kernel), str(tmp_path / "cache"))
    with open(path, "rb") as f:
        assert f.read() == elf
    assert pvh.pvh_entry_of_file(path) == 0x1000850


REFUSED = {
    "not-a-bzimage": (b"#!/bin/sh\n" * 100, "not a bzImage"),
    "old-protocol": (bzimage(gzip.compress(b"x"), version=0x207), "boot protocol 2.7"),
    "payload-outside": (bzimage(b"\xfd7zXZ\x00", length=1 << 20), "lies outside the file"),
    "zstd": (bzimage(b"\x28\xb5\x2f\xfd" + bytes(64)), "zstd-compressed; pvgpu unpacks xz, gzip"),
    "damaged-xz": (bzimage(b"\xfd7zXZ\x00" + bytes(64)), "xz payload is damaged"),
    "cut-gzip": (bzimage(gzip.compress(bytes(100000))[:-20]), "cut short"),
    "not-elf": (bzimage(gzip.compress(b"MZ" + bytes(100))), "not an ELF file"),
    "no-pvh-note": (bzimage(gzip.compress(elf_with_notes([(b"Xen", 6, b"linux\0"), (b"GNU", 18, bytes(4))]))),
                    "no PVH entry note"),
    "note-past-segment": (bzimage(gzip.compress(elf_with_notes([(b"Xen", 18, bytes(4))])[:-2])),
                          "outside the file"),
}


@pytest.mark.parametrize("data, message", REFUSED.values(), ids=REFUSED.keys())
def test_kernels_without_a_usable_vmlinux(tmp_path, caplog, data, message):
    caplog.set_level(logging.WARNING, logger="pvgpu.vm")  # whatever level an earlier CLI test left on the root
    kernel = tmp_path / "kernel"
    kernel.write_bytes(data)
    with pytest.raises(pvh.KernelError) as e:
        pvh.vmlinux(str(kernel), str(tmp_path / "cache"))
    assert message in str(e.value)
    # auto under TCG falls back to the kernel as it is, saying why; an explicit pvh is an error
    fallback = pvh.boot_kernel(str(kernel), "auto", "tcg", str(tmp_path / "cache"))
    assert fallback == pvh.BootKernel(str(kernel), "bzimage", f"no PVH entry: {e.value}")
    assert message in caplog.text and "not through its PVH entry" in caplog.text
    with pytest.raises(pvh.KernelError):
        pvh.boot_kernel(str(kernel), "pvh", "tcg", str(tmp_path / "cache"))
    assert not os.path.exists(tmp_path / "cache" / "vmlinux") or os.listdir(tmp_path / "cache" / "vmlinux") == []


def test_boot_kernel_choices(unpacked):
    kernel, cache, path = unpacked
    assert pvh.boot_kernel(kernel, "auto", "tcg", cache).path == path
    assert pvh.boot_kernel(kernel, "auto", "kvm", cache) == pvh.BootKernel(
        kernel, "bzimage", "under kvm the kernel unpacks itself quickly")
    assert pvh.boot_kernel(kernel, "pvh", "kvm", cache).path == path
    assert pvh.boot_kernel(kernel, "bzimage", "tcg", cache).path == kernel


# --- the command line -------------------------------------------------------------------------------
def command_line(tmp_path, data: dict) -> list[str]:
    return VirtualMachine(profile_from_dict(data), run_dir=str(tmp_path / "run")).command_line()


@pytest.mark.parametrize("entry", ["auto", "pvh", "bzimage"])
def test_tcg_command_line_boots_the_vmlinux(tmp_path, entry, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    argv = command_line(tmp_path, {"accel": "tcg", "boot": {"command": "true", "kernel_entry": entry}})
    kernel = argv[argv.index("-kernel") + 1]
    if entry == "bzimage":
        assert kernel == initramfs.newest_kernel()
    else:
        assert kernel.startswith(str(tmp_path / "xdg" / "pvgpu" / "vmlinux") + "/") and kernel.endswith(".elf")
        assert pvh.pvh_entry_of_file(kernel) > 0
    assert argv[argv.index("-machine") + 1] == "q35,accel=tcg"


def test_kernel_entry_is_checked():
    with pytest.raises(ProfileError) as e:
        profile_from_dict({"boot": {"kernel_entry": "elf"}})
    assert "boot.kernel_entry" in str(e.value) and "'elf' is not one of auto, pvh, bzimage" in str(e.value)


def test_an_unwritable_cache_falls_back_to_the_bzimage(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="pvgpu.vm")
    kernel = initramfs.newest_kernel()
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")  # the cache "folder" is a file: nothing can be written under it
    with pytest.raises(pvh.KernelError) as e:
        pvh.vmlinux(kernel, str(blocker))
    assert "cannot write the unpacked kernel" in str(e.value)
    assert pvh.boot_kernel(kernel, "auto", "tcg", str(blocker)).path == kernel
    assert "cannot write the unpacked kernel" in caplog.text
