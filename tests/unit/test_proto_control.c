/*
 * test_proto_control.c — Check suite for the control-plane wire format: the frame envelope
 * (proto/proto_control.h) and the raft_msg mapping (raft/raft_io_wire.h).
 *
 * Under the sanitizer build run with CK_FORK=no so LeakSanitizer sees every decode error path.
 */
#include "proto/proto_control.h"
#include "raft/raft_io_wire.h"
#include "tests/unit/raft_test_msg.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAME ((size_t)1 << 20)

/* ------------------------------------------------------------------------------------------ */
/* Helpers.                                                                                    */

static uint8_t entry_bytes[3][16] = {"alpha", "", "config-change"};
static uint8_t snap_bytes[] = "snapshot-state\x00\x01\x02";

/* A message of type t with every field its type uses set to a distinct nonzero value (and, to
 * prove the wire does not drop them, the scalar fields other types use as well). */
static void sample_msg(enum raft_msg_type t, struct raft_msg *m, struct raft_entry es[3])
{
    memset(m, 0, sizeof(*m));
    m->type = t;
    m->from = 3;
    m->to = 0xfffffffeu;
    m->term = 0x1122334455667788ull;
    m->last_log_index = 41;
    m->last_log_term = 7;
    m->force = (t % 2) == 0;
    m->reject = (t % 3) == 0;
    m->prev_index = 40;
    m->prev_term = 6;
    m->commit = 39;
    m->index = UINT64_MAX;
    m->hint_index = 12;
    m->hint_term = 5;
    if (t == RAFT_MSG_APPEND) {
        es[0] = (struct raft_entry){41, 6, RAFT_ENTRY_NORMAL, 5, entry_bytes[0]};
        es[1] = (struct raft_entry){42, 7, RAFT_ENTRY_NOOP, 0, NULL};
        es[2] = (struct raft_entry){43, 7, RAFT_ENTRY_CONFIG, 13, entry_bytes[2]};
        m->entries = es;
        m->n_entries = 3;
    }
    if (t == RAFT_MSG_SNAPSHOT) {
        m->snapshot.index = 100;
        m->snapshot.term = 6;
        for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++)
            m->snapshot.voters[i] = 1000 + i;
        m->snapshot.n_voters = RAFT_MEMBERS_MAX;
        m->snapshot.len = sizeof(snap_bytes) - 1;
        m->snapshot.data = snap_bytes;
    }
}

/* Field-by-field equality; a decoded empty entry or snapshot must also carry no data pointer. */
static void assert_msg_eq(const struct raft_msg *a, const struct raft_msg *b)
{
    msg_assert_equal(a, b);
    for (uint32_t i = 0; i < a->n_entries; i++)
        if (!a->entries[i].len) ck_assert_ptr_null(b->entries[i].data);
    if (!a->snapshot.len) ck_assert_ptr_null(b->snapshot.data);
}

/* Frames a hand-built RaftMessage (bypassing the encoder's checks). */
static void encode_pb_raft(Gregor__Control__RaftMessage *pm, struct gbuf *out)
{
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT;
    f.raft = pm;
    ck_assert_int_eq(control_frame_encode(&f, out), 0);
}

static int decode_raft(const struct gbuf *b, size_t max_frame, struct raft_msg *m, struct arena *a)
{
    size_t used = 0;
    int rc = raft_io_wire_decode(b->data, b->len, max_frame, m, &used, a);
    if (rc == 0) ck_assert_uint_eq(used, b->len);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Raft messages.                                                                              */

START_TEST(test_raft_roundtrip_every_type)
{
    enum raft_msg_type t = (enum raft_msg_type)(RAFT_MSG_PREVOTE + _i);
    struct raft_entry es[3];
    struct raft_msg m, got;
    sample_msg(t, &m, es);
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), 0);
    ck_assert_uint_eq(be32_get(b.data), b.len - CONTROL_FRAME_HEADER_BYTES);
    struct arena a;
    arena_init(&a, 512);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), 0);
    assert_msg_eq(&m, &got);

    /* and through the generic envelope */
    struct control_frame_view v;
    ck_assert_int_eq(control_frame_decode(b.data, b.len, MAX_FRAME, &v, &a), 0);
    ck_assert_uint_eq(v.frame_bytes, b.len);
    ck_assert_int_eq(v.frame->body_case, GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT);
    ck_assert_int_eq(raft_io_wire_from_frame(v.frame, &got, &a), 0);
    assert_msg_eq(&m, &got);
    arena_close(&a);
    gbuf_close(&b);
}
END_TEST

