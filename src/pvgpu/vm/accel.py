"""Which accelerator `accel = "auto"` gives a VM: KVM only where it runs an unmodified guest
at native speed, else TCG, decided from what the host shows (no probe boot).

/dev/kvm alone is not enough. Under the PVM hypervisor (module kvm_pvm, used in sandboxes
that offer KVM to a guest without nested VMX/SVM), /dev/kvm works but an unmodified guest
kernel runs one emulated instruction at a time, far slower than TCG; only a PVM-enabled guest
kernel runs at native speed there. A real KVM host has VMX (Intel) or SVM (AMD) in its CPU
flags and drives /dev/kvm with kvm_intel or kvm_amd.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import PvgpuError

PVM_MODULE = "kvm_pvm"
VENDOR_MODULES = {"vmx": "kvm_intel", "svm": "kvm_amd"}


@dataclass(frozen=True)
class AccelChoice:
    accel: str  # "kvm" or "tcg"
    reason: str

    def __str__(self) -> str:
        return f"{self.accel} ({self.reason})"


def cpu_virt_flags(proc: str = "/proc") -> set[str]:
    """The hardware virtualisation flags ('vmx', 'svm') of the first CPU in PROC/cpuinfo."""
    try:
        with open(os.path.join(proc, "cpuinfo"), errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "flags":
                    return set(value.split()) & set(VENDOR_MODULES)
    except OSError:
        pass
    return set()


def loaded_modules(proc: str = "/proc", sys: str = "/sys") -> set[str]:
    """Kernel modules seen in PROC/modules or as SYS/module/NAME (the latter also lists built-in
    ones with parameters; some sandboxes have no /proc/modules at all)."""
    names: set[str] = set()
    try:
        with open(os.path.join(proc, "modules"), errors="replace") as f:
            names.update(line.split()[0] for line in f if line.strip())
    except OSError:
        pass
    try:
        names.update(os.listdir(os.path.join(sys, "module")))
    except OSError:
        pass
    return names


def kvm_usable(dev: str = "/dev") -> tuple[bool, str]:
    """(usable, why not) for DEV/kvm."""
    path = os.path.join(dev, "kvm")
    if not os.path.exists(path):
        return False, f"{path} does not exist (no KVM on this host)"
    if not os.access(path, os.R_OK | os.W_OK):
        return False, f"{path} is not readable and writable by this user (add the user to the kvm group)"
    return True, ""


def detect(proc: str = "/proc", sys: str = "/sys", dev: str = "/dev") -> AccelChoice:
    """What `accel = "auto"` picks on the host whose /proc, /sys and /dev are these folders."""
    usable, why_not = kvm_usable(dev)
    if not usable:
        return AccelChoice("tcg", why_not)
    flags = cpu_virt_flags(proc)
    modules = loaded_modules(proc, sys)
    kvm = os.path.join(dev, "kvm")
    if PVM_MODULE in modules:
        cpu = "no VMX/SVM in the CPU flags" if not flags else f"{'/'.join(sorted(flags)).upper()} in the CPU flags"
        return AccelChoice("tcg", f"{kvm} is the PVM hypervisor ({PVM_MODULE}), {cpu}; only a PVM-enabled guest "
                                  f"kernel would run at native speed")
    if not flags:
        return AccelChoice("tcg", f"{kvm} exists but there is no VMX/SVM in the CPU flags, so KVM cannot run an "
                                  f"unmodified guest at native speed here")
    flag = sorted(flags)[0]
    module = VENDOR_MODULES[flag]
    loaded = f", {module} loaded" if module in modules else ""
    return AccelChoice("kvm", f"{kvm} is usable and the CPU has {flag.upper()}{loaded}")


def choose(requested: str, proc: str = "/proc", sys: str = "/sys", dev: str = "/dev") -> AccelChoice:
    """The accelerator for a profile's `accel` ('auto', 'kvm' or 'tcg'). An explicit 'kvm' is
    used as asked (where /dev/kvm is usable), even where 'auto' would not pick it."""
    if requested == "tcg":
        return AccelChoice("tcg", "accel = \"tcg\" in the profile")
    if requested == "kvm":
        usable, why_not = kvm_usable(dev)
        if not usable:
            raise PvgpuError(f"accel = \"kvm\" in the profile, but {why_not}; use accel = \"auto\" or \"tcg\"")
        auto = detect(proc, sys, dev)
        note = "" if auto.accel == "kvm" else f"; note: auto would pick tcg here: {auto.reason}"
        return AccelChoice("kvm", f"accel = \"kvm\" in the profile{note}")
    if requested != "auto":
        raise PvgpuError(f"unknown accel {requested!r} (auto, kvm or tcg)")
    return detect(proc, sys, dev)
