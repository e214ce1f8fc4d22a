"""Boot the kernel pair in QEMU with the lab's devices and capture what happened.

Per-architecture settings are data (as in the kernel's kunit.py `qemu_configs`).
The console (serial 0) goes to a file; the result channel (serial 1) is one end of
a socket pair whose other end only this process holds, so the host can answer the
guest's runner (grader.evidence.channel) and time what arrives. The run has a hard
wall-clock timeout after which QEMU is killed, so a hanging driver never hangs the
grader. KVM is used when /dev/kvm actually works, TCG otherwise.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import paths
from grader.errors import KdlabError
from grader.evidence.channel import Conversation
from grader.util import kill_group, start_group


class QemuError(KdlabError):
    """QEMU cannot run here as asked (not installed, KVM demanded but not working)."""


KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01


@dataclass(frozen=True)
class Machine:
    """How to start one architecture's VM."""

    qemu: str
    machine: str
    cpu_tcg: str
    console: str
    extra: tuple[str, ...] = ()


MACHINES: dict[str, Machine] = {
    "x86_64": Machine(
        qemu="qemu-system-x86_64",
        machine="q35",
        cpu_tcg="qemu64",
        console="ttyS0",
        # qboot boots faster than SeaBIOS (kunit.py uses it too).
        extra=("-bios", "qboot.rom"),
    ),
}

#: Kernel command line shared by every run. panic=-1 reboots at once on panic and
#: -no-reboot turns that into QEMU exiting; oops=panic ends a broken run at once;
#: the soft-lockup watchdog (watchdog_thresh=1: about 2 s) catches a spinning driver.
#: The rest is boot speed under TCG, where every console byte is a trap: quiet boot
#: (the guest init raises the log level before loading the module), two serial
#: ports probed instead of four, no PS/2 keyboard and mouse.
BASE_CMDLINE = (
    "panic=-1 oops=panic softlockup_panic=1 watchdog_thresh=1 hung_task_panic=1 "
    "quiet printk.time=1 8250.nr_uarts=2 i8042.nokbd i8042.noaux"
)


def _kvm_device_ok() -> bool:
    """/dev/kvm opens and creates a VM."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != 12:
            return False
        os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _kvm_qemu_ok(arch: str = "x86_64", settle_s: float = 1.5) -> bool:
    """QEMU really runs a vCPU under KVM (nested setups can open /dev/kvm, then fail to
    set up the CPU): start firmware with nothing to boot; still running = it works."""
    machine = MACHINES[arch]
    proc = subprocess.Popen(
        [machine.qemu, "-M", machine.machine, "-accel", "kvm", "-cpu", "host", "-m", "64",
         "-nodefaults", "-display", "none", "-no-reboot", *machine.extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=settle_s)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


def kvm_usable() -> bool:
    """True when KVM works for QEMU here. The answer is remembered per machine boot."""
    if not _kvm_device_ok():
        return False
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    memo = paths.cache_root() / f"kvm-{boot_id}"
    if memo.is_file():
        return memo.read_text() == "yes"
    usable = _kvm_qemu_ok()
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text("yes" if usable else "no")
    return usable


@dataclass
class RunSpec:
    """Everything one boot needs."""

    kernel: Path
    initrd: Path
    workdir: Path
    devices: tuple[str, ...] = ()
    memory_mb: int = 256
    cpus: int = 1
    timeout_s: float = 60.0
    kvm: bool = False
    cmdline: str = ""
    trace_events: tuple[str, ...] = ()
    arch: str = "x86_64"
    #: The host's side of the result channel; a fresh one (fresh secret) per run.
    channel: Conversation = field(default_factory=Conversation)


@dataclass
class RunOutput:
    """What came out of one boot: the console, and the result channel's conversation."""

    console: str
    channel: Conversation
    exit_code: int | None
    timed_out: bool
    seconds: float
    accel: str
    trace_file: Path | None = None
    command: list[str] = field(default_factory=list)