START_TEST(test_raft_zero_message_and_stream)
{
    /* all-zero fields (proto3 omits them) and three frames back to back in one buffer */
    struct raft_msg m0 = {.type = RAFT_MSG_HEARTBEAT_RESP}, m1, m2, got;
    struct raft_entry es1[3], es2[3];
    sample_msg(RAFT_MSG_APPEND, &m1, es1);
    sample_msg(RAFT_MSG_SNAPSHOT, &m2, es2);
    m2.snapshot.n_voters = 0;
    m2.snapshot.len = 0;
    m2.snapshot.data = NULL;
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(raft_io_wire_encode(&m0, &b), 0);
    ck_assert_int_eq(raft_io_wire_encode(&m1, &b), 0);
    ck_assert_int_eq(raft_io_wire_encode(&m2, &b), 0);
    struct arena a;
    arena_init(&a, 4096);
    const struct raft_msg *want[] = {&m0, &m1, &m2};
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        size_t used = 0;
        ck_assert_int_eq(raft_io_wire_decode(b.data + off, b.len - off, MAX_FRAME, &got, &used, &a),
                         0);
        assert_msg_eq(want[i], &got);
        off += used;
    }
    ck_assert_uint_eq(off, b.len);
    arena_close(&a);
    gbuf_close(&b);
}
END_TEST

START_TEST(test_raft_encode_rejects_bad_messages)
{
    struct raft_entry es[3];
    struct raft_msg m;
    struct gbuf b;
    gbuf_init(&b);

    sample_msg(RAFT_MSG_VOTE, &m, es);
    m.type = (enum raft_msg_type)0;
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);
    m.type = (enum raft_msg_type)(RAFT_MSG_TIMEOUT_NOW + 1);
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);

    sample_msg(RAFT_MSG_APPEND, &m, es);
    m.type = RAFT_MSG_HEARTBEAT; /* entries outside APPEND */
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);
    sample_msg(RAFT_MSG_APPEND, &m, es);
    es[1].type = 3;
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);
    sample_msg(RAFT_MSG_APPEND, &m, es);
    es[1].len = 4; /* len without data */
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);
    sample_msg(RAFT_MSG_APPEND, &m, es);
    m.n_entries = RAFT_IO_WIRE_ENTRIES_MAX + 1;
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);

    sample_msg(RAFT_MSG_SNAPSHOT, &m, es);
    m.snapshot.n_voters = RAFT_MEMBERS_MAX + 1;
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), GR_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    gbuf_close(&b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Framing: truncation, size bounds.                                                           */

START_TEST(test_partial_frames_every_prefix)
{
    struct raft_entry es[3];
    struct raft_msg m, got;
    sample_msg(RAFT_MSG_APPEND, &m, es);
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), 0);
    struct arena a;
    arena_init(&a, 4096);
    for (size_t n = 0; n < b.len; n++) {
        /* a copy of exactly n bytes, so ASan catches any read past the prefix */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, b.data, n);
        struct control_frame_view v;
        ck_assert_int_eq(control_frame_decode(p, n, MAX_FRAME, &v, &a), GR_ETRUNC);
        ck_assert_ptr_null(v.frame);
        size_t fb, used;
        ck_assert_int_eq(control_frame_peek(p, n, MAX_FRAME, &fb), GR_ETRUNC);
        ck_assert_uint_eq(fb, n < CONTROL_FRAME_HEADER_BYTES ? 0 : b.len);
        ck_assert_int_eq(raft_io_wire_decode(p, n, MAX_FRAME, &got, &used, &a), GR_ETRUNC);
        free(p);
    }
    ck_assert_uint_eq(a.used_bytes, 0); /* nothing was allocated for a partial frame */
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), 0);
    arena_close(&a);
    gbuf_close(&b);
}
END_TEST

