"""The sandbox worker's confinement: a new root, dropped privileges, rlimits, seccomp.

Runs inside the sandbox, loaded by ``_worker.py`` from this file before anything is
hidden; standard library only (ctypes for mount(2), pivot_root(2) and prctl(2)).
Everything here runs before any user code, with the privileges the worker started
with inside its user namespace.
"""

from __future__ import annotations

import contextlib
import os
import resource
import stat
from typing import Any

__all__ = ["confine"]

# Linux mount flags (linux/mount.h); the stdlib has no mount(2).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
ST_FLAGS = {  # statvfs f_flag bits -> mount flags that must be kept on a bind remount
    1: MS_RDONLY,
    2: MS_NOSUID,
    4: MS_NODEV,
    8: MS_NOEXEC,
}

_DEVICES = ("null", "zero", "full", "random", "urandom")


_libc_handle: list[Any] = []


def _libc() -> Any:
    # Imported here: the first stage (before the re-exec) has no use for ctypes. The
    # soname is tried first: ctypes.util.find_library runs ldconfig, ~70 ms per start.
    if not _libc_handle:
        import ctypes

        try:
            _libc_handle.append(ctypes.CDLL("libc.so.6", use_errno=True))
        except OSError:
            import ctypes.util

            _libc_handle.append(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True))
    return _libc_handle[0]


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc: Any, source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    import ctypes

    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def _bind(
    libc: Any, fds: dict[str, int], source: str, target: str, writable: bool, device: bool = False
) -> None:
    if stat.S_ISDIR(os.fstat(fds[source]).st_mode):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    # Through the descriptor opened before the new root covered anything (the source may be under it).
    _mount(libc, f"/proc/self/fd/{fds[source]}", target, None, MS_BIND | MS_REC, None)
    # A bind mount inherits the source's flags; a user namespace may add flags but never
    # clear the ones it inherited (the kernel refuses), hence the source's flags are kept.
    kept = 0
    st = os.statvfs(target)
    for bit, flag in ST_FLAGS.items():
        if st.f_flag & bit:
            kept |= flag
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | kept | (0 if device else MS_NODEV)
    if not writable:
        flags |= MS_RDONLY
    _mount(libc, "none", target, None, flags, None)


