"""Golden model files for rkeras's saving/loading tests, written by real Keras 3.

Builds the small Sequential model "cnn" (Rescaling, Conv2D, MaxPooling2D, Conv2D same,
AveragePooling2D, Flatten, Dropout, Dense softmax), trains it 2 epochs with Adam(0.002) on 32
fixed random images so that the optimizer state is non-trivial, and writes into this folder:

  cnn.keras              model.save (Keras 3 zip: metadata.json, config.json, model.weights.h5)
  cnn.weights.h5         model.save_weights
  cnn_legacy.h5          model.save("...h5") (Keras 3 legacy HDF5 full model)
  cnn_predictions.json   {"inputs": {shape, data}, "outputs": {shape, data}, "weights": [...]}
                         4 fixed test images (flat row-major, values 0..255) and model.predict
                         on them; "weights" lists per layer the variable names and shapes in
                         model.get_weights() order.
  STRUCTURE.md           full HDF5 / zip structure of the files above (documentation).

usage (from the repo root):
  KERAS_BACKEND=jax /tmp/kvenv/bin/python crates/rkeras/tests/golden/saving/make_saving_golden.py

The model files are deterministic in content except for the date in metadata.json inside
cnn.keras; predictions are full float32 precision written as JSON floats.
"""
import json
import os
import re
import sys
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import h5layout  # noqa: E402


def build_cnn():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(4, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(6, (2, 2), activation="relu", padding="same"),
            layers.AveragePooling2D((2, 2)),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(5, activation="softmax"),
        ],
        name="cnn",
    )