START_TEST(test_oversized_frame)
{
    struct raft_entry es[3];
    struct raft_msg m, got;
    sample_msg(RAFT_MSG_SNAPSHOT, &m, es);
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), 0);
    size_t body = b.len - CONTROL_FRAME_HEADER_BYTES;
    struct arena a;
    arena_init(&a, 4096);
    ck_assert_int_eq(decode_raft(&b, body, &got, &a), 0); /* exactly at the bound */
    ck_assert_int_eq(decode_raft(&b, body - 1, &got, &a), GR_ERANGE);
    /* known from the header alone, before the body arrives */
    struct control_frame_view v;
    ck_assert_int_eq(control_frame_decode(b.data, 4, body - 1, &v, &a), GR_ERANGE);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(control_frame_decode(huge, 4, MAX_FRAME, &v, &a), GR_ERANGE);
    size_t fb;
    ck_assert_int_eq(control_frame_peek(huge, 4, MAX_FRAME, &fb), GR_ERANGE);
    arena_close(&a);
    gbuf_close(&b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Corrupt input.                                                                              */

START_TEST(test_corrupt_every_byte)
{
    /* Every single-byte change to a valid frame either still decodes (then the mapping holds)
     * or fails with a clean code; ASan/LSan (CK_FORK=no) watch for the rest. */
    struct raft_entry es[3];
    struct raft_msg m, got;
    sample_msg(RAFT_MSG_APPEND, &m, es);
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), 0);
    struct arena a;
    arena_init(&a, 4096);
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    int failures = 0;
    for (size_t i = CONTROL_FRAME_HEADER_BYTES; i < b.len; i++) {
        for (size_t k = 0; k < sizeof(vals); k++) {
            uint8_t *p = malloc(b.len);
            memcpy(p, b.data, b.len);
            p[i] = vals[k];
            size_t used;
            int rc = raft_io_wire_decode(p, b.len, MAX_FRAME, &got, &used, &a);
            ck_assert_msg(rc == 0 || rc == GR_ECORRUPT || rc == GR_EUNSUP, "byte %zu: rc %d", i,
                          rc);
            if (rc) failures++;
            free(p);
            arena_reset(&a);
        }
    }
    ck_assert_int_gt(failures, 0);
    arena_close(&a);
    gbuf_close(&b);
}
END_TEST

START_TEST(test_corrupt_protobuf)
{
    struct arena a;
    arena_init(&a, 4096);
    struct control_frame_view v;
    /* body: field 1 (raft), length 5, but only 2 bytes follow inside the frame */
    static const uint8_t short_sub[] = {0, 0, 0, 4, 0x0a, 0x05, 0x08, 0x01};
    ck_assert_int_eq(control_frame_decode(short_sub, sizeof short_sub, MAX_FRAME, &v, &a),
                     GR_ECORRUPT);
    ck_assert_ptr_null(v.frame);
    /* an unterminated varint */
    static const uint8_t bad_varint[] = {0, 0, 0, 3, 0x78, 0xff, 0xff};
    ck_assert_int_eq(control_frame_decode(bad_varint, sizeof bad_varint, MAX_FRAME, &v, &a),
                     GR_ECORRUPT);
    /* wire type 7 does not exist */
    static const uint8_t bad_wt[] = {0, 0, 0, 2, 0x0f, 0x00};
    ck_assert_int_eq(control_frame_decode(bad_wt, sizeof bad_wt, MAX_FRAME, &v, &a), GR_ECORRUPT);
    /* field number 0 */
    static const uint8_t field0[] = {0, 0, 0, 2, 0x00, 0x00};
    ck_assert_int_eq(control_frame_decode(field0, sizeof field0, MAX_FRAME, &v, &a), GR_ECORRUPT);
    /* an over-long tag 0 (0x80 0x00), which protobuf-c alone would keep as an unknown field;
     * at top level and nested in a raft entry (found by fuzz_control) */
    static const uint8_t long_tag0[] = {0, 0, 0, 3, 0x80, 0x00, 0x00};
    ck_assert_int_eq(control_frame_decode(long_tag0, sizeof long_tag0, MAX_FRAME, &v, &a),
                     GR_ECORRUPT);
    static const uint8_t nested_tag0[] = {0,    0,    0,    11,   0x0a, 0x09, 0x08, 0x05,
                                          0x62, 0x05, 0x08, 0x01, 0x80, 0x00, 0x00};
    ck_assert_int_eq(control_frame_decode(nested_tag0, sizeof nested_tag0, MAX_FRAME, &v, &a),
                     GR_ECORRUPT);
    arena_close(&a);
}
END_TEST

