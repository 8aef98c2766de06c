/* fuzz_control.c — libFuzzer target for the control-plane wire format: the input is a stream of
 * frames ([u32 BE length][ControlFrame]), decoded one after the other as the controller
 * listener would.  A raft message that decodes must re-encode, decode again to the same
 * struct raft_msg, and re-encode to the same bytes; any other body must re-encode and decode.
 *
 * Seeds (tests/fuzz/seeds/fuzz_control/) are written by this file's own generator, built
 * without libFuzzer:
 *   cc -std=gnu11 -D_GNU_SOURCE -DFUZZ_CONTROL_WRITE_SEEDS -I. -Ibuild/gen \
 *     tests/fuzz/fuzz_control.c build/libgregor.a -lprotobuf-c -o /tmp/control_seeds \
 *     && /tmp/control_seeds tests/fuzz/seeds/fuzz_control
 */
#include "common/common.h"
#include "proto/proto_control.h"
#include "raft/raft_io_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FRAME ((size_t)1 << 20)
#define FUZZ_FRAMES_MAX 64

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_control: %s\n", what);
        abort();
    }
}

static bool msg_eq(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
        a->last_log_index != b->last_log_index || a->last_log_term != b->last_log_term ||
        a->force != b->force || a->reject != b->reject || a->prev_index != b->prev_index ||
        a->prev_term != b->prev_term || a->commit != b->commit || a->index != b->index ||
        a->hint_index != b->hint_index || a->hint_term != b->hint_term ||
        a->n_entries != b->n_entries)
        return false;
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->index != y->index || x->term != y->term || x->type != y->type || x->len != y->len ||
            (x->len && memcmp(x->data, y->data, x->len) != 0))
            return false;
    }
    const struct raft_snapshot *s = &a->snapshot, *t = &b->snapshot;
    if (s->index != t->index || s->term != t->term || s->n_voters != t->n_voters ||
        s->len != t->len || (s->len && memcmp(s->data, t->data, s->len) != 0))
        return false;
    return memcmp(s->voters, t->voters, s->n_voters * sizeof(s->voters[0])) == 0;
}

static void roundtrip_raft(const struct raft_msg *m, struct arena *a)
{
    struct gbuf b1, b2;
    gbuf_init(&b1);
    gbuf_init(&b2);
    check(raft_io_wire_encode(m, &b1) == 0, "a decoded raft message does not encode");
    struct raft_msg m2;
    size_t used = 0;
    check(raft_io_wire_decode(b1.data, b1.len, b1.len, &m2, &used, a) == 0 && used == b1.len,
          "a re-encoded raft message does not decode");
    check(msg_eq(m, &m2), "raft message changed in a round trip");
    check(raft_io_wire_encode(&m2, &b2) == 0, "second encode failed");
    check(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0, "encoding not stable");
    gbuf_close(&b1);
    gbuf_close(&b2);
}

static void roundtrip_frame(const Gregor__Control__ControlFrame *f, struct arena *a)
{
    struct gbuf b;
    gbuf_init(&b);
    check(control_frame_encode(f, &b) == 0, "a decoded frame does not encode");
    struct control_frame_view v;
    int rc = control_frame_decode(b.data, b.len, b.len, &v, a);
    check(rc == 0 && v.frame_bytes == b.len && v.frame->body_case == f->body_case,
          "a re-encoded frame does not decode");
    gbuf_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a, 4096);
    size_t off = 0;
    for (int i = 0; i < FUZZ_FRAMES_MAX && off < size; i++) {
        size_t frame_bytes;
        if (control_frame_peek(data + off, size - off, FUZZ_MAX_FRAME, &frame_bytes)) break;
        struct control_frame_view v;
        int rc = control_frame_decode(data + off, size - off, FUZZ_MAX_FRAME, &v, &a);
        check(rc == 0 || rc == GR_ECORRUPT || rc == GR_EUNSUP, "unexpected decode result");
        if (rc == 0) {
            check(v.frame_bytes == frame_bytes, "frame size disagrees with peek");
            roundtrip_frame(v.frame, &a);
            struct raft_msg m;
            size_t used = 0;
            rc = raft_io_wire_decode(data + off, size - off, FUZZ_MAX_FRAME, &m, &used, &a);
            if (v.frame->body_case == GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT) {
                check(rc == 0 || rc == GR_ECORRUPT, "unexpected raft decode result");
                if (rc == 0) roundtrip_raft(&m, &a);
            } else {
                check(rc == GR_EUNSUP, "non-raft body decoded as raft");
            }
        }
        off += frame_bytes;
        arena_reset(&a);
    }
    arena_close(&a);
    return 0;
}

