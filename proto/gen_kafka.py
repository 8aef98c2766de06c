#!/usr/bin/python3
"""gen_kafka.py — generates Gregor's Kafka message codec from proto/kafka.schema.

Usage: gen_kafka.py SCHEMA OUTDIR   (writes OUTDIR/kafka_msgs.h and OUTDIR/kafka_msgs.c)

The schema language is described at the top of proto/kafka.schema.  This file holds the parser
(also imported by tests/tools/check_schema.py) and the C emitter.  Python 3 stdlib only.
"""

import os
import re
import sys

PRIMS = {
    # type: (C type, read fn, write fn, fixed size)
    "int8": ("int8_t", "i8", 1),
    "int16": ("int16_t", "i16", 2),
    "int32": ("int32_t", "i32", 4),
    "int64": ("int64_t", "i64", 8),
    "uint16": ("uint16_t", "u16", 2),
    "uint32": ("uint32_t", "u32", 4),
    "float64": ("double", "f64", 8),
    "bool": ("bool", "bool", 1),
}
VIEWS = {
    # type: (C type, read/write suffix)
    "string": ("struct kafka_str", "str"),
    "bytes": ("struct kafka_bytes", "bytes"),
    "records": ("struct kafka_records", "records"),
}
SCALARS = set(PRIMS) | set(VIEWS) | {"uuid"}


class SchemaError(Exception):
    pass


# ------------------------------------------------------------------------------------------
# Model


