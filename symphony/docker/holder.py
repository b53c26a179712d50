"""The image a process group's network-namespace holder runs: Symphony's own, made on the engine.

A group's holder (Kubernetes' pause container) only has to exist: it owns the group's
network namespace until delete. It used to run ``/bin/sh`` from the first member's image,
so a group whose image has no shell could not launch. Instead, every holder runs
:data:`HOLDER_IMAGE`, which Symphony makes itself with the engine's image import from a
tarball holding one file: ``/pause``, a static program of a few dozen bytes that waits for
signals and does nothing else. Its ELF file is written here, byte by byte, for x86_64 and
aarch64 (the two architectures Docker engines run on in practice), so nothing is pulled,
compiled or copied from the host: it works offline on any engine.

* The image is content-addressed: its tag is a hash of every architecture's program, so
  a Symphony whose program changes makes (and uses) a new image, never a stale one.
* It is made once per engine, on the first launch of an experiment with a group, and
  kept (it is under 1 KB): ``delete`` leaves it, as images are not an experiment's.
* SIGTERM ends it: holders run with Docker's init as PID 1 (``init=True``, as every
  Symphony container), which forwards the signal to ``/pause``, whose default action is
  to terminate (a program that is not PID 1 needs no handler for that).
"""

import hashlib
import io
import json
import struct

#: where the program is in the image
HOLDER_PROGRAM = "/pause"
#: what a holder runs (its whole argv: the image has nothing else)
HOLDER_ENTRYPOINT = [HOLDER_PROGRAM]
HOLDER_COMMAND = []
#: the label that tells Symphony's holder images apart from the user's
LABEL_HOLDER_IMAGE = "symphony.holder-image"

_LOAD_ADDRESS = 0x400000
_EHDR_SIZE, _PHDR_SIZE = 64, 56

#: machine code of "forever: wait for a signal" and the ELF machine number, per architecture
#: (Docker's and the kernel's names for it)
_PROGRAMS = {
    # x86_64: loop: mov eax, 34 (pause); syscall; jmp loop
    "x86_64": (0x3E, bytes.fromhex("b822000000" "0f05" "ebf7")),
    # aarch64 has no pause(2): loop: ppoll(NULL, 0, NULL, NULL, 0), which waits for a signal
    # mov x0..x4, #0; mov x8, #73 (ppoll); svc #0; b loop
    "aarch64": (0xB7, b"".join(struct.pack("<I", word) for word in (
        0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003, 0xD2800004, 0xD2800928, 0xD4000001, 0x17FFFFF9))),
}
#: Docker's ``Architecture`` (from ``docker info``/``version``) -> the kernel's name above
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def kernel_architecture(architecture):
    """Docker's name of an architecture (``amd64``, ``arm64``, ...) -> the kernel's (``x86_64``, ``aarch64``),
    or None for one Symphony writes no programs for."""
    return _ARCHITECTURES.get((architecture or "").lower())


def elf_executable(machine, code):
    """A static ELF executable of one PT_LOAD segment whose entry point is ``code``'s first byte
    (``machine``: the ELF machine number). Used for every program Symphony writes itself."""
    size = _EHDR_SIZE + _PHDR_SIZE + len(code)
    entry = _LOAD_ADDRESS + _EHDR_SIZE + _PHDR_SIZE
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)    # 64-bit, little-endian, ELF v1, System V ABI
    header = ident + struct.pack("<HHIQQQIHHHHHH",
                                 2, machine, 1,             # ET_EXEC, machine, EV_CURRENT
                                 entry, _EHDR_SIZE, 0,      # entry point, program headers, no section headers
                                 0, _EHDR_SIZE, _PHDR_SIZE, 1, 64, 0, 0)
    # one PT_LOAD segment, read + execute, mapping the whole file (64 KiB alignment suits every page size)
    segment = struct.pack("<IIQQQQQQ", 1, 5, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, size, size, 0x10000)
    return header + segment + code


#: ELF machine numbers of the kernel's architecture names
ELF_MACHINES = {"x86_64": 0x3E, "aarch64": 0xB7}


def holder_program(architecture):
    """The static ELF executable ``/pause`` for ``architecture`` (x86_64/amd64, aarch64/arm64)."""
    try:
        machine, code = _PROGRAMS[_ARCHITECTURES[architecture.lower()]]
    except KeyError:
        raise ValueError(f"no holder program for architecture {architecture!r}") from None
    return elf_executable(machine, code)


#: the holders' image: the tag names the programs' content
HOLDER_IMAGE = "symphony-holder:" + hashlib.sha256(
    b"".join(holder_program(arch) for arch in sorted(_PROGRAMS))).hexdigest()[:12]


def holder_tarball(architecture):
    """A tar archive with only ``/pause`` (mode 0755), for ``docker import``."""
    import tarfile  # only a launch that makes the image needs it, not every import of the plan
    program = holder_program(architecture)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(HOLDER_PROGRAM.lstrip("/"))
        info.size, info.mode, info.mtime = len(program), 0o755, 0
        archive.addfile(info, io.BytesIO(program))
    return buffer.getvalue()


def ensure_holder_image(client):
    """Make :data:`HOLDER_IMAGE` on the engine of ``client`` unless it is there already.

    Raises :class:`~symphony.errors.LaunchError` in one line if the engine's architecture
    has no holder program.
    """
    from ..engines.docker_api import docker_sdk
    from ..errors import LaunchError
    errors = docker_sdk().errors
    try:
        client.images.get(HOLDER_IMAGE)
        return
    except errors.ImageNotFound:
        pass
    architecture = client.version().get("Arch", "") or client.info().get("Architecture", "")
    try:
        tarball = holder_tarball(architecture)
    except ValueError:
        raise LaunchError(f"process groups on Docker need Symphony's holder image, which exists for x86_64 and "
                          f"aarch64 engines only, not {architecture or 'this engine'!r}: declare the group's "
                          f"processes as standalone processes") from None
    repository, tag = HOLDER_IMAGE.split(":")
    try:
        client.api.import_image_from_data(
            tarball, repository=repository, tag=tag,
            changes=[f"ENTRYPOINT {json.dumps(HOLDER_ENTRYPOINT)}", f"LABEL {LABEL_HOLDER_IMAGE}=1"])
    except errors.APIError as exc:
        raise LaunchError(f"cannot make Symphony's holder image {HOLDER_IMAGE} for process groups: "
                          f"{' '.join(str(exc.explanation or exc).split())}: check that the Docker engine "
                          f"can import images (docker import)") from None

