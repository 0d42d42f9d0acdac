"""Minimal byte-level HDF5 walker for the golden files (superblock v0, v1 object headers,
symbol-table groups). Used by make_saving_golden.py to document the exact on-disk encoding a
Rust writer/reader has to produce/accept. Pure Python, no h5py needed; only handles the subset
of HDF5 that h5py writes with default (earliest) libver bounds.
"""
import struct

MSG_NAMES = {0x0: "NIL", 0x1: "dataspace", 0x2: "link-info", 0x3: "datatype", 0x4: "fill-value-old",
             0x5: "fill-value", 0x6: "link", 0x7: "external-files", 0x8: "layout", 0x9: "bogus",
             0xA: "group-info", 0xB: "filter-pipeline", 0xC: "attribute", 0xD: "comment",
             0xE: "mtime-old", 0xF: "shared-msg-table", 0x10: "continuation", 0x11: "symbol-table",
             0x12: "mtime", 0x13: "btree-k", 0x14: "driver-info", 0x15: "attribute-info",
             0x16: "refcount"}


def u(b, off, n):
    return int.from_bytes(b[off:off + n], "little")


def pad8(n):
    return (n + 7) & ~7


def datatype_desc(b, off):
    cv = b[off]
    cls, ver = cv & 0x0F, cv >> 4
    bits = b[off + 1] | (b[off + 2] << 8) | (b[off + 3] << 16)
    size = u(b, off + 4, 4)
    if cls == 3:
        pad = ["NULLTERM", "NULLPAD", "SPACEPAD"][bits & 0xF] if (bits & 0xF) < 3 else bits & 0xF
        cset = ["ASCII", "UTF-8"][(bits >> 4) & 0xF] if ((bits >> 4) & 0xF) < 2 else "?"
        return f"dt(v{ver} string fixed size={size} {pad} {cset})", 8
    if cls == 9:
        kind = "string" if (bits & 0xF) == 1 else "sequence"
        pad = ["NULLTERM", "NULLPAD", "SPACEPAD"][(bits >> 4) & 0xF]
        cset = ["ASCII", "UTF-8"][(bits >> 8) & 0xF]
        base, blen = datatype_desc(b, off + 8)
        return f"dt(v{ver} vlen {kind} {pad} {cset} size={size} base={base})", 8 + blen
    if cls == 0:
        order = "BE" if bits & 1 else "LE"
        sign = "signed" if bits & 8 else "unsigned"
        boff, prec = u(b, off + 8, 2), u(b, off + 10, 2)
        return f"dt(v{ver} fixed-point {sign} {order} size={size} bitoff={boff} prec={prec} bits={bits:#x})", 12
    if cls == 1:
        order = "BE" if bits & 1 else "LE"
        p = struct.unpack_from("<HHBBBBI", b, off + 8)
        return (f"dt(v{ver} float {order} size={size} bits={bits:#x} bitoff={p[0]} prec={p[1]} "
                f"exploc={p[2]} expsize={p[3]} mantloc={p[4]} mantsize={p[5]} bias={p[6]})"), 20
    return f"dt(v{ver} class {cls} size={size})", 8


def dataspace_desc(b, off):
    ver, rank, flags = b[off], b[off + 1], b[off + 2]
    if ver == 1:
        dims = [u(b, off + 8 + 8 * i, 8) for i in range(rank)]
        mx = ""
        if flags & 1:
            mx = " max=" + str([u(b, off + 8 + 8 * rank + 8 * i, 8) for i in range(rank)])
        return f"ds(v1 rank={rank} flags={flags} dims={dims}{mx})"
    typ = b[off + 3]
    dims = [u(b, off + 4 + 8 * i, 8) for i in range(rank)]
    return f"ds(v{ver} rank={rank} flags={flags} type={['scalar','simple','null'][typ]} dims={dims})"