def _build_root(plan: dict[str, Any]) -> None:
    """Make a fresh root on a tmpfs holding only what the plan names, and pivot into it."""
    libc = _libc()
    new_root = plan["new_root"]
    sources = [*plan["readonly"], plan["directory"], *(f"/dev/{d}" for d in _DEVICES)]
    fds = {source: os.open(source, os.O_PATH | os.O_CLOEXEC) for source in sources}
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE, None)
    _mount(libc, "tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    for link, target in plan.get("symlinks", {}).items():
        path = new_root + link
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
    # The private /tmp first: a read-only path under /tmp (a virtualenv made there) is bound on top of it.
    os.makedirs(new_root + "/tmp", exist_ok=True)
    tmp_size = plan["tmp_bytes"]
    _mount(libc, "tmpfs", new_root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_size},mode=1777")
    for source in plan["readonly"]:
        _bind(libc, fds, source, new_root + source, writable=False)
    for name, text in plan.get("files", {}).items():
        path = new_root + name
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
    for dev in _DEVICES:
        _bind(libc, fds, "/dev/" + dev, new_root + "/dev/" + dev, writable=True, device=True)
    os.makedirs(new_root + "/dev/shm", exist_ok=True)
    workdir = new_root + plan["workdir"]
    _bind(libc, fds, plan["directory"], workdir, writable=True)
    _mount(
        libc, "tmpfs", new_root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_size // 4},mode=1777"
    )
    os.makedirs(new_root + "/proc", exist_ok=True)
    # Our own pid namespace's /proc: the host's processes are not in it. A container that
    # masks parts of its /proc forbids a new one (EPERM): the code then runs without /proc.
    with contextlib.suppress(OSError):
        _mount(libc, "proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    old = new_root + "/.old_root"
    os.makedirs(old, exist_ok=True)
    _check(libc.syscall(155, new_root.encode(), old.encode()), "pivot_root")  # SYS_pivot_root, x86-64
    os.chdir("/")
    _check(libc.umount2(b"/.old_root", MNT_DETACH), "umount old root")
    os.rmdir("/.old_root")
    for fd in fds.values():
        os.close(fd)
    _mount(libc, "none", "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


# seccomp: a deny-list on x86-64, set after the privileges are dropped. The namespaces and
# the lack of capabilities already refuse most of these; the filter takes the kernel's
# riskier interfaces away from the code altogether (defence in depth, not the boundary).
_DENIED = {
    101: "ptrace",
    103: "syslog",
    134: "uselib",
    153: "vhangup",
    155: "pivot_root",
    161: "chroot",
    163: "acct",
    165: "mount",
    166: "umount2",
    167: "swapon",
    168: "swapoff",
    169: "reboot",
    172: "iopl",
    173: "ioperm",
    175: "init_module",
    176: "delete_module",
    179: "quotactl",
    246: "kexec_load",
    248: "add_key",
    249: "request_key",
    250: "keyctl",
    272: "unshare",
    298: "perf_event_open",
    303: "name_to_handle_at",
    304: "open_by_handle_at",
    308: "setns",
    310: "process_vm_readv",
    311: "process_vm_writev",
    313: "finit_module",
    320: "kexec_file_load",
    321: "bpf",
    323: "userfaultfd",
    425: "io_uring_setup",
    426: "io_uring_enter",
    427: "io_uring_register",
    428: "open_tree",
    429: "move_mount",
    430: "fsopen",
    431: "fsconfig",
    432: "fsmount",
    433: "fspick",
    442: "mount_setattr",
}
_SYS_CLONE, _SYS_CLONE3 = 56, 435
_CLONE_NAMESPACES = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_AUDIT_ARCH_X86_64 = 0xC000003E
_RET_ALLOW, _RET_ERRNO, _RET_KILL = 0x7FFF0000, 0x00050000, 0x80000000
_EPERM, _ENOSYS = 1, 38


def _seccomp() -> bool:
    """Install the filter; ``False`` where it cannot be (another architecture, an old kernel)."""
    import ctypes
    import platform

    if platform.machine() != "x86_64":
        return False
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|..|K, BPF_RET|K
    prog: list[tuple[int, int, int, int]] = [  # (code, jump if true, jump if false, k)
        (ld, 0, 0, 4),  # 0: the architecture
        (jeq, 1, 0, _AUDIT_ARCH_X86_64),  # 1
        (ret, 0, 0, _RET_KILL),  # 2: another ABI's numbers mean other calls: no
        (ld, 0, 0, 0),  # 3: the syscall number
        (jge, 0, 1, 0x40000000),  # 4: the x32 ABI
        (ret, 0, 0, _RET_ERRNO | _EPERM),  # 5
        # clone3 passes its flags in memory a filter cannot read: ENOSYS makes the C
        # library fall back to clone, whose flags are checked below.
        (jeq, 0, 1, _SYS_CLONE3),  # 6
        (ret, 0, 0, _RET_ERRNO | _ENOSYS),  # 7
        (jeq, 0, 4, _SYS_CLONE),  # 8: not clone -> 13
        (ld, 0, 0, 16),  # 9: clone's flags (the low word of args[0])
        (jset, 0, 1, _CLONE_NAMESPACES),  # 10
        (ret, 0, 0, _RET_ERRNO | _EPERM),  # 11: a new namespace
        (ret, 0, 0, _RET_ALLOW),  # 12: a plain fork or thread
        (ld, 0, 0, 0),  # 13: the number again
    ]
    for nr in _DENIED:
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, _RET_ERRNO | _EPERM)]
    prog.append((ret, 0, 0, _RET_ALLOW))

    class SockFilter(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint),
        ]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    filters = (SockFilter * len(prog))(*(SockFilter(*ins) for ins in prog))
    fprog = SockFprog(len(prog), filters)
    pr_set_seccomp, seccomp_mode_filter = 22, 2
    libc = _libc()
    return bool(libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) == 0)


def confine(setup: dict[str, Any]) -> bool:
    """Build the filesystem view (namespaces), drop privileges, set the limits and the filter;
    ``True`` when the seccomp filter is in force."""
    plan = setup.get("plan")
    if plan is not None:
        _build_root(plan)
        try:  # no nested user namespaces: they would hand the code a fresh set of capabilities
            with open("/proc/sys/user/max_user_namespaces", "w") as fh:
                fh.write("0")
        except OSError:
            pass
        uid = setup.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # from uid 0 to another: every capability is dropped
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.chdir(setup["cwd"])
    for name, value in setup["rlimits"].items():
        limit = getattr(resource, name)
        # CPU: the soft limit sends SIGXCPU (its default action ends the process, and the
        # supervisor reports it as such); the hard one, a second later, SIGKILL.
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(limit, (value, hard))
    os.environ.clear()
    os.environ.update(setup["env"])
    return _seccomp() if setup.get("seccomp", True) else False