START_TEST(test_unknown_or_missing_body)
{
    struct arena a;
    arena_init(&a, 4096);
    struct control_frame_view v;
    struct raft_msg got;
    size_t used;
    /* empty body: no oneof member */
    static const uint8_t empty[] = {0, 0, 0, 0};
    ck_assert_int_eq(control_frame_decode(empty, sizeof empty, MAX_FRAME, &v, &a), GR_EUNSUP);
    ck_assert_uint_eq(v.frame_bytes, 4);
    /* a newer peer's body (field 14) plus correlation id 9 */
    static const uint8_t newer[] = {0, 0, 0, 4, 0x72, 0x00, 0x78, 0x09};
    ck_assert_int_eq(control_frame_decode(newer, sizeof newer, MAX_FRAME, &v, &a), GR_EUNSUP);
    ck_assert_uint_eq(v.frame_bytes, sizeof newer);
    ck_assert_uint_eq(v.frame->correlation_id, 9);
    ck_assert_int_eq(raft_io_wire_decode(newer, sizeof newer, MAX_FRAME, &got, &used, &a),
                     GR_EUNSUP);
    ck_assert_uint_eq(used, sizeof newer);

    /* a known body that is not raft */
    Gregor__Control__DescribeQuorumRequest dq = GREGOR__CONTROL__DESCRIBE_QUORUM_REQUEST__INIT;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_REQUEST;
    f.describe_quorum_request = &dq;
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(control_frame_encode(&f, &b), 0);
    ck_assert_int_eq(raft_io_wire_decode(b.data, b.len, MAX_FRAME, &got, &used, &a), GR_EUNSUP);
    ck_assert_int_eq(control_frame_decode(b.data, b.len, MAX_FRAME, &v, &a), 0);
    ck_assert_int_eq(raft_io_wire_from_frame(v.frame, &got, &a), GR_EINVAL);
    gbuf_close(&b);
    arena_close(&a);
}
END_TEST

START_TEST(test_raft_fields_out_of_range)
{
    struct arena a;
    arena_init(&a, 4096);
    struct gbuf b;
    gbuf_init(&b);
    struct raft_msg got;
    Gregor__Control__RaftMessage pm;
    Gregor__Control__RaftEntry pe = GREGOR__CONTROL__RAFT_ENTRY__INIT, *pep = &pe;
    Gregor__Control__RaftSnapshot ps = GREGOR__CONTROL__RAFT_SNAPSHOT__INIT;

    /* message types outside enum raft_msg_type */
    const int bad_types[] = {0, 11, 1000, -1};
    for (size_t i = 0; i < GR_ARRAY_LEN(bad_types); i++) {
        gregor__control__raft_message__init(&pm);
        pm.type = (Gregor__Control__RaftMessageType)bad_types[i];
        gbuf_reset(&b);
        encode_pb_raft(&pm, &b);
        ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);
    }

    /* entries outside APPEND */
    gregor__control__raft_message__init(&pm);
    pm.type = GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_VOTE;
    pm.n_entries = 1;
    pm.entries = &pep;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);

    /* entry type that does not fit / is unknown */
    pm.type = GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_APPEND;
    pe.type = 256;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);
    pe.type = 3;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);
    pe.type = RAFT_ENTRY_NOOP;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), 0);
    ck_assert_uint_eq(got.n_entries, 1);

    /* snapshot outside SNAPSHOT; SNAPSHOT without one; too many voters */
    gregor__control__raft_message__init(&pm);
    pm.type = GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_APPEND_RESP;
    pm.snapshot = &ps;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);
    pm.type = GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_SNAPSHOT;
    pm.snapshot = NULL;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);
    uint32_t voters[RAFT_MEMBERS_MAX + 1] = {0};
    ps.voters = voters;
    ps.n_voters = RAFT_MEMBERS_MAX + 1;
    pm.snapshot = &ps;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), GR_ECORRUPT);
    ps.n_voters = RAFT_MEMBERS_MAX;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), 0);
    ck_assert_uint_eq(got.snapshot.n_voters, RAFT_MEMBERS_MAX);

    gbuf_close(&b);
    arena_close(&a);
}
END_TEST