def message_desc(b, mtype, off, size):
    if mtype == 0x1:
        return dataspace_desc(b, off)
    if mtype == 0x3:
        return datatype_desc(b, off)[0]
    if mtype == 0x5:
        ver = b[off]
        if ver in (1, 2):
            at, ft, fd = b[off + 1], b[off + 2], b[off + 3]
            extra = f" fill_size={u(b, off + 4, 4)}" if (ver == 1 or fd) else ""
            return f"fill(v{ver} alloc_time={at} fill_time={ft} defined={fd}{extra})"
        flags = b[off + 1]
        return f"fill(v{ver} flags={flags:#x})"
    if mtype == 0x8:
        ver, cls = b[off], b[off + 1]
        if ver == 3 and cls == 1:
            return f"layout(v3 contiguous addr={u(b, off + 2, 8)} size={u(b, off + 10, 8)})"
        if ver == 3 and cls == 0:
            return f"layout(v3 compact size={u(b, off + 2, 2)})"
        return f"layout(v{ver} class={cls})"
    if mtype == 0x11:
        return f"symtab(btree={u(b, off, 8)} heap={u(b, off + 8, 8)})"
    if mtype == 0x10:
        return f"continuation(addr={u(b, off, 8)} len={u(b, off + 8, 8)})"
    if mtype == 0x12:
        return f"mtime(v{b[off]} secs={u(b, off + 4, 4)})"
    if mtype == 0xC:
        ver = b[off]
        nlen, dtlen, dslen = u(b, off + 2, 2), u(b, off + 4, 2), u(b, off + 6, 2)
        if ver == 1:
            p = off + 8
            name = b[p:p + nlen - 1].decode()
            p += pad8(nlen)
            dt = datatype_desc(b, p)[0]
            p += pad8(dtlen)
            ds = dataspace_desc(b, p)
            p += pad8(dslen)
            return (f"attr(v1 name={name!r} name_size={nlen} dt_size={dtlen} ds_size={dslen} "
                    f"{dt} {ds} data_bytes={off + size - p})")
        return f"attr(v{ver})"
    return ""


def parse_object_header(b, addr):
    """Return (version, [(type, size, flags, desc)], header facts) for a v1 or v2 object header."""
    if b[addr:addr + 4] == b"OHDR":
        return 2, [], {"note": "v2 header (not parsed)"}
    ver = b[addr]
    nmsgs = u(b, addr + 2, 2)
    refc = u(b, addr + 4, 4)
    hsize = u(b, addr + 8, 4)
    blocks = [(addr + 16, hsize)]
    msgs = []
    while blocks and len(msgs) < nmsgs:
        start, length = blocks.pop(0)
        p = start
        while p < start + length and len(msgs) < nmsgs:
            mtype, msize, mflags = u(b, p, 2), u(b, p + 2, 2), b[p + 4]
            d = message_desc(b, mtype, p + 8, msize)
            msgs.append((MSG_NAMES.get(mtype, hex(mtype)), msize, mflags, d))
            if mtype == 0x10:
                blocks.append((u(b, p + 8, 8), u(b, p + 16, 8)))
            p += 8 + msize
    return ver, msgs, {"refcount": refc, "header_size": hsize, "nmsgs": nmsgs}


