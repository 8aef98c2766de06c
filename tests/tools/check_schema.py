#!/usr/bin/python3
"""check_schema.py — checks proto/kafka.schema against Kafka's message definitions.

Usage: check_schema.py SCHEMA UPSTREAM_MESSAGE_DIR

For every message of ours that has an API key, reads UPSTREAM_MESSAGE_DIR/<Name>.json (after
stripping // comments) and checks, for each version we declare:
  * the API key, and that our versions lie within upstream's validVersions;
  * that flexibility agrees (our flexible range must match upstream's within our versions);
  * field by field, recursively, in order: the fields present in that version have the same
    name (snake_case vs CamelCase), type (struct types by name), nullability, tag, and default;
  * that we do not omit any untagged upstream field present in that version (tagged fields may
    be left out: decoders skip unknown tags).
Our own `data` records (no API key) have no upstream counterpart and are skipped.
Prints one summary line; exits 1 on any mismatch.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "proto"))

import gen_kafka  # noqa: E402  (the schema parser lives with the generator)

Versions = gen_kafka.Versions


def norm(name):
    return name.replace("_", "").lower()


def load_upstream(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^\s*//.*$", "", text)
    return json.loads(text)


def up_versions(text):
    if text is None:
        return Versions(None, None)
    return Versions.parse(text, "upstream")


class Checker:
    def __init__(self):
        self.problems = []
        self.checked_fields = 0

    def bad(self, where, msg):
        line = f"{where}: {msg}"
        if line not in self.problems:
            self.problems.append(line)

    # -- defaults -------------------------------------------------------------------------

    @staticmethod
    def norm_default(ftype, text, nullable_somewhere):
        """A comparable form of a default; None means the type's implicit default."""
        if text is None:
            return None
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif not isinstance(text, str):
            text = str(text)
        t = ftype
        if t.startswith("[]"):
            return "null" if text == "null" else None
        if t in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
            s = text.strip().strip('"')
            v = int(s, 0) if not s.startswith("-") else -int(s[1:], 0)
            return None if v == 0 else v
        if t == "float64":
            v = float(text)
            return None if v == 0.0 else v
        if t == "bool":
            return None if text.strip().lower() == "false" else "true"
        if t in ("string", "bytes"):
            if text == "null":
                return "null"
            s = text.strip('"')
            return None if s == "" else s
        if t == "records":
            return None if text == "null" else text
        return text

    # -- field lists ----------------------------------------------------------------------

    def compare(self, where, v, flex, ours, theirs, up_structs):
        """ours: list of gen_kafka.Field; theirs: list of upstream field dicts."""
        up_present = [f for f in theirs if up_versions(f.get("versions")).contains(v)]
        our_present = [f for f in ours if f.versions.contains(v)]

        def is_up_tagged(f):
            return "tag" in f and flex and up_versions(
                f.get("taggedVersions", f.get("versions"))).contains(v)

        up_untagged = [f for f in up_present if not is_up_tagged(f)]
        up_tagged = {f["tag"]: f for f in up_present if is_up_tagged(f)}
        our_untagged = [f for f in our_present if not (f.tag is not None and flex)]
        our_tagged = {f.tag: f for f in our_present if f.tag is not None and flex}

        if [norm(f.name) for f in our_untagged] != [norm(f["name"]) for f in up_untagged]:
            self.bad(where, f"v{v}: fields {[f.name for f in our_untagged]} != upstream "
                     f"{[f['name'] for f in up_untagged]}")
            return
        for o, u in zip(our_untagged, up_untagged):
            self.compare_field(f"{where}.{o.name}", v, flex, o, u, up_structs)
        for tag, o in our_tagged.items():
            u = up_tagged.get(tag)
            if u is None:
                self.bad(where, f"v{v}: tag {tag} ({o.name}) not tagged upstream")
                continue
            if norm(o.name) != norm(u["name"]):
                self.bad(where, f"v{v}: tag {tag} is {o.name}, upstream {u['name']}")
                continue
            self.compare_field(f"{where}.{o.name}", v, flex, o, u, up_structs)
        for f in up_present:
            if "tag" in f and flex and not is_up_tagged(f):
                self.bad(where, f"v{v}: upstream {f['name']} has a tag but is untagged here")

    def compare_field(self, where, v, flex, o, u, up_structs):
        self.checked_fields += 1
        ut = u["type"]
        if o.type != ut:
            self.bad(where, f"v{v}: type {o.type} != upstream {ut}")
            return
        up_null = up_versions(u.get("nullableVersions")).contains(v)
        our_null = o.nullable.contains(v)
        if up_null != our_null:
            self.bad(where, f"v{v}: nullable {our_null} != upstream {up_null}")
        if o.tag is not None or "tag" in u:
            if o.tag != u.get("tag"):
                self.bad(where, f"tag {o.tag} != upstream {u.get('tag')}")
        d_ours = self.norm_default(o.type, o.default, not o.nullable.empty())
        d_up = self.norm_default(ut, u.get("default"), "nullableVersions" in u)
        if d_ours != d_up:
            self.bad(where, f"default {o.default!r} != upstream {u.get('default')!r}")
        if o.struct is not None:
            sub = u.get("fields")
            if sub is None:
                sub = up_structs.get(o.struct.name)
            if sub is None:
                self.bad(where, f"upstream struct {o.struct.name} not found")
                return
            self.compare(where, v, flex, o.struct.fields, sub, up_structs)

    # -- messages -------------------------------------------------------------------------

    def check_message(self, m, updir):
        where = m.name
        path = os.path.join(updir, m.name + ".json")
        if not os.path.exists(path):
            self.bad(where, f"no upstream file {path}")
            return
        up = load_upstream(path)
        if up.get("apiKey") != m.api_key:
            self.bad(where, f"api key {m.api_key} != upstream {up.get('apiKey')}")
        valid = up_versions(up["validVersions"])
        flexv = up_versions(up.get("flexibleVersions", "none"))
        for v in range(m.versions.lo, m.versions.hi + 1):
            if not valid.contains(v):
                self.bad(where, f"v{v} outside upstream validVersions {up['validVersions']}")
                continue
            if m.flex.contains(v) != flexv.contains(v):
                self.bad(where, f"v{v}: flexible {m.flex.contains(v)} != upstream")
        up_structs = {}

        def collect(fields):
            for f in fields:
                if "fields" in f:
                    name = f["type"][2:] if f["type"].startswith("[]") else f["type"]
                    up_structs.setdefault(name, f["fields"])
                    collect(f["fields"])

        for cs in up.get("commonStructs", []):
            up_structs[cs["name"]] = cs["fields"]
            collect(cs["fields"])
        collect(up["fields"])
        for v in range(m.versions.lo, m.versions.hi + 1):
            if valid.contains(v):
                self.compare(where, v, m.flex.contains(v), m.root.fields, up["fields"], up_structs)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: check_schema.py SCHEMA UPSTREAM_MESSAGE_DIR\n")
        return 2
    try:
        schema = gen_kafka.parse_schema(argv[1])
    except gen_kafka.SchemaError as e:
        print(f"check_schema: cannot parse {argv[1]}: {e}")
        return 1
    ck = Checker()
    n_msgs = n_versions = skipped = 0
    for m in schema.messages:
        if m.api_key is None:
            skipped += 1
            continue
        n_msgs += 1
        n_versions += m.versions.hi - m.versions.lo + 1
        ck.check_message(m, argv[2])
    for p in ck.problems:
        print("MISMATCH " + p)
    status = "FAIL" if ck.problems else "OK"
    print(f"check_schema: {status}: {n_msgs} messages, {n_versions} message versions, "
          f"{ck.checked_fields} field checks, {len(ck.problems)} mismatches "
          f"({skipped} data records skipped)")
    return 1 if ck.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