START_TEST(test_too_many_entries)
{
    size_t n = RAFT_IO_WIRE_ENTRIES_MAX + 1;
    Gregor__Control__RaftEntry *pe = calloc(n, sizeof(*pe));
    Gregor__Control__RaftEntry **pp = calloc(n, sizeof(*pp));
    for (size_t i = 0; i < n; i++) {
        gregor__control__raft_entry__init(&pe[i]);
        pe[i].index = 1000000 + i; /* 3-byte varints: keep the frame under the memory cap */
        pe[i].term = 1000000;
        pp[i] = &pe[i];
    }
    Gregor__Control__RaftMessage pm = GREGOR__CONTROL__RAFT_MESSAGE__INIT;
    pm.type = GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_APPEND;
    pm.entries = pp;
    pm.n_entries = n;
    struct gbuf b;
    gbuf_init(&b);
    encode_pb_raft(&pm, &b);
    struct arena a;
    arena_init(&a, 1 << 16);
    struct raft_msg got;
    ck_assert_int_eq(decode_raft(&b, b.len, &got, &a), GR_ECORRUPT);
    /* one fewer is fine */
    pm.n_entries = n - 1;
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    arena_reset(&a);
    ck_assert_int_eq(decode_raft(&b, b.len, &got, &a), 0);
    ck_assert_uint_eq(got.n_entries, n - 1);
    ck_assert_uint_eq(got.entries[n - 2].index, 1000000 + n - 2);
    arena_close(&a);
    gbuf_close(&b);
    free(pp);
    free(pe);
}
END_TEST

START_TEST(test_entry_above_max_bytes)
{
    size_t big = (size_t)RAFT_ENTRY_BYTES_MAX + 1;
    uint8_t *data = calloc(1, big);
    ck_assert_ptr_nonnull(data);
    Gregor__Control__RaftEntry pe = GREGOR__CONTROL__RAFT_ENTRY__INIT, *pep = &pe;
    pe.index = 1;
    pe.term = 1;
    pe.data.data = data;
    pe.data.len = big;
    Gregor__Control__RaftMessage pm = GREGOR__CONTROL__RAFT_MESSAGE__INIT;
    pm.type = GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_APPEND;
    pm.entries = &pep;
    pm.n_entries = 1;
    struct gbuf b;
    gbuf_init(&b);
    encode_pb_raft(&pm, &b);
    struct arena a;
    arena_init(&a, 4096);
    struct raft_msg got;
    ck_assert_int_eq(decode_raft(&b, b.len, &got, &a), GR_ECORRUPT);
    arena_reset(&a);
    pe.data.len = big - 1; /* exactly RAFT_ENTRY_BYTES_MAX */
    gbuf_reset(&b);
    encode_pb_raft(&pm, &b);
    ck_assert_int_eq(decode_raft(&b, b.len, &got, &a), 0);
    ck_assert_uint_eq(got.entries[0].len, RAFT_ENTRY_BYTES_MAX);
    arena_close(&a);
    gbuf_close(&b);
    free(data);
}
END_TEST

START_TEST(test_memory_amplification_capped)
{
    /* 20000 empty entries: 2 wire bytes each, but ~70 bytes of protobuf-c structs each */
    size_t n = 20000;
    struct gbuf b;
    gbuf_init(&b);
    size_t raft_len = 2 + 2 * n;    /* raft { type = APPEND; entries... } */
    size_t body = 1 + 3 + raft_len; /* field 1 tag, 3-byte length, the raft message */
    uint8_t hdr[4];
    be32_put(hdr, (uint32_t)body);
    gbuf_append(&b, hdr, 4);
    uint8_t pre[] = {0x0a,
                     (uint8_t)(0x80 | (raft_len & 0x7f)),
                     (uint8_t)(0x80 | ((raft_len >> 7) & 0x7f)),
                     (uint8_t)(raft_len >> 14),
                     0x08,
                     0x05};
    gbuf_append(&b, pre, sizeof pre);
    for (size_t i = 0; i < n; i++)
        gbuf_append(&b, "\x62\x00", 2);
    ck_assert_uint_eq(b.len, 4 + body);
    struct arena a;
    arena_init(&a, 4096);
    struct control_frame_view v;
    ck_assert_int_eq(control_frame_decode(b.data, b.len, MAX_FRAME, &v, &a), GR_ECORRUPT);
    ck_assert_uint_le(a.used_bytes, CONTROL_DECODE_BYTES_MAX(body));
    arena_close(&a);
    gbuf_close(&b);
}
END_TEST