def walk_bytes(b):
    """Walk a superblock-v0 file purely from bytes. Returns (lines, blocks) where blocks is a
    list of (addr, size, kind) for the layout map."""
    lines, blocks = [], []
    assert b[:8] == b"\x89HDF\r\n\x1a\n"
    assert b[8] == 0, "only superblock v0 handled"
    blocks.append((0, 96, "superblock v0 (incl. root symbol table entry)"))
    root_entry = 56
    seen_heaps = {}

    def heap_name(heap_addr, off):
        assert b[heap_addr:heap_addr + 4] == b"HEAP"
        data_addr = u(b, heap_addr + 24, 8)
        s = b[data_addr + off:b.index(b"\0", data_addr + off)]
        return s.decode()

    def entry(p):
        return {"name_off": u(b, p, 8), "ohdr": u(b, p + 8, 8), "cache": u(b, p + 16, 4),
                "btree": u(b, p + 24, 8), "heap": u(b, p + 32, 8)}

    def group_children(btree, heap):
        out = []
        if heap not in seen_heaps:
            hsz, free, data = u(b, heap + 8, 8), u(b, heap + 16, 8), u(b, heap + 24, 8)
            seen_heaps[heap] = 1
            blocks.append((heap, 32, f"local heap header (HEAP v{b[heap + 4]}, data seg size {hsz}, "
                                     f"free list off {free if free != 2**64 - 1 else 'UNDEF'})"))
            blocks.append((data, hsz, "local heap data segment"))
        stack = [btree]
        while stack:
            node = stack.pop(0)
            assert b[node:node + 4] == b"TREE", node
            ntype, level, used = b[node + 4], b[node + 5], u(b, node + 6, 2)
            # group B-tree: keys are 8-byte heap offsets, children 8-byte addresses; 2K+1 keys
            blocks.append((node, 24 + (2 * 16 + 1) * 8 + 2 * 16 * 8,
                           f"v1 B-tree node (type {ntype}, level {level}, {used} entries used; "
                           f"sized for group internal K=16)"))
            p = node + 24
            for i in range(used):
                child = u(b, p + 8, 8)
                p += 16
                if level > 0:
                    stack.append(child)
                else:
                    assert b[child:child + 4] == b"SNOD"
                    nsym = u(b, child + 6, 2)
                    blocks.append((child, 8 + 2 * 4 * 40, f"symbol table node SNOD v{b[child + 4]} "
                                                          f"({nsym} symbols, capacity 2*leafK=8)"))
                    for j in range(nsym):
                        out.append(entry(child + 8 + 40 * j))
        return out

    def visit(name, ent, depth):
        ind = "  " * depth
        addr = ent["ohdr"]
        ver, msgs, facts = parse_object_header(b, addr)
        blocks.append((addr, 16 + facts["header_size"], f"object header v{ver} for {name or '/'}"))
        for m in msgs:
            if m[0] == "continuation":
                ca, cl = [int(x.split("=")[1]) for x in m[3][len("continuation("):-1].split()]
                blocks.append((ca, cl, f"object header continuation block for {name or '/'}"))
            if m[0] == "layout" and "contiguous" in m[3]:
                parts = dict(kv.split("=") for kv in m[3][len("layout(v3 contiguous "):-1].split())
                blocks.append((int(parts["addr"]), int(parts["size"]), f"raw data of {name}"))
        cache = {0: "no cache", 1: f"cache=1 (btree={ent['btree']}, heap={ent['heap']})"}.get(ent["cache"], ent["cache"])
        lines.append(f"{ind}{name or '/'} @ {addr}: object header v{ver}, {facts['nmsgs']} msgs, "
                     f"first block {facts['header_size']} bytes; symbol-table entry {cache}")
        for m in msgs:
            lines.append(f"{ind}    msg {m[0]} size={m[1]} flags={m[2]}" + (f": {m[3]}" if m[3] else ""))
        for m in msgs:
            if m[0] == "symbol-table":
                kv = dict(x.split("=") for x in m[3][len("symtab("):-1].split())
                kids = group_children(int(kv["btree"]), int(kv["heap"]))
                for k in kids:
                    visit(heap_name(int(kv["heap"]), k["name_off"]), k, depth + 1)

    visit("", entry(root_entry), 0)
    return lines, blocks


def global_heaps(b):
    """Find GCOL collections by scanning 8-aligned offsets (fine for these small files)."""
    out = []
    p = b.find(b"GCOL")
    while p != -1:
        size = u(b, p + 8, 8)
        objs = []
        q = p + 16
        while q + 16 <= p + size:
            idx, refc, osz = u(b, q, 2), u(b, q + 2, 2), u(b, q + 8, 8)
            if idx == 0:
                objs.append(("free space", osz))
                break
            objs.append((idx, osz))
            q += 16 + pad8(osz)
        out.append((p, size, b[p + 4], objs))
        p = b.find(b"GCOL", p + size)
    return out