def command(spec: RunSpec, channel_fd: int) -> list[str]:
    """The QEMU command line for a run (exposed for tests and for `--verbose`);
    `channel_fd` is QEMU's end of the result channel's socket pair."""
    machine = MACHINES[spec.arch]
    cmd = [
        machine.qemu, "-M", machine.machine, "-m", str(spec.memory_mb),
        "-smp", str(spec.cpus),
        "-nodefaults", "-display", "none", "-no-reboot",
        *machine.extra,
        "-kernel", str(spec.kernel), "-initrd", str(spec.initrd),
        "-append", f"console={machine.console} {BASE_CMDLINE} {spec.cmdline}".strip(),
        "-serial", f"file:{spec.workdir / 'console.log'}",
        "-chardev", f"socket,id=results,fd={channel_fd}", "-serial", "chardev:results",
    ]
    cmd += ["-accel", "kvm", "-cpu", "host"] if spec.kvm else ["-accel", "tcg", "-cpu",
                                                                 machine.cpu_tcg]
    for device in spec.devices:
        cmd += ["-device", device]
    if spec.trace_events:
        for event in spec.trace_events:
            cmd += ["-trace", f"{event},file={spec.workdir / 'trace.log'}"]
    return cmd


def _read(path: Path, limit: int) -> str:
    """Read at most `limit` bytes (a printk flood must not exhaust the grader's memory)."""
    if not path.is_file():
        return ""
    with path.open("rb") as stream:
        data = stream.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        text += f"\n[kdlab: output cut at {limit} bytes]\n"
    return text


#: QEMU's own messages kept (its stderr: a missing firmware, a bad -device...).
OUTPUT_TAIL = 64 * 1024


def _converse(proc: subprocess.Popen, host: socket.socket, channel: Conversation,
              deadline: float) -> bytes:
    """Serve the result channel until QEMU exits or the deadline passes; QEMU's own
    output (stdout and stderr) is returned. Raises TimeoutError at the deadline."""
    assert proc.stdout is not None
    out = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(host, selectors.EVENT_READ)
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            for key, _ in sel.select(timeout=min(left, 1.0)):
                if key.fileobj is host:
                    try:
                        chunk = host.recv(65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(host)
                    elif reply := channel.feed(chunk):
                        host.sendall(reply)
                else:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        sel.unregister(proc.stdout)
                    elif len(out) < OUTPUT_TAIL:
                        out += chunk
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as err:
        raise TimeoutError from err
    finally:
        sel.close()
    return bytes(out)


def run(spec: RunSpec, output_limit: int = 4 << 20) -> RunOutput:
    """Boot once; never raises for guest behaviour, only when QEMU cannot start at all."""
    if shutil.which(MACHINES[spec.arch].qemu) is None:
        raise QemuError(f"{MACHINES[spec.arch].qemu} is missing (Debian package "
                        "qemu-system-x86)")
    spec.workdir.mkdir(parents=True, exist_ok=True)
    host, guest = socket.socketpair()
    cmd = command(spec, guest.fileno())
    started = time.monotonic()
    try:
        proc = start_group(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, pass_fds=(guest.fileno(),))
    finally:
        guest.close()
    timed_out = False
    with host:
        try:
            out = _converse(proc, host, spec.channel, started + spec.timeout_s)
        except TimeoutError:
            timed_out = True
            kill_group(proc)
            out = proc.communicate()[0] or b""
    seconds = time.monotonic() - started
    console = _read(spec.workdir / "console.log", output_limit)
    if out:
        console += "\n[qemu] " + out.decode(errors="replace")[-2000:]
    trace = spec.workdir / "trace.log"
    return RunOutput(
        console=console,
        channel=spec.channel,
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        seconds=seconds,
        accel="kvm" if spec.kvm else "tcg",
        trace_file=trace if trace.is_file() else None,
        command=cmd,
    )