def data():
    """32 training images + one-hot labels, and 4 test images (all float32 0..255)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(32, 8, 8, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 5, size=(32,)), 5).astype("float32")
    x_test = rng.integers(0, 256, size=(4, 8, 8, 3)).astype("float32")
    return x, y, x_test


# ------------------------------------------------------------------------------------------
# HDF5 structure dump


def _h5_type_desc(tid):
    """Human description of an HDF5 datatype id (attribute or dataset type)."""
    import h5py.h5t as h5t

    cls = tid.get_class()
    if cls == h5t.STRING:
        cset = {h5t.CSET_ASCII: "ASCII", h5t.CSET_UTF8: "UTF-8"}.get(tid.get_cset(), "?")
        pad = {h5t.STR_NULLTERM: "NULLTERM", h5t.STR_NULLPAD: "NULLPAD", h5t.STR_SPACEPAD: "SPACEPAD"}.get(
            tid.get_strpad(), "?"
        )
        if tid.is_variable_str():
            return f"string variable-length {cset} {pad}"
        return f"string fixed-length size={tid.get_size()} {cset} {pad}"
    if cls == h5t.FLOAT:
        order = "LE" if tid.get_order() == h5t.ORDER_LE else "BE"
        return f"float {tid.get_size() * 8}-bit {order}"
    if cls == h5t.INTEGER:
        order = "LE" if tid.get_order() == h5t.ORDER_LE else "BE"
        sign = "signed" if tid.get_sign() == h5t.SGN_2 else "unsigned"
        return f"integer {sign} {tid.get_size() * 8}-bit {order}"
    return f"class {cls} size {tid.get_size()}"


def _attr_lines(obj, indent):
    out = []
    for name in obj.attrs:
        aid = h5py.h5a.open(obj.id, name.encode())
        space = aid.get_space()
        shape = space.shape
        desc = _h5_type_desc(aid.get_type())
        val = obj.attrs[name]
        if isinstance(val, np.ndarray):
            val = [v.decode() if isinstance(v, bytes) else v for v in val.tolist()]
        elif isinstance(val, bytes):
            val = val.decode()
        sval = json.dumps(val)
        shape_s = "scalar" if shape == () else f"simple{list(shape)}"
        out.append(f"{indent}@{name}: {desc}, dataspace {shape_s} = {sval}")
    return out


def _dataset_facts(ds):
    dcpl = ds.id.get_create_plist()
    layout = {
        h5py.h5d.COMPACT: "compact",
        h5py.h5d.CONTIGUOUS: "contiguous",
        h5py.h5d.CHUNKED: "chunked",
    }.get(dcpl.get_layout(), str(dcpl.get_layout()))
    fill_time = {
        h5py.h5d.FILL_TIME_ALLOC: "alloc",
        h5py.h5d.FILL_TIME_NEVER: "never",
        h5py.h5d.FILL_TIME_IFSET: "ifset",
    }.get(dcpl.get_fill_time(), "?")
    fill_def = {
        h5py.h5d.FILL_VALUE_UNDEFINED: "undefined",
        h5py.h5d.FILL_VALUE_DEFAULT: "default",
        h5py.h5d.FILL_VALUE_USER_DEFINED: "user-defined",
    }.get(dcpl.fill_value_defined(), "?")
    alloc_time = {
        h5py.h5d.ALLOC_TIME_DEFAULT: "default",
        h5py.h5d.ALLOC_TIME_EARLY: "early",
        h5py.h5d.ALLOC_TIME_LATE: "late",
        h5py.h5d.ALLOC_TIME_INCR: "incremental",
    }.get(dcpl.get_alloc_time(), "?")
    nfilters = dcpl.get_nfilters()
    offset = ds.id.get_offset()
    return (
        f"layout={layout} filters={nfilters} fill_time={fill_time} fill_value={fill_def} "
        f"alloc_time={alloc_time} data_offset={offset} storage_size={ds.id.get_storage_size()}"
    )


def dump_h5(path):
    """h5py-level tree (paths, dtypes, shapes, attributes with HDF5 types and values)."""
    lines = []
    with h5py.File(path, "r") as f:
        fcpl = f.id.get_create_plist()
        lines.append(
            f"- h5py fcpl: sizes (offsets, lengths) = {fcpl.get_sizes()}, "
            f"versions (superblock, freelist, symtab, shared-header) = {fcpl.get_version()}, "
            f"userblock = {fcpl.get_userblock()}, link creation order = {fcpl.get_link_creation_order()}, "
            f"attr creation order = {fcpl.get_attr_creation_order()}, obj track times = {fcpl.get_obj_track_times()}"
        )
        lines.append(f"- file size: {os.path.getsize(path)} bytes")
        lines.append("")
        lines.append("```")

        def walk(name, obj, depth):
            ind = "  " * depth
            ohv = h5py.h5o.get_info(obj.id).hdr.version
            if isinstance(obj, h5py.Group):
                lines.append(f"{ind}{name}/  [group, objhdr v{ohv}]")
                lines.extend(_attr_lines(obj, ind + "    "))
                for k in obj.keys():  # listed in name order (symbol-table B-tree order)
                    walk(k, obj[k], depth + 1)
            else:
                lines.append(
                    f"{ind}{name}  [dataset {obj.dtype.str} shape={list(obj.shape)} "
                    f"type: {_h5_type_desc(obj.id.get_type())}, objhdr v{ohv}; {_dataset_facts(obj)}]"
                )
                lines.extend(_attr_lines(obj, ind + "    "))
                if obj.size <= 2:
                    lines.append(f"{ind}    value = {obj[()].tolist()}")

        walk("", f, 0)
        lines.append("```")
    return lines


def dump_h5_bytes(path, with_map):
    """Byte-level walk (h5layout.py): object headers, messages, heaps, B-trees, file map."""
    with open(path, "rb") as fh:
        b = fh.read()
    lines = []
    h = b[:96]
    lines.append(f"- signature bytes 0..8: `{h[:8].hex(' ')}`")
    lines.append(
        f"- superblock version (byte 8) = **{h[8]}**; free-space version {h[9]}; root symtab entry "
        f"version {h[10]}; shared-header version {h[12]}; size of offsets {h[13]}; size of lengths "
        f"{h[14]}; group leaf node K {int.from_bytes(h[16:18], 'little')}; group internal node K "
        f"{int.from_bytes(h[18:20], 'little')}; consistency flags {int.from_bytes(h[20:24], 'little')}"
    )
    u8 = lambda o: int.from_bytes(h[o:o + 8], "little")  # noqa: E731
    fmt = lambda v: "UNDEF" if v == 2**64 - 1 else str(v)  # noqa: E731
    lines.append(
        f"- base address {fmt(u8(24))}; free-space info address {fmt(u8(32))}; end-of-file address "
        f"{fmt(u8(40))} (file size {len(b)}); driver info address {fmt(u8(48))}"
    )
    lines.append(
        f"- root group symbol-table entry at byte 56: link-name offset {u8(56)}, object header "
        f"address {u8(64)}, cache type {int.from_bytes(h[72:76], 'little')}, scratch: B-tree "
        f"address {u8(80)}, local heap address {u8(88)}"
    )
    for addr, size, ver, objs in h5layout.global_heaps(b):
        lines.append(
            f"- global heap collection `GCOL` v{ver} at {addr}, collection size {size}; objects "
            f"(index, byte length): {objs}"
        )
    tree, blocks = h5layout.walk_bytes(b)
    lines.append("")
    lines.append("Object tree from the bytes (children in symbol-table order, i.e. sorted by name):")
    lines.append("")
    lines.append("```")
    lines.extend(tree)
    lines.append("```")
    if with_map:
        lines.append("")
        lines.append("File map (address, size, what), sorted by address:")
        lines.append("")
        lines.append("```")
        for addr, size, what in sorted(blocks):
            lines.append(f"{addr:>7} {size:>6}  {what}")
        lines.append("```")
    return lines, tree


def _no_addr(tree):
    return [re.sub(r"\d{3,}", "N", line) for line in tree]


def byte_facts(trees):
    """Aggregate facts over the byte-level walks of all HDF5 files."""
    text = "\n".join(l for _, t in trees for l in t)
    facts = []
    ohv = sorted(set(re.findall(r"object header v(\d)", text)))
    facts.append(f"- Object header versions seen: {ohv} (v1: version byte 1, no `OHDR` signature).")
    kinds = sorted(set(re.findall(r"msg ([\w-]+) ", text)))
    facts.append(f"- Message types seen: {kinds}. No `link`, `link-info`, `group-info` or `mtime` "
                 "messages: every group is an old-style **symbol-table** group (v1 B-tree + local heap "
                 "+ SNOD leaves); no modification-time messages (h5py creates objects with track_times off).")
    facts.append("- Group object header: first block holds only the `symbol-table` message (24 bytes "
                 "incl. 8-byte message header); groups with attributes have a `continuation` message "
                 "first and the attribute(s) in a continuation block.")
    dsh = sorted(set(re.findall(r"first block (\d+) bytes; symbol-table entry no cache", text)))
    facts.append(f"- Dataset object header first-block sizes: {dsh} bytes (messages padded with a NIL "
                 "message to that size); symbol-table entries for datasets have cache type 0.")
    for pat, what in [
        (r"(ds\(v\d rank=\d+ flags=\d)", "Dataspace encodings"),
        (r"msg datatype size=\d+ flags=\d+: (dt\(v\d [\w-]+ [\w ]+? size=\d)", "Dataset datatypes"),
        (r"(fill\([^)]*\))", "Fill value messages"),
        (r"(layout\(v\d \w+)", "Layouts"),
        (r"(attr\(v\d) name=", "Attribute message versions"),
    ]:
        facts.append(f"- {what}: {sorted(set(re.findall(pat, text)))}")
    facts.append("- Attribute string types (file: attribute -> datatype, dataspace):")
    for label, tree in trees:
        seen = set()
        for line in tree:
            m = re.search(r"attr\(v1 name='(\w+)' .*?(dt\(.*\)) (ds\([^)]*\))", line)
            if m and (m.group(1), m.group(2)) not in seen:
                seen.add((m.group(1), m.group(2)))
                facts.append(f"  - {label}: `{m.group(1)}` -> {m.group(2)}, {m.group(3)}")
    return facts


def dump_keras_zip(path):
    lines = []
    with zipfile.ZipFile(path) as z:
        lines.append("| # | name | compress_type | file_size | compress_size | date_time | flag_bits | create_system | external_attr |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for i, zi in enumerate(z.infolist()):
            ct = {zipfile.ZIP_STORED: "ZIP_STORED", zipfile.ZIP_DEFLATED: "ZIP_DEFLATED"}.get(
                zi.compress_type, str(zi.compress_type)
            )
            lines.append(
                f"| {i} | `{zi.filename}` | {ct} | {zi.file_size} | {zi.compress_size} | {zi.date_time} | "
                f"{zi.flag_bits:#x} | {zi.create_system} | {zi.external_attr:#x} |"
            )
        meta = z.read("metadata.json").decode()
        cfg = z.read("config.json").decode()
        inner = z.read("model.weights.h5")
    return lines, meta, cfg, inner


# ------------------------------------------------------------------------------------------


def main():
    keras.utils.set_random_seed(1)
    model = build_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.002),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y, x_test = data()
    hist = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    print("history", {k: [float(v) for v in vs] for k, vs in hist.history.items()})

    os.chdir(HERE)
    for fn in ("cnn.keras", "cnn.weights.h5", "cnn_legacy.h5"):
        if os.path.exists(fn):
            os.remove(fn)
    model.save("cnn.keras")
    model.save_weights("cnn.weights.h5")
    model.save("cnn_legacy.h5")

    preds = model.predict(x_test, verbose=0)
    weights = []
    for layer in model.layers:
        if not layer.weights:
            continue
        weights.append(
            {
                "layer": layer.name,
                "names": [w.name for w in layer.weights],
                "paths": [w.path for w in layer.weights],
                "shapes": [list(w.shape) for w in layer.weights],
            }
        )
    # sanity: concatenation of per-layer weights == model.get_weights order
    flat_shapes = [s for w in weights for s in w["shapes"]]
    assert flat_shapes == [list(a.shape) for a in model.get_weights()]
    out = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "inputs": {"shape": list(x_test.shape), "data": [float(v) for v in x_test.reshape(-1)]},
        "outputs": {"shape": list(preds.shape), "data": [float(v) for v in preds.reshape(-1)]},
        "weights": weights,
    }
    with open("cnn_predictions.json", "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")

    # round-trip self-check
    for fn in ("cnn.keras", "cnn_legacy.h5"):
        m2 = keras.saving.load_model(fn)
        d = float(np.max(np.abs(m2.predict(x_test, verbose=0) - preds)))
        assert d < 1e-6, (fn, d)
    m3 = build_cnn()
    m3.load_weights("cnn.weights.h5")
    assert float(np.max(np.abs(m3.predict(x_test, verbose=0) - preds))) < 1e-6

    write_structure_md(model)
    for fn in ("cnn.keras", "cnn.weights.h5", "cnn_legacy.h5", "cnn_predictions.json", "STRUCTURE.md"):
        print(f"{fn}: {os.path.getsize(fn)} bytes")


def write_structure_md(model):
    md = []
    md.append("# HDF5 / zip structure of the Keras-written golden files")
    md.append("")
    md.append(
        f"Generated by `make_saving_golden.py` with Keras {keras.__version__} "
        f"(backend {keras.backend.backend()}), h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}. "
        "Do not edit by hand; rerun the script. Byte-level sections come from `h5layout.py` "
        "(a pure-Python walker of the file bytes)."
    )
    md.append("")
    md.append("Model layers (name: class): " + ", ".join(f"`{l.name}`: {type(l).__name__}" for l in model.layers))
    md.append("")
    md.append(
        "Reading aids: `@name:` lines are attributes with their HDF5 datatype, dataspace and value; "
        "`objhdr vN` is the object header version from H5Oget_info; `data_offset` is the absolute "
        "file offset of a contiguous dataset's raw data. In the byte-level trees `dt(...)`, `ds(...)`, "
        "`fill(...)`, `layout(...)` decode the datatype, dataspace, fill-value and layout messages; "
        "message `flags=1` means 'constant'. Fill value message v2 fields: alloc_time 1=early 2=late "
        "3=incremental; fill_time 0=on-alloc 1=never 2=if-set; defined=1 with fill_size=0 means the "
        "library default (zero) fill value."
    )
    md.append("")
    sections = []
    trees = []
    for fn, title, with_map in [
        ("cnn.weights.h5", "cnn.weights.h5 (model.save_weights)", True),
        ("cnn_legacy.h5", 'cnn_legacy.h5 (model.save("cnn_legacy.h5"), Keras 3 legacy HDF5)', False),
    ]:
        sec = [f"## {title}", "", "### Tree (h5py view)", ""]
        sec.extend(dump_h5(fn))
        sec.extend(["", "### Bytes", ""])
        blines, tree = dump_h5_bytes(fn, with_map)
        trees.append((fn, tree))
        sec.extend(blines)
        sec.append("")
        sections.append(sec)
    zlines, meta, cfg, inner = dump_keras_zip("cnn.keras")
    inner_tree = h5layout.walk_bytes(inner)[0]
    trees.append(("cnn.keras/model.weights.h5", inner_tree))

    md.append("## Byte-level facts for a writer (all three HDF5 files: cnn.weights.h5, cnn_legacy.h5, "
              "model.weights.h5 inside cnn.keras)")
    md.append("")
    sb = sorted({f"v{open(fn, 'rb').read(9)[8]}" for fn in ("cnn.weights.h5", "cnn_legacy.h5")} | {f"v{inner[8]}"})
    md.append(f"- Superblock version(s): {sb} (byte 8 of the file). Sizes of offsets/lengths 8/8, "
              "group leaf K 4, internal K 16, base address 0, no free-space info, no driver info.")
    md.extend(byte_facts(trees))
    md.append("- Vlen strings (attributes) are stored as 16 bytes per element in the attribute "
              "message: u32 length, then the global heap ID (u64 collection address + u32 object "
              "index); the string bytes live in a `GCOL` global heap collection (4096 bytes minimum), "
              "without a NUL terminator (length = byte count).")
    md.append("- Dataset raw data: contiguous, little-endian, C order, no filters, no chunking; scalar "
              "datasets (optimizer iteration / learning_rate) use a rank-0 v1 dataspace and 4 bytes of data.")
    md.append("")
    for sec in sections:
        md.extend(sec)
    md.append("## cnn.keras (model.save, zip archive)")
    md.append("")
    md.extend(zlines)
    md.append("")
    with open("cnn.weights.h5", "rb") as fh:
        standalone = fh.read()
    md.append(
        f"`model.weights.h5` inside the zip is {len(inner)} bytes; byte-identical to cnn.weights.h5: "
        f"{inner == standalone}; its superblock version is {inner[8]}; byte-level object tree identical "
        f"to cnn.weights.h5's including addresses: {inner_tree == trees[0][1]}, ignoring addresses: "
        f"{_no_addr(inner_tree) == _no_addr(trees[0][1])} (Keras writes it through an in-memory file, "
        "so the allocator places blocks differently). Keras writes the JSON members with "
        "`zf.open(name, 'w')` (default ZipInfo date 1980-01-01 00:00:00) and the weights member with "
        "`zf.writestr(name, bytes)` (current local time); no data descriptors (flag_bits 0), Unix "
        "create_system 3, external_attr 0o600 << 16."
    )
    md.append("")
    md.append("### metadata.json (verbatim)")
    md.append("")
    md.append("```json")
    md.append(meta)
    md.append("```")
    md.append("")
    md.append("### config.json (verbatim, one line as written)")
    md.append("")
    md.append("```json")
    md.append(cfg)
    md.append("```")
    md.append("")
    md.append("### config.json (pretty-printed for reading)")
    md.append("")
    md.append("```json")
    md.append(json.dumps(json.loads(cfg), indent=1))
    md.append("```")
    md.append("")
    with open("STRUCTURE.md", "w") as fh:
        fh.write("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