START_TEST(test_legit_append_within_cap)
{
    /* 4096 NOOP entries with small varints: the densest legitimate frame decodes */
    size_t n = 4096;
    struct raft_entry *es = calloc(n, sizeof(*es));
    for (size_t i = 0; i < n; i++)
        es[i] = (struct raft_entry){i + 1, 1, RAFT_ENTRY_NOOP, 0, 0};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .term = 1, .entries = es, .n_entries = n};
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(raft_io_wire_encode(&m, &b), 0);
    struct arena a;
    arena_init(&a, 4096);
    struct raft_msg got;
    ck_assert_int_eq(decode_raft(&b, MAX_FRAME, &got, &a), 0);
    assert_msg_eq(&m, &got);
    arena_close(&a);
    gbuf_close(&b);
    free(es);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* The other bodies, at the protobuf level.                                                    */

static Gregor__Control__ControlFrame *roundtrip_frame(Gregor__Control__ControlFrame *f,
                                                      struct arena *a)
{
    struct gbuf b;
    gbuf_init(&b);
    ck_assert_int_eq(control_frame_encode(f, &b), 0);
    struct control_frame_view v;
    ck_assert_int_eq(control_frame_decode(b.data, b.len, MAX_FRAME, &v, a), 0);
    ck_assert_uint_eq(v.frame_bytes, b.len);
    ck_assert_int_eq(v.frame->body_case, f->body_case);
    ck_assert_uint_eq(v.frame->correlation_id, f->correlation_id);
    gbuf_close(&b);
    return v.frame;
}

START_TEST(test_broker_lifecycle_roundtrip)
{
    struct arena a;
    arena_init(&a, 4096);
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT, *g;
    f.correlation_id = 77;

    Gregor__Control__Listener l[2] = {GREGOR__CONTROL__LISTENER__INIT,
                                      GREGOR__CONTROL__LISTENER__INIT};
    l[0].name = "PLAINTEXT";
    l[0].host = "broker-1.local";
    l[0].port = 9092;
    l[0].security_protocol = "PLAINTEXT";
    l[1].name = "INTERNAL";
    l[1].host = "10.0.0.1";
    l[1].port = 19092;
    l[1].security_protocol = "SSL";
    Gregor__Control__Listener *lp[2] = {&l[0], &l[1]};
    uint8_t inc[16];
    for (int i = 0; i < 16; i++)
        inc[i] = (uint8_t)(i * 17);
    Gregor__Control__BrokerRegistrationRequest rq =
        GREGOR__CONTROL__BROKER_REGISTRATION_REQUEST__INIT;
    rq.broker_id = 1;
    rq.incarnation_id.data = inc;
    rq.incarnation_id.len = sizeof inc;
    rq.listeners = lp;
    rq.n_listeners = 2;
    rq.rack = "rack-a";
    rq.previous_broker_epoch = -1;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST;
    f.broker_registration_request = &rq;
    g = roundtrip_frame(&f, &a);
    const Gregor__Control__BrokerRegistrationRequest *rq2 = g->broker_registration_request;
    ck_assert_int_eq(rq2->broker_id, 1);
    ck_assert_uint_eq(rq2->incarnation_id.len, 16);
    ck_assert_mem_eq(rq2->incarnation_id.data, inc, 16);
    ck_assert_uint_eq(rq2->n_listeners, 2);
    ck_assert_str_eq(rq2->listeners[1]->name, "INTERNAL");
    ck_assert_str_eq(rq2->listeners[1]->host, "10.0.0.1");
    ck_assert_uint_eq(rq2->listeners[1]->port, 19092);
    ck_assert_str_eq(rq2->listeners[1]->security_protocol, "SSL");
    ck_assert_str_eq(rq2->rack, "rack-a");
    ck_assert_int_eq(rq2->previous_broker_epoch, -1);

    Gregor__Control__BrokerRegistrationResponse rs =
        GREGOR__CONTROL__BROKER_REGISTRATION_RESPONSE__INIT;
    rs.broker_epoch = 1234567890123LL;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_RESPONSE;
    f.broker_registration_response = &rs;
    g = roundtrip_frame(&f, &a);
    ck_assert_int_eq(g->broker_registration_response->broker_epoch, 1234567890123LL);

    Gregor__Control__BrokerHeartbeatRequest hq = GREGOR__CONTROL__BROKER_HEARTBEAT_REQUEST__INIT;
    hq.broker_id = 2;
    hq.broker_epoch = 99;
    hq.current_metadata_offset = 4242;
    hq.want_fence = 1;
    hq.want_shutdown = 1;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST;
    f.broker_heartbeat_request = &hq;
    g = roundtrip_frame(&f, &a);
    ck_assert_int_eq(g->broker_heartbeat_request->broker_id, 2);
    ck_assert_int_eq(g->broker_heartbeat_request->broker_epoch, 99);
    ck_assert_int_eq(g->broker_heartbeat_request->current_metadata_offset, 4242);
    ck_assert(g->broker_heartbeat_request->want_fence);
    ck_assert(g->broker_heartbeat_request->want_shutdown);

    Gregor__Control__BrokerHeartbeatResponse hs = GREGOR__CONTROL__BROKER_HEARTBEAT_RESPONSE__INIT;
    hs.error_code = 15;
    hs.is_caught_up = 1;
    hs.is_fenced = 0;
    hs.should_shut_down = 1;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE;
    f.broker_heartbeat_response = &hs;
    g = roundtrip_frame(&f, &a);
    ck_assert_int_eq(g->broker_heartbeat_response->error_code, 15);
    ck_assert(g->broker_heartbeat_response->is_caught_up);
    ck_assert(!g->broker_heartbeat_response->is_fenced);
    ck_assert(g->broker_heartbeat_response->should_shut_down);
    arena_close(&a);
}
END_TEST

