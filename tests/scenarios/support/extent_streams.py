"""Extent streams written and read in Python, for scenarios that play one end of a migration
themselves: a fake source sending straight to a receiver, a fake peer reading what a real
source sends. The wire format is copy/extent_stream.hpp's:

    header  "VMIGSTR1" | u64 volume size | u32 block size | u32 flags (0)
    header  "VMIGSTR2" | u64 volume size | u32 block size | u32 flags | u64 start | u64 end | u64 from
    record  u32 kind | u32 aux | u64 offset | u64 length, then DATA bytes or END's checksum text

The checksum is copy/checksum.hpp's content checksum (XXH3-128 of every non-zero 64 KiB chunk,
seeded with its index, summed modulo 2^128, finished with the size), computed through the
system's libxxhash (ctypes), so a stream built here is one a receiver verifies and accepts.
"""
import ctypes
import http.client
import struct

from volmig_lab import MiB

DATA, ZERO, END, ZDATA = 1, 2, 3, 4
MAGIC = b"VMIGSTR1"
MAGIC_V2 = b"VMIGSTR2"
HEADER_SIZE = RECORD_SIZE = 24
CHUNK = 64 << 10


class _Hash128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_xxhash = None


def _lib():
    global _xxhash
    if _xxhash is None:
        _xxhash = ctypes.CDLL("libxxhash.so.0")
        for name, args in (("XXH3_128bits", [ctypes.c_char_p, ctypes.c_size_t]),
                           ("XXH3_128bits_withSeed", [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64])):
            getattr(_xxhash, name).restype = _Hash128
            getattr(_xxhash, name).argtypes = args
    return _xxhash


def _sum(data_extents):
    lib = _lib()
    total = 0
    for offset, blob in data_extents:
        assert offset % CHUNK == 0, f"extent at {offset} is not on the 64 KiB grid"
        for pos in range(0, len(blob), CHUNK):
            chunk = blob[pos:pos + CHUNK]
            if chunk == bytes(len(chunk)):
                continue
            h = lib.XXH3_128bits_withSeed(chunk, len(chunk), (offset + pos) // CHUNK)
            total += (h.high64 << 64) | h.low64
    return total % (1 << 128)


def partial_checksum(data_extents):
    """The partial sum ("xxh3part:...") a v2 slice's END carries for `data_extents` ((offset,
    bytes) on the 64 KiB grid) and zeros elsewhere in the slice."""
    return "xxh3part:%032x" % _sum(data_extents)


def header_v2(size, start, end, from_, block_size=4096, flags=0):
    return MAGIC_V2 + struct.pack("<QIIQQQ", size, block_size, flags, start, end, from_)


def content_checksum(size, data_extents):
    """The checksum ("xxh3sum:...") of a volume of `size` bytes that holds `data_extents`
    ((offset, bytes), offsets on the 64 KiB grid, not overlapping) and zeros elsewhere."""
    lib = _lib()
    total = 0
    for offset, blob in data_extents:
        assert offset % CHUNK == 0, f"extent at {offset} is not on the 64 KiB grid"
        for pos in range(0, len(blob), CHUNK):
            chunk = blob[pos:pos + CHUNK]
            if chunk == bytes(len(chunk)):
                continue
            h = lib.XXH3_128bits_withSeed(chunk, len(chunk), (offset + pos) // CHUNK)
            total += (h.high64 << 64) | h.low64
    total %= 1 << 128
    material = struct.pack("<QQQ", total & ((1 << 64) - 1), total >> 64, size)
    h = lib.XXH3_128bits(material, len(material))
    return "xxh3sum:%016x%016x" % (h.high64, h.low64)


def header(size, block_size=4096, flags=0, magic=MAGIC):
    return magic + struct.pack("<QII", size, block_size, flags)


def record(kind, offset, length):
    return struct.pack("<IIQQ", kind, 0, offset, length)


def build_stream(size, data_extents, checksum=None):
    """A complete, valid stream of a volume of `size` bytes holding `data_extents` ((offset,
    bytes), sorted, on the 64 KiB grid) and zeros elsewhere: DATA records of at most 1 MiB, ZERO
    records for the gaps, END with the content checksum (or `checksum` if given, to lie)."""
    out = [header(size)]
    at = 0
    for offset, blob in data_extents:
        if offset > at:
            out.append(record(ZERO, at, offset - at))
        for pos in range(0, len(blob), MiB):
            piece = blob[pos:pos + MiB]
            out += [record(DATA, offset + pos, len(piece)), piece]
        at = offset + len(blob)
    if at < size:
        out.append(record(ZERO, at, size - at))
    text = (checksum or content_checksum(size, data_extents)).encode()
    out += [record(END, size, len(text)), text]
    return b"".join(out)


def end_checksum(stream):
    """(volume size, the checksum text END carries) of a complete stream; raises ValueError if
    the bytes are not one."""
    if len(stream) < HEADER_SIZE or stream[:8] != MAGIC:
        raise ValueError("not an extent stream (bad magic)")
    size = struct.unpack_from("<Q", stream, 8)[0]
    pos = HEADER_SIZE
    while pos + RECORD_SIZE <= len(stream):
        kind, _, offset, length = struct.unpack_from("<IIQQ", stream, pos)
        pos += RECORD_SIZE
        if kind == END:
            return size, stream[pos:pos + length].decode()
        if kind == DATA:
            pos += length
        elif kind != ZERO:
            raise ValueError(f"record of unknown kind {kind} at {offset}")
    raise ValueError("the stream has no END record")


def post_stream(daemon, volume_id, body, token):
    """POSTs `body` to the daemon's /volmig/v1/streams/<volume_id> as a source does (with
    X-Volmig-Stream-Token unless `token` is None); returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
    headers = {"Content-Type": "application/octet-stream", "X-Auth-Token": "lab"}
    if token is not None:
        headers["X-Volmig-Stream-Token"] = token
    conn.request("POST", f"/volmig/v1/streams/{volume_id}", body=body, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, raw.decode(errors="replace")


def prepare_receive(daemon, volume_id, source_volume="0f0f0f0f-0000-0000-0000-000000000001", strategy="sparse", full=False, **offer):
    """volmig-prepare_receive on `volume_id`, as a source on host-a would ask (`offer` adds
    stream v2 fields: streams, compression, data_bytes); returns the stream token, or the whole
    answer if `full`."""
    body = {"source_volume": source_volume, "source_host": "host-a@thin#thin", "strategy": strategy, "block_size": 4096}
    body.update(offer)
    answer = daemon.request("POST", f"/v3/volumes/{volume_id}/action", {"volmig-prepare_receive": body})
    if answer.get("stream_path") != f"/volmig/v1/streams/{volume_id}":
        raise AssertionError(f"volmig-prepare_receive answered {answer}")
    return answer if full else answer["stream_token"]