class Versions:
    """An inclusive version range; hi None = open ended; empty when lo is None."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text, where):
        if text == "none":
            return Versions(None, None)
        m = re.fullmatch(r"(\d+)(\+|-(\d+))?", text)
        if not m:
            raise SchemaError(f"{where}: bad version range {text!r}")
        lo = int(m.group(1))
        if m.group(2) == "+":
            return Versions(lo, None)
        if m.group(3) is not None:
            hi = int(m.group(3))
            if hi < lo:
                raise SchemaError(f"{where}: empty version range {text!r}")
            return Versions(lo, hi)
        return Versions(lo, lo)

    def empty(self):
        return self.lo is None

    def contains(self, v):
        return self.lo is not None and v >= self.lo and (self.hi is None or v <= self.hi)

    def intersect(self, other):
        if self.empty() or other.empty():
            return Versions(None, None)
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if hi is not None and hi < lo:
            return Versions(None, None)
        return Versions(lo, hi)

    def __str__(self):
        if self.empty():
            return "none"
        if self.hi is None:
            return f"{self.lo}+"
        if self.hi == self.lo:
            return f"{self.lo}"
        return f"{self.lo}-{self.hi}"


class Field:
    def __init__(self, name, type_, versions, line):
        self.name = name  # snake_case, the C member name
        self.type = type_  # "int32", "string", "[]int32", "[]Foo", "Foo"
        self.versions = versions
        self.nullable = Versions(None, None)
        self.tag = None
        self.default = None  # raw schema text, or None
        self.line = line
        self.struct = None  # StructDef for struct / []struct types

    @property
    def is_array(self):
        return self.type.startswith("[]")

    @property
    def elem(self):
        return self.type[2:] if self.is_array else self.type

    @property
    def elem_is_struct(self):
        return self.elem not in SCALARS


class StructDef:
    def __init__(self, name, line):
        self.name = name  # upstream-style CamelCase type name
        self.fields = []
        self.line = line
        self.cname = None  # C struct tag without "struct "


class Message:
    def __init__(self, name, kind, api_key, versions, flex, line):
        self.name = name  # e.g. MetadataRequest, TopicRecord
        self.kind = kind  # "message" or "data"
        self.api_key = api_key
        self.versions = versions
        self.flex = flex
        self.line = line
        self.root = StructDef(name, line)
        self.structs = {}  # nested type name -> StructDef (one per name)

    @property
    def api_name(self):
        return re.sub(r"(Request|Response)$", "", self.name)

    @property
    def direction(self):
        if self.name.endswith("Request"):
            return "request"
        if self.name.endswith("Response"):
            return "response"
        return None


class Schema:
    def __init__(self):
        self.messages = []
        self.errors = []  # (name, code)


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


# ------------------------------------------------------------------------------------------
# Parser


def _tokens(line):
    return re.findall(r'"[^"]*"|\S+', line)


def parse_schema(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    schema = Schema()
    msg = None
    stack = []  # StructDefs being filled; stack[0] is the message root
    for no, raw in enumerate(lines, 1):
        where = f"{path}:{no}"
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tok = _tokens(line)
        if msg is None:
            if tok[0] == "error":
                if len(tok) != 3:
                    raise SchemaError(f"{where}: expected 'error NAME CODE'")
                schema.errors.append((tok[1], int(tok[2])))
                continue
            if tok[0] in ("message", "data"):
                msg = _parse_message_head(tok, where, no)
                stack = [msg.root]
                continue
            raise SchemaError(f"{where}: expected 'message', 'data' or 'error'")
        if tok == ["end"]:
            if len(stack) != 1:
                raise SchemaError(f"{where}: 'end' inside an unclosed {{ block")
            schema.messages.append(msg)
            msg = None
            continue
        if tok == ["}"]:
            if len(stack) == 1:
                raise SchemaError(f"{where}: unmatched '}}'")
            stack.pop()
            continue
        if tok[0] == "struct":
            if len(stack) != 1 or len(tok) != 3 or tok[2] != "{":
                raise SchemaError(f"{where}: expected 'struct Name {{' at message level")
            sd = _define_struct(msg, tok[1], where, no)
            stack.append(sd)
            continue
        field, opens = _parse_field(tok, where, no)
        if field.elem_is_struct:
            if opens:
                field.struct = _define_struct(msg, field.elem, where, no)
                stack[-1].fields.append(field)
                stack.append(field.struct)
                continue
            field.struct = msg.structs.get(field.elem)
            if field.struct is None:
                raise SchemaError(f"{where}: struct type {field.elem} is not defined above")
        elif opens:
            raise SchemaError(f"{where}: '{{' after a non-struct type")
        stack[-1].fields.append(field)
    if msg is not None:
        raise SchemaError(f"{path}: message {msg.name} has no 'end'")
    _check(schema)
    return schema


def _parse_message_head(tok, where, no):
    # message NAME api KEY versions RANGE flex RANGE   |   data NAME versions RANGE flex RANGE
    kind, name = tok[0], tok[1]
    kv = tok[2:]
    if len(kv) % 2:
        raise SchemaError(f"{where}: expected key/value pairs after the message name")
    opts = dict(zip(kv[0::2], kv[1::2]))
    allowed = {"api", "versions", "flex"} if kind == "message" else {"versions", "flex"}
    if set(opts) != allowed:
        raise SchemaError(f"{where}: {kind} needs exactly {sorted(allowed)}")
    versions = Versions.parse(opts["versions"], where)
    if versions.hi is None:
        raise SchemaError(f"{where}: message versions must be a closed range")
    flex = Versions.parse(opts["flex"], where)
    key = int(opts["api"]) if kind == "message" else None
    return Message(name, kind, key, versions, flex, no)


def _define_struct(msg, name, where, no):
    if name in msg.structs:
        raise SchemaError(f"{where}: struct {name} defined twice in {msg.name}; refer to it by name")
    sd = StructDef(name, no)
    msg.structs[name] = sd
    return sd


def _parse_field(tok, where, no):
    opens = tok[-1] == "{"
    if opens:
        tok = tok[:-1]
    if len(tok) < 3:
        raise SchemaError(f"{where}: expected 'name type versions [options]'")
    name, type_, vers = tok[0], tok[1], tok[2]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SchemaError(f"{where}: field names are snake_case")
    elem = type_[2:] if type_.startswith("[]") else type_
    if elem not in SCALARS and not re.fullmatch(r"[A-Z][A-Za-z0-9]*", elem):
        raise SchemaError(f"{where}: unknown type {type_!r}")
    f = Field(name, type_, Versions.parse(vers, where), no)
    for opt in tok[3:]:
        k, sep, v = opt.partition("=")
        if not sep:
            raise SchemaError(f"{where}: option {opt!r} is not key=value")
        if k == "null":
            f.nullable = Versions.parse(v, where)
        elif k == "tag":
            f.tag = int(v)
        elif k == "default":
            f.default = v
        else:
            raise SchemaError(f"{where}: unknown option {k!r}")
    return f, opens


def _check(schema):
    seen = {}
    for m in schema.messages:
        if m.name in seen:
            raise SchemaError(f"message {m.name} defined twice")
        seen[m.name] = m
        for sd in [m.root] + list(m.structs.values()):
            names = set()
            tags = set()
            for f in sd.fields:
                where = f"line {f.line}"
                if f.name in names:
                    raise SchemaError(f"{where}: duplicate field {f.name}")
                names.add(f.name)
                if f.tag is not None:
                    if f.tag in tags:
                        raise SchemaError(f"{where}: duplicate tag {f.tag}")
                    tags.add(f.tag)
                    tv = f.versions.intersect(m.versions)
                    if not tv.empty() and not all(
                        m.flex.contains(v) for v in range(tv.lo, (tv.hi or m.versions.hi) + 1)
                    ):
                        raise SchemaError(f"{where}: tagged field in a non-flexible version")
                if f.default is not None:
                    _c_default_scalar(f)  # validates
                if not f.nullable.empty() and f.elem in PRIMS and not f.is_array:
                    raise SchemaError(f"{where}: only strings, bytes, records, arrays are nullable")
    errs = {}
    for name, code in schema.errors:
        if code in errs:
            raise SchemaError(f"error code {code} listed twice")
        errs[code] = name


# ------------------------------------------------------------------------------------------
# C naming


def assign_cnames(schema):
    used = {}
    for m in schema.messages:
        msnake = snake(m.name)
        m.root.cname = "kafka_" + msnake
        for sd in m.structs.values():
            s = snake(sd.name)
            sd.cname = "kafka_" + (s if s == msnake or s.startswith(msnake + "_") else f"{msnake}_{s}")
        for sd in [m.root] + list(m.structs.values()):
            if sd.cname in used:
                raise SchemaError(f"C name {sd.cname} used by {used[sd.cname]} and {m.name}")
            used[sd.cname] = m.name


# ------------------------------------------------------------------------------------------
# Defaults and sizes


def _parse_int(text):
    return int(text, 0) if not text.startswith("-") else -int(text[1:], 0)


def _c_default_scalar(f):
    """C expression for the default of a scalar field (None = zero / memset suffices)."""
    t, d = f.elem, f.default
    if f.is_array:
        if d is None or d == "":
            return None
        if d == "null":
            return "NULLARRAY"
        raise SchemaError(f"line {f.line}: arrays default to empty or null")
    if f.elem_is_struct:
        if d is not None:
            raise SchemaError(f"line {f.line}: struct fields take no default")
        return None
    if t in PRIMS:
        if d is None:
            return None
        if t == "bool":
            if d not in ("true", "false"):
                raise SchemaError(f"line {f.line}: bool default must be true/false")
            return "true" if d == "true" else None
        if t == "float64":
            return repr(float(d))
        v = _parse_int(d)
        ctype = PRIMS[t][0]
        if v == 0:
            return None
        if t == "int64":
            return f"INT64_C({v})" if v != -(2**63) else "INT64_MIN"
        if t == "int32" and v == -(2**31):
            return "INT32_MIN"
        return f"({ctype}){v}"
    if t == "uuid":
        if d is not None:
            raise SchemaError(f"line {f.line}: uuid fields default to zero")
        return None
    if t == "records":
        if d not in (None, "null"):
            raise SchemaError(f"line {f.line}: records default to null")
        return "(struct kafka_records){NULL, -1, -1, 0}"
    if t == "string":
        if d == "null":
            return "KSTR_NULL"
        s = "" if d is None else d.strip('"')
        return f'(struct kafka_str){{"{s}", {len(s)}}}'
    if t == "bytes":
        if d == "null":
            return "KBYTES_NULL"
        if d not in (None, ""):
            raise SchemaError(f"line {f.line}: bytes default to empty or null")
        return '(struct kafka_bytes){(const uint8_t *)"", 0}'
    raise SchemaError(f"line {f.line}: no default for {t}")


def _scalar_min_size(t, flex):
    if t in PRIMS:
        return PRIMS[t][2]
    if t == "uuid":
        return 16
    if t == "string":
        return 1 if flex else 2
    return 1 if flex else 4  # bytes, records


def struct_min_size(sd, msg, v):
    """Smallest encoding of sd in version v."""
    flex = msg.flex.contains(v)
    n = 1 if flex else 0
    for f in sd.fields:
        if not f.versions.contains(v) or (f.tag is not None and flex):
            continue
        if f.is_array:
            n += 1 if flex else 4
        elif f.elem_is_struct:
            n += struct_min_size(f.struct, msg, v)
        else:
            n += _scalar_min_size(f.elem, flex)
    return n


def elem_min_size(f, msg):
    vs = [v for v in range(msg.versions.lo, msg.versions.hi + 1) if f.versions.contains(v)]
    sizes = []
    for v in vs:
        flex = msg.flex.contains(v)
        sizes.append(struct_min_size(f.struct, msg, v) if f.elem_is_struct
                     else _scalar_min_size(f.elem, flex))
    return max(1, min(sizes)) if sizes else 1


# ------------------------------------------------------------------------------------------
# C emitter


class Emitter:
    def __init__(self, schema):
        self.schema = schema
        self.h = []
        self.c = []
        self.need_is_default = set()  # cnames of structs used as tagged struct fields

    # --- version conditions -------------------------------------------------------------

    @staticmethod
    def cond(vr, msg):
        """C condition for 'version in vr' within msg's range; 'true'/'false' when constant."""
        r = vr.intersect(msg.versions)
        if r.empty():
            return "false"
        lo_needed = r.lo > msg.versions.lo
        hi = r.hi if r.hi is not None else msg.versions.hi
        hi_needed = hi < msg.versions.hi
        parts = []
        if lo_needed:
            parts.append(f"version >= {r.lo}")
        if hi_needed:
            parts.append(f"version <= {hi}")
        if not parts:
            return "true"
        if r.lo == hi:
            return f"version == {hi}"
        return " && ".join(parts)

    def null_cond(self, f, msg):
        """C condition, evaluated where f is present, for 'f may be null in this version'."""
        fv = f.versions.intersect(msg.versions)
        nv = f.nullable.intersect(fv)
        if nv.empty():
            return "false"
        if str(nv) == str(fv):
            return "true"
        return self.cond(nv, msg)

    @staticmethod
    def wrap_if(cond, body, ind):
        if cond == "false":
            return []
        if cond == "true":
            return [ind + b for b in body]
        out = [f"{ind}if ({cond}) {{"]
        out += [ind + "    " + b for b in body]
        out.append(f"{ind}}}")
        return out

    # --- types ---------------------------------------------------------------------------

    @staticmethod
    def ctype(t, sd_for):
        if t in PRIMS:
            return PRIMS[t][0]
        if t in VIEWS:
            return VIEWS[t][0]
        if t == "uuid":
            return "struct kafka_uuid"
        return f"struct {sd_for.cname}"

    def field_comment(self, f, msg):
        bits = [f"v{f.versions.intersect(msg.versions)}"]
        nv = f.nullable.intersect(f.versions).intersect(msg.versions)
        if not nv.empty():
            bits.append(f"nullable v{nv}")
        if f.tag is not None:
            bits.append(f"tag {f.tag}")
        if f.default is not None:
            bits.append(f"default {f.default}")
        return ", ".join(bits)

    def emit_struct_def(self, sd, msg):
        h = self.h
        h.append(f"struct {sd.cname} {{")
        if not sd.fields:
            h.append("    char unused_;")
        for f in sd.fields:
            com = self.field_comment(f, msg)
            if f.is_array:
                et = self.ctype(f.elem, f.struct)
                h.append(f"    {et} *{f.name}; /* {com} */")
                nullable = not f.nullable.intersect(f.versions).intersect(msg.versions).empty()
                h.append(f"    int32_t {f.name}_count;" + (" /* -1 = null */" if nullable else ""))
            else:
                h.append(f"    {self.ctype(f.elem, f.struct)} {f.name}; /* {com} */")
        h.append("};")
        h.append("")

    # --- init ----------------------------------------------------------------------------

    def emit_init(self, sd):
        c = self.c
        c.append(f"void {sd.cname}_init(struct {sd.cname} *o)")
        c.append("{")
        c.append("    memset(o, 0, sizeof(*o));")
        for f in sd.fields:
            if f.is_array:
                if _c_default_scalar(f) == "NULLARRAY":
                    c.append(f"    o->{f.name}_count = -1;")
            elif f.elem_is_struct:
                c.append(f"    {f.struct.cname}_init(&o->{f.name});")
            else:
                d = _c_default_scalar(f)
                if d is not None:
                    c.append(f"    o->{f.name} = {d};")
        c.append("}")
        c.append("")

    # --- is_default (for tagged struct fields) ------------------------------------------

    def default_test(self, f, acc):
        """C expression true when field f (accessed as acc) holds its default."""
        if f.is_array:
            return f"{acc}_count < 0" if _c_default_scalar(f) == "NULLARRAY" else f"{acc}_count == 0"
        if f.elem_is_struct:
            self.need_is_default.add(f.struct.cname)
            return f"{f.struct.cname}_is_default(&{acc})"
        t = f.elem
        if t == "uuid":
            return f"kafka_uuid_is_zero({acc})"
        if t == "records":
            return f"{acc}.len < 0"
        if t in ("string", "bytes"):
            if f.default == "null":
                return f"{acc}.len < 0"
            if t == "string" and f.default not in (None, ""):
                s = f.default.strip('"')
                return f'({acc}.len == {len(s)} && memcmp({acc}.ptr, "{s}", {len(s)}) == 0)'
            return f"{acc}.len == 0"
        d = _c_default_scalar(f)
        return f"{acc} == {d if d is not None else '0'}"

    def emit_is_default(self, sd):
        c = self.c
        c.append(f"static bool {sd.cname}_is_default(const struct {sd.cname} *o)")
        c.append("{")
        tests = [self.default_test(f, f"o->{f.name}") for f in sd.fields] or ["true"]
        c.append("    return " + " &&\n           ".join(f"({t})" for t in tests) + ";")
        c.append("}")
        c.append("")

    # --- read ----------------------------------------------------------------------------

    def read_scalar(self, t, rd, flex):
        if t in PRIMS:
            return f"kafka_read_{PRIMS[t][1]}({rd})"
        if t in VIEWS:
            return f"kafka_read_{VIEWS[t][1]}({rd}, {flex})"
        return f"kafka_read_uuid({rd})"

    def read_field(self, f, msg, rd, flex):
        """Statements reading field f from reader expression rd into out->name."""
        out = []
        nc = self.null_cond(f, msg)
        if f.is_array:
            n = f"out->{f.name}_count"
            out.append(f"{n} = kafka_read_array_len({rd}, {flex}, {elem_min_size(f, msg)});")
            if nc != "true":
                chk = f"{n} < 0" if nc == "false" else f"{n} < 0 && !({nc})"
                out.append(f"if ({chk}) kafka_reader_fail({rd}, GR_ECORRUPT);")
            out.append(f"out->{f.name} = kafka_alloc_array({rd}, {n}, sizeof(*out->{f.name}));")
            out.append(f"for (int32_t i = 0; i < {n} && !({rd})->err; i++) {{")
            if f.elem_is_struct:
                out.append(f"    {f.struct.cname}_read({rd}, version, &out->{f.name}[i]);")
            else:
                out.append(f"    out->{f.name}[i] = {self.read_scalar(f.elem, rd, flex)};")
                if f.elem in VIEWS:
                    out.append(f"    if (out->{f.name}[i].len < 0) "
                               f"kafka_reader_fail({rd}, GR_ECORRUPT);")
            out.append("}")
            return out
        if f.elem_is_struct:
            return [f"{f.struct.cname}_read({rd}, version, &out->{f.name});"]
        out.append(f"out->{f.name} = {self.read_scalar(f.elem, rd, flex)};")
        if f.elem in VIEWS and nc != "true":
            chk = f"out->{f.name}.len < 0"
            if nc != "false":
                chk += f" && !({nc})"
            out.append(f"if ({chk}) kafka_reader_fail({rd}, GR_ECORRUPT);")
        return out

    def flex_expr(self, msg):
        return self.cond(msg.flex, msg)

    def emit_read(self, sd, msg):
        c = self.c
        c.append(f"static void {sd.cname}_read(struct kafka_reader *r, int16_t version,")
        c.append(f"{' ' * (len(sd.cname) + 18)}struct {sd.cname} *out)")
        c.append("{")
        fe = self.flex_expr(msg)
        c.append(f"    const bool flex = {fe};")
        c.append("    (void)flex;")
        c.append(f"    {sd.cname}_init(out);")
        tagged = []
        for f in sd.fields:
            if f.tag is not None:
                tagged.append(f)
                continue
            c.extend(self.wrap_if(self.cond(f.versions, msg), self.read_field(f, msg, "r", "flex"),
                                  "    "))
        if fe != "false":
            if not tagged:
                c.extend(self.wrap_if("flex", ["kafka_skip_tagged_fields(r);"], "    "))
            else:
                body = ["uint32_t ntags = kafka_read_uvarint(r);",
                        "for (uint32_t t = 0; t < ntags && !r->err; t++) {",
                        "    uint32_t tag;",
                        "    struct kafka_reader sub;",
                        "    kafka_read_tagged_field(r, &tag, &sub);",
                        "    switch (tag) {"]
                for f in tagged:
                    body.append(f"    case {f.tag}:")
                    inner = self.read_field(f, msg, "&sub", "true")
                    body.extend(self.wrap_if(self.cond(f.versions, msg), inner, "        "))
                    body.append("        break;")
                body += ["    default:",
                         "        break;",
                         "    }",
                         "    if (sub.err) kafka_reader_fail(r, sub.err);",
                         "}"]
                c.extend(self.wrap_if("flex", body, "    "))
        c.append("}")
        c.append("")

    # --- write ---------------------------------------------------------------------------

    def write_scalar(self, t, val, flex):
        if t in PRIMS:
            return f"kafka_write_{PRIMS[t][1]}(w, {val});"
        if t in VIEWS:
            return f"kafka_write_{VIEWS[t][1]}(w, {val}, {flex});"
        return f"kafka_write_uuid(w, {val});"

    def write_field(self, f, msg, flex):
        out = []
        nc = self.null_cond(f, msg)
        acc = f"in->{f.name}"
        if f.is_array:
            n = f"{acc}_count"
            if nc != "true":
                chk = f"{n} < 0" if nc == "false" else f"{n} < 0 && !({nc})"
                out.append(f"if ({chk}) kafka_writer_fail(w, GR_EINVAL);")
            out.append(f"if ({n} > 0 && !{acc}) kafka_writer_fail(w, GR_EINVAL);")
            out.append(f"kafka_write_array_len(w, {n}, {flex});")
            out.append(f"for (int32_t i = 0; i < {n} && !w->err; i++) {{")
            if f.elem_is_struct:
                out.append(f"    {f.struct.cname}_write(w, version, &{acc}[i]);")
            else:
                if f.elem in VIEWS:
                    out.append(f"    if ({acc}[i].len < 0) kafka_writer_fail(w, GR_EINVAL);")
                out.append("    " + self.write_scalar(f.elem, f"{acc}[i]", flex))
            out.append("}")
            return out
        if f.elem_is_struct:
            return [f"{f.struct.cname}_write(w, version, &{acc});"]
        if f.elem in VIEWS and nc != "true":
            chk = f"{acc}.len < 0"
            if nc != "false":
                chk += f" && !({nc})"
            out.append(f"if ({chk}) kafka_writer_fail(w, GR_EINVAL);")
        out.append(self.write_scalar(f.elem, acc, flex))
        return out

    def emit_write(self, sd, msg):
        c = self.c
        c.append(f"static void {sd.cname}_write(struct kafka_writer *w, int16_t version,")
        c.append(f"{' ' * (len(sd.cname) + 19)}const struct {sd.cname} *in)")
        c.append("{")
        fe = self.flex_expr(msg)
        c.append(f"    const bool flex = {fe};")
        c.append("    (void)flex;")
        tagged = []
        for f in sd.fields:
            if f.tag is not None:
                tagged.append(f)
                continue
            c.extend(self.wrap_if(self.cond(f.versions, msg), self.write_field(f, msg, "flex"),
                                  "    "))
        if fe != "false":
            if not tagged:
                c.extend(self.wrap_if("flex", ["kafka_write_empty_tags(w);"], "    "))
            else:
                body = []
                for f in sorted(tagged, key=lambda x: x.tag):
                    vc = self.cond(f.versions, msg)
                    test = f"!({self.default_test(f, 'in->' + f.name)})"
                    body.append(f"const bool has_{f.name} = "
                                f"{test if vc == 'true' else f'({vc}) && {test}'};")
                body.append("kafka_write_uvarint(w, " +
                            " + ".join(f"(uint32_t)has_{f.name}" for f in tagged) + ");")
                for f in sorted(tagged, key=lambda x: x.tag):
                    inner = [f"const size_t at = kafka_write_tag_begin(w, {f.tag});"]
                    inner += self.write_field(f, msg, "true")
                    inner.append("kafka_write_tag_end(w, at);")
                    body.extend(self.wrap_if(f"has_{f.name}", inner, ""))
                c.extend(self.wrap_if("flex", body, "    "))
        c.append("}")
        c.append("")

    # --- per message ---------------------------------------------------------------------

    def ordered_structs(self, msg):
        """Nested structs in dependency order (a struct after everything it embeds)."""
        order, seen = [], set()

        def visit(sd):
            if sd.cname in seen:
                return
            seen.add(sd.cname)
            for f in sd.fields:
                if f.struct is not None:
                    visit(f.struct)
            order.append(sd)

        visit(msg.root)
        for sd in msg.structs.values():
            visit(sd)
        return order

    def emit_message(self, msg):
        structs = self.ordered_structs(msg)
        root = msg.root
        h = self.h
        h.append("/* " + "-" * 88 + " */")
        vdesc = f"versions {msg.versions}, flexible {msg.flex}"
        if msg.api_key is not None:
            h.append(f"/* {msg.name} (api key {msg.api_key}), {vdesc} */")
        else:
            h.append(f"/* {msg.name} (metadata log record), {vdesc} */")
        h.append("")
        for sd in structs:
            self.emit_struct_def(sd, msg)
        for sd in structs:
            h.append(f"void {sd.cname}_init(struct {sd.cname} *o);")
        h.append(f"int {root.cname}_decode(struct kafka_reader *r, int16_t version,")
        h.append(f"{' ' * (len(root.cname) + 12)}struct {root.cname} *out);")
        h.append(f"int {root.cname}_encode(struct kafka_writer *w, int16_t version,")
        h.append(f"{' ' * (len(root.cname) + 12)}const struct {root.cname} *in);")
        h.append("")

        c = self.c
        c.append("/* " + "-" * 88 + " */")
        c.append(f"/* {msg.name} */")
        c.append("")
        for sd in structs:
            self.emit_init(sd)
        # structs that are tagged fields (and the structs they embed) need an is_default test
        need = set()

        def want(sd):
            if sd.cname in need:
                return
            need.add(sd.cname)
            for f in sd.fields:
                if f.struct is not None and not f.is_array:
                    want(f.struct)

        for sd in structs:
            for f in sd.fields:
                if f.tag is not None and f.struct is not None and not f.is_array:
                    want(f.struct)
        self.need_is_default |= need
        for sd in structs:
            if sd.cname in need:
                self.emit_is_default(sd)
        for sd in structs:
            self.emit_read(sd, msg)
            self.emit_write(sd, msg)
        lo, hi = msg.versions.lo, msg.versions.hi
        c.append(f"int {root.cname}_decode(struct kafka_reader *r, int16_t version,")
        c.append(f"{' ' * (len(root.cname) + 12)}struct {root.cname} *out)")
        c.append("{")
        c.append(f"    if (version < {lo} || version > {hi}) {{")
        c.append(f"        {root.cname}_init(out);")
        c.append("        kafka_reader_fail(r, GR_EUNSUP);")
        c.append("        return r->err;")
        c.append("    }")
        c.append(f"    {root.cname}_read(r, version, out);")
        c.append("    return r->err;")
        c.append("}")
        c.append("")
        c.append(f"int {root.cname}_encode(struct kafka_writer *w, int16_t version,")
        c.append(f"{' ' * (len(root.cname) + 12)}const struct {root.cname} *in)")
        c.append("{")
        c.append(f"    if (version < {lo} || version > {hi}) {{")
        c.append("        kafka_writer_fail(w, GR_EUNSUP);")
        c.append("        return w->err;")
        c.append("    }")
        c.append(f"    {root.cname}_write(w, version, in);")
        c.append("    return w->err;")
        c.append("}")
        c.append("")

    # --- tables --------------------------------------------------------------------------

    def apis(self):
        apis = {}
        for m in self.schema.messages:
            if m.api_key is None:
                continue
            a = apis.setdefault(m.api_key, {"name": m.api_name, "msgs": []})
            if a["name"] != m.api_name:
                raise SchemaError(f"api key {m.api_key} used by {a['name']} and {m.api_name}")
            a["msgs"].append(m)
        for key, a in apis.items():
            dirs = sorted(m.direction for m in a["msgs"])
            if dirs != ["request", "response"]:
                raise SchemaError(f"api {a['name']} needs exactly one request and one response")
            req = next(m for m in a["msgs"] if m.direction == "request")
            resp = next(m for m in a["msgs"] if m.direction == "response")
            if (str(req.versions), str(req.flex)) != (str(resp.versions), str(resp.flex)):
                raise SchemaError(f"api {a['name']}: request and response ranges differ")
            a["req"] = req
        return dict(sorted(apis.items()))

    def emit_tables(self):
        apis = self.apis()
        h, c = self.h, self.c
        h.append("/* " + "-" * 88 + " */")
        h.append("/* API keys and the dispatch table */")
        h.append("")
        for key, a in apis.items():
            h.append(f"#define KAFKA_API_{snake(a['name']).upper()} {key}")
        h.append("")
        h.append("struct kafka_api_info {")
        h.append("    int16_t key;")
        h.append("    const char *name;")
        h.append("    int16_t min_version, max_version, flexible_min; /* flexible_min -1: never */")
        h.append("};")
        h.append("")
        h.append("/* Every API in the schema, sorted by key. */")
        h.append("extern const struct kafka_api_info kafka_api_table[];")
        h.append("extern const size_t kafka_api_table_len;")
        h.append("/* The table entry for key, or NULL if the schema has no such API. */")
        h.append("const struct kafka_api_info *kafka_api_lookup(int16_t key);")
        h.append("/* Request header version: 2 for flexible versions, else 1 (0 only for")
        h.append(" * ControlledShutdown v0).  Unknown keys answer 1. */")
        h.append("int kafka_request_header_version(int16_t key, int16_t version);")
        h.append("/* Response header version: 1 for flexible versions, else 0; always 0 for")
        h.append(" * ApiVersions (clients parse its header before knowing the version). */")
        h.append("int kafka_response_header_version(int16_t key, int16_t version);")
        h.append("")
        c.append("/* " + "-" * 88 + " */")
        c.append("/* API table */")
        c.append("")
        c.append("const struct kafka_api_info kafka_api_table[] = {")
        for key, a in apis.items():
            req = a["req"]
            fmin = -1
            for v in range(req.versions.lo, req.versions.hi + 1):
                if req.flex.contains(v):
                    fmin = v
                    break
            c.append(f'    {{{key}, "{a["name"]}", {req.versions.lo}, {req.versions.hi}, {fmin}}},')
        c.append("};")
        c.append("const size_t kafka_api_table_len = GR_ARRAY_LEN(kafka_api_table);")
        c.append("")
        c.append("const struct kafka_api_info *kafka_api_lookup(int16_t key)")
        c.append("{")
        c.append("    switch (key) {")
        for i, key in enumerate(apis):
            c.append(f"    case {key}: return &kafka_api_table[{i}];")
        c.append("    default: return NULL;")
        c.append("    }")
        c.append("}")
        c.append("")
        c.append("static bool api_is_flexible(int16_t key, int16_t version)")
        c.append("{")
        c.append("    const struct kafka_api_info *api = kafka_api_lookup(key);")
        c.append("    return api && api->flexible_min >= 0 && version >= api->flexible_min;")
        c.append("}")
        c.append("")
        c.append("int kafka_request_header_version(int16_t key, int16_t version)")
        c.append("{")
        c.append("    if (key == 7 && version == 0) return 0; /* ControlledShutdown v0 */")
        c.append("    return api_is_flexible(key, version) ? 2 : 1;")
        c.append("}")
        c.append("")
        c.append("int kafka_response_header_version(int16_t key, int16_t version)")
        c.append("{")
        c.append("    if (key == 18) return 0; /* ApiVersions: always header v0 */")
        c.append("    return api_is_flexible(key, version) ? 1 : 0;")
        c.append("}")
        c.append("")

    def emit_errors(self):
        h, c = self.h, self.c
        errs = sorted(self.schema.errors, key=lambda e: e[1])
        h.append("/* " + "-" * 88 + " */")
        h.append("/* Kafka error codes (response data, not C errors) */")
        h.append("")
        for name, code in errs:
            h.append(f"#define KAFKA_ERR_{name} {code}")
        h.append("")
        h.append('/* Kafka\'s name for an error code ("UNKNOWN_TOPIC_OR_PARTITION"); a static string,')
        h.append(' * "UNKNOWN" for codes not in the schema. */')
        h.append("const char *kafka_err_name(int16_t code);")
        h.append("")
        c.append("const char *kafka_err_name(int16_t code)")
        c.append("{")
        c.append("    switch (code) {")
        for name, code in errs:
            c.append(f'    case {code}: return "{name}";')
        c.append('    default: return "UNKNOWN";')
        c.append("    }")
        c.append("}")
        c.append("")

    def run(self):
        banner = ("/* generated by proto/gen_kafka.py from proto/kafka.schema — do not edit */")
        self.h += [banner,
                   "/*",
                   " * kafka_msgs.h — Kafka message structs and codecs.  Each message has",
                   " *   void kafka_<msg>_init(struct kafka_<msg> *)   every field set to its default",
                   " *   int  kafka_<msg>_decode(r, version, out)      0 or r->err (out is",
                   " *        initialised first; strings/bytes/records are views into r's input,",
                   " *        arrays live in r->arena)",
                   " *   int  kafka_<msg>_encode(w, version, in)       0 or w->err",
                   " * An array is `T *name; int32_t name_count;` with count -1 meaning null.",
                   " * Fields absent from a version keep their default on decode and are not",
                   " * written on encode.  Include through proto/proto.h.",
                   " */",
                   "#ifndef GREGOR_KAFKA_MSGS_H",
                   "#define GREGOR_KAFKA_MSGS_H",
                   "",
                   '#include "proto/proto_codec.h"',
                   "",
                   "#include <stdbool.h>",
                   "#include <stdint.h>",
                   ""]
        self.c += [banner,
                   '#include "kafka_msgs.h"',
                   "",
                   "#include <string.h>",
                   "",
                   "static inline __attribute__((unused)) bool kafka_uuid_is_zero(struct kafka_uuid u)",
                   "{",
                   "    static const uint8_t zero[16];",
                   "    return memcmp(u.b, zero, sizeof(zero)) == 0;",
                   "}",
                   ""]
        self.emit_errors()
        self.emit_tables()
        for m in self.schema.messages:
            self.emit_message(m)
        self.h.append("#endif")
        self.h.append("")


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: gen_kafka.py SCHEMA OUTDIR\n")
        return 2
    try:
        schema = parse_schema(argv[1])
        assign_cnames(schema)
        em = Emitter(schema)
        em.run()
    except SchemaError as e:
        sys.stderr.write(f"gen_kafka: {e}\n")
        return 1
    os.makedirs(argv[2], exist_ok=True)
    _write(os.path.join(argv[2], "kafka_msgs.h"), "\n".join(em.h))
    _write(os.path.join(argv[2], "kafka_msgs.c"), "\n".join(em.c))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