START_TEST(test_metadata_forward_quorum_roundtrip)
{
    struct arena a;
    arena_init(&a, 4096);
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT, *g;
    f.correlation_id = UINT64_MAX;

    Gregor__Control__FetchMetadataRequest mq = GREGOR__CONTROL__FETCH_METADATA_REQUEST__INIT;
    mq.broker_id = 3;
    mq.fetch_offset = 1ull << 40;
    mq.max_bytes = 1 << 20;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_REQUEST;
    f.fetch_metadata_request = &mq;
    g = roundtrip_frame(&f, &a);
    ck_assert_int_eq(g->fetch_metadata_request->broker_id, 3);
    ck_assert_uint_eq(g->fetch_metadata_request->fetch_offset, 1ull << 40);
    ck_assert_uint_eq(g->fetch_metadata_request->max_bytes, 1 << 20);

    uint8_t recs[] = "record-batches";
    Gregor__Control__FetchMetadataResponse ms = GREGOR__CONTROL__FETCH_METADATA_RESPONSE__INIT;
    ms.records.data = recs;
    ms.records.len = sizeof recs;
    ms.high_watermark = 555;
    ms.leader_id = 1;
    ms.leader_epoch = 8;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_RESPONSE;
    f.fetch_metadata_response = &ms;
    g = roundtrip_frame(&f, &a);
    ck_assert_uint_eq(g->fetch_metadata_response->records.len, sizeof recs);
    ck_assert_mem_eq(g->fetch_metadata_response->records.data, recs, sizeof recs);
    ck_assert_uint_eq(g->fetch_metadata_response->high_watermark, 555);
    ck_assert_int_eq(g->fetch_metadata_response->leader_id, 1);
    ck_assert_uint_eq(g->fetch_metadata_response->leader_epoch, 8);

    uint8_t req[] = {1, 2, 3, 0, 255};
    Gregor__Control__ForwardRequest fq = GREGOR__CONTROL__FORWARD_REQUEST__INIT;
    fq.api_key = 19;
    fq.api_version = 7;
    fq.request.data = req;
    fq.request.len = sizeof req;
    fq.principal = "User:ANONYMOUS";
    fq.client_id = "admin";
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_REQUEST;
    f.forward_request = &fq;
    g = roundtrip_frame(&f, &a);
    ck_assert_int_eq(g->forward_request->api_key, 19);
    ck_assert_int_eq(g->forward_request->api_version, 7);
    ck_assert_mem_eq(g->forward_request->request.data, req, sizeof req);
    ck_assert_str_eq(g->forward_request->principal, "User:ANONYMOUS");
    ck_assert_str_eq(g->forward_request->client_id, "admin");

    Gregor__Control__ForwardResponse fs = GREGOR__CONTROL__FORWARD_RESPONSE__INIT;
    fs.error_code = 41;
    fs.response.data = req;
    fs.response.len = 3;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_RESPONSE;
    f.forward_response = &fs;
    g = roundtrip_frame(&f, &a);
    ck_assert_int_eq(g->forward_response->error_code, 41);
    ck_assert_uint_eq(g->forward_response->response.len, 3);
    ck_assert_mem_eq(g->forward_response->response.data, req, 3);

    Gregor__Control__DescribeQuorumRequest dq = GREGOR__CONTROL__DESCRIBE_QUORUM_REQUEST__INIT;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_REQUEST;
    f.describe_quorum_request = &dq;
    g = roundtrip_frame(&f, &a);
    ck_assert_ptr_nonnull(g->describe_quorum_request);

    Gregor__Control__ReplicaState rs[3] = {GREGOR__CONTROL__REPLICA_STATE__INIT,
                                           GREGOR__CONTROL__REPLICA_STATE__INIT,
                                           GREGOR__CONTROL__REPLICA_STATE__INIT};
    for (int i = 0; i < 3; i++) {
        rs[i].replica_id = i + 1;
        rs[i].log_end_offset = 100 + (uint64_t)i;
        rs[i].last_fetch_timestamp_ms = 1700000000000LL + i;
        rs[i].last_caught_up_timestamp_ms = -1;
    }
    Gregor__Control__ReplicaState *vp[2] = {&rs[0], &rs[1]}, *op[1] = {&rs[2]};
    Gregor__Control__DescribeQuorumResponse ds = GREGOR__CONTROL__DESCRIBE_QUORUM_RESPONSE__INIT;
    ds.leader_id = 1;
    ds.leader_epoch = 4;
    ds.high_watermark = 101;
    ds.voters = vp;
    ds.n_voters = 2;
    ds.observers = op;
    ds.n_observers = 1;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_RESPONSE;
    f.describe_quorum_response = &ds;
    g = roundtrip_frame(&f, &a);
    const Gregor__Control__DescribeQuorumResponse *d2 = g->describe_quorum_response;
    ck_assert_int_eq(d2->leader_id, 1);
    ck_assert_uint_eq(d2->leader_epoch, 4);
    ck_assert_uint_eq(d2->high_watermark, 101);
    ck_assert_uint_eq(d2->n_voters, 2);
    ck_assert_uint_eq(d2->n_observers, 1);
    ck_assert_int_eq(d2->voters[1]->replica_id, 2);
    ck_assert_uint_eq(d2->voters[1]->log_end_offset, 101);
    ck_assert_int_eq(d2->observers[0]->last_fetch_timestamp_ms, 1700000000002LL);
    ck_assert_int_eq(d2->observers[0]->last_caught_up_timestamp_ms, -1);
    arena_close(&a);
}
END_TEST

static Suite *proto_control_suite(void)
{
    Suite *s = suite_create("proto_control");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_raft_roundtrip_every_type, 0,
                        RAFT_MSG_TIMEOUT_NOW - RAFT_MSG_PREVOTE + 1);
    tcase_add_test(tc, test_raft_zero_message_and_stream);
    tcase_add_test(tc, test_raft_encode_rejects_bad_messages);
    tcase_add_test(tc, test_partial_frames_every_prefix);
    tcase_add_test(tc, test_oversized_frame);
    tcase_add_test(tc, test_corrupt_every_byte);
    tcase_add_test(tc, test_corrupt_protobuf);
    tcase_add_test(tc, test_unknown_or_missing_body);
    tcase_add_test(tc, test_raft_fields_out_of_range);
    tcase_add_test(tc, test_too_many_entries);
    tcase_add_test(tc, test_entry_above_max_bytes);
    tcase_add_test(tc, test_memory_amplification_capped);
    tcase_add_test(tc, test_legit_append_within_cap);
    tcase_add_test(tc, test_broker_lifecycle_roundtrip);
    tcase_add_test(tc, test_metadata_forward_quorum_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_control_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