#ifdef FUZZ_CONTROL_WRITE_SEEDS
/* ------------------------------------------------------------------------------------------ */
/* Seed generator (not part of the fuzz build).                                                */

static void write_seed(const char *dir, const char *name, const struct gbuf *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    check(f != NULL, "cannot open seed file");
    check(fwrite(b->data, 1, b->len, f) == b->len && fclose(f) == 0, "cannot write seed");
}

int main(int argc, char **argv)
{
    check(argc == 2, "usage: control_seeds DIR");
    struct gbuf b;
    gbuf_init(&b);
    uint8_t d1[] = "x=1", d2[] = "snap";

    struct raft_msg vote = {.type = RAFT_MSG_VOTE,
                            .from = 1,
                            .to = 2,
                            .term = 3,
                            .last_log_index = 9,
                            .last_log_term = 2};
    check(raft_io_wire_encode(&vote, &b) == 0, "encode");
    write_seed(argv[1], "raft_vote", &b);

    struct raft_entry es[2] = {{10, 3, RAFT_ENTRY_NOOP, 0, NULL},
                               {11, 3, RAFT_ENTRY_NORMAL, 3, d1}};
    struct raft_msg app = {.type = RAFT_MSG_APPEND,
                           .from = 2,
                           .to = 1,
                           .term = 3,
                           .prev_index = 9,
                           .prev_term = 2,
                           .commit = 9,
                           .entries = es,
                           .n_entries = 2};
    gbuf_reset(&b);
    check(raft_io_wire_encode(&app, &b) == 0, "encode");
    write_seed(argv[1], "raft_append", &b);

    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP,
                            .from = 1,
                            .to = 2,
                            .term = 3,
                            .reject = true,
                            .index = 9,
                            .hint_index = 5,
                            .hint_term = 1};
    gbuf_reset(&b);
    check(raft_io_wire_encode(&resp, &b) == 0, "encode");
    write_seed(argv[1], "raft_append_resp", &b);

    struct raft_msg snap = {.type = RAFT_MSG_SNAPSHOT, .from = 2, .to = 3, .term = 4};
    snap.snapshot = (struct raft_snapshot){
        .index = 20, .term = 4, .voters = {1, 2, 3}, .n_voters = 3, .len = 4, .data = d2};
    gbuf_reset(&b);
    check(raft_io_wire_encode(&snap, &b) == 0, "encode");
    /* two frames in one seed: a heartbeat follows the snapshot */
    struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 3, .term = 4, .commit = 20};
    check(raft_io_wire_encode(&hb, &b) == 0, "encode");
    write_seed(argv[1], "raft_snapshot_heartbeat", &b);

    Gregor__Control__Listener l = GREGOR__CONTROL__LISTENER__INIT, *lp = &l;
    l.name = "PLAINTEXT";
    l.host = "localhost";
    l.port = 9092;
    l.security_protocol = "PLAINTEXT";
    Gregor__Control__BrokerRegistrationRequest rq =
        GREGOR__CONTROL__BROKER_REGISTRATION_REQUEST__INIT;
    uint8_t inc[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    rq.broker_id = 1;
    rq.incarnation_id.data = inc;
    rq.incarnation_id.len = sizeof inc;
    rq.listeners = &lp;
    rq.n_listeners = 1;
    rq.rack = "r1";
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.correlation_id = 1;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST;
    f.broker_registration_request = &rq;
    gbuf_reset(&b);
    check(control_frame_encode(&f, &b) == 0, "encode");
    write_seed(argv[1], "broker_registration", &b);

    Gregor__Control__FetchMetadataResponse ms = GREGOR__CONTROL__FETCH_METADATA_RESPONSE__INIT;
    ms.records.data = d1;
    ms.records.len = 3;
    ms.high_watermark = 7;
    ms.leader_id = 1;
    ms.leader_epoch = 2;
    f.correlation_id = 2;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_RESPONSE;
    f.fetch_metadata_response = &ms;
    gbuf_reset(&b);
    check(control_frame_encode(&f, &b) == 0, "encode");
    write_seed(argv[1], "fetch_metadata_response", &b);

    gbuf_close(&b);
    return 0;
}
#endif
