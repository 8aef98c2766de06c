/* cli_common.c — what the `gregor` tools share: a joptsimple-like option parser (Kafka's shell
 * tools use joptsimple, so "--name value", "--name=value" and repeated options all work the
 * same way here), usage tables, and librdkafka configuration helpers. */
#include "cli/cli_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t cli_stop;

/* ========================================================================================== */
/* Option parsing                                                                             */

static struct cli_opt *opt_match(struct cli_opt *opts, size_t opts_n, const char *arg,
                                 size_t arg_len)
{
    for (size_t i = 0; i < opts_n; i++) {
        const char *n = opts[i].name;
        if (arg_len > 2 && arg[0] == '-' && arg[1] == '-' && strlen(n) == arg_len - 2 &&
            !strncmp(arg + 2, n, arg_len - 2))
            return &opts[i];
        if (opts[i].alias && strlen(opts[i].alias) == arg_len &&
            !strncmp(arg, opts[i].alias, arg_len))
            return &opts[i];
    }
    return NULL;
}

static int opt_store(struct cli_opt *o, const char *v, char *err, size_t err_len)
{
    o->set = true;
    o->value = v;
    if (o->kind != CLI_OPT_MULTI) return 0;
    if (o->values_n == CLI_MULTI_MAX) {
        strfmt(err, err_len, "Option --%s given more than %d times", o->name, CLI_MULTI_MAX);
        return GR_EINVAL;
    }
    o->values[o->values_n++] = v;
    return 0;
}

int cli_parse(struct cli_opt *opts, size_t opts_n, int argc, char **argv, int first,
              const char **pos, size_t pos_max, size_t *pos_n, char *err, size_t err_len)
{
    if (pos_n) *pos_n = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            if (!pos || !pos_n || *pos_n == pos_max) {
                strfmt(err, err_len, "Found non-option argument '%s'", a);
                return GR_EINVAL;
            }
            pos[(*pos_n)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        struct cli_opt *o = opt_match(opts, opts_n, a, name_len);
        if (!o) {
            strfmt(err, err_len, "%.*s is not a recognized option", (int)name_len, a);
            return GR_EINVAL;
        }
        if (o->kind == CLI_OPT_FLAG) {
            if (eq && name_len != strlen(a)) {
                strfmt(err, err_len, "Option --%s does not take an argument", o->name);
                return GR_EINVAL;
            }
            o->set = true;
            continue;
        }
        const char *v;
        if (name_len != strlen(a)) {
            v = a + name_len + 1;
        } else if (i + 1 < argc &&
                   !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-' &&
                     opt_match(opts, opts_n, argv[i + 1], strcspn(argv[i + 1], "=")))) {
            v = argv[++i];
        } else {
            strfmt(err, err_len, "Option %s requires an argument", a);
            return GR_EINVAL;
        }
        if (opt_store(o, v, err, err_len)) return GR_EINVAL;
    }
    return 0;
}

struct cli_opt *cli_opt(struct cli_opt *opts, size_t opts_n, const char *name)
{
    for (size_t i = 0; i < opts_n; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    assert(!"unknown option name");
    return NULL;
}

const char *cli_val(struct cli_opt *opts, size_t opts_n, const char *name)
{
    struct cli_opt *o = cli_opt(opts, opts_n, name);
    return o->set ? o->value : NULL;
}

bool cli_has(struct cli_opt *opts, size_t opts_n, const char *name)
{
    return cli_opt(opts, opts_n, name)->set;
}

/* Writes text wrapped at `width` columns; continuation lines are indented by `indent`. */
static void usage_wrapped(FILE *f, const char *text, size_t width, size_t indent)
{
    size_t col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " \n");
        if (col && col + 1 + w > width) {
            fprintf(f, "\n%*s", (int)indent, "");
            col = 0;
        }
        if (col) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, w, f);
        col += w;
        p += w;
        if (*p == '\n') {
            fprintf(f, "\n%*s", (int)indent, "");
            col = 0;
            p++;
        }
    }
}

void cli_usage(FILE *f, const char *summary, const struct cli_opt *opts, size_t opts_n)
{
    enum { OPT_COL = 41, DESC_WIDTH = 40 };
    if (summary) fprintf(f, "%s\n", summary);
    fprintf(f, "%-*s%s\n%-*s%s\n", OPT_COL, "Option", "Description", OPT_COL, "------",
            "-----------");
    for (size_t i = 0; i < opts_n; i++) {
        const struct cli_opt *o = &opts[i];
        char left[256];
        strfmt(left, sizeof left, "%s%s--%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
               o->name, o->arg_desc ? " <" : "", o->arg_desc ? o->arg_desc : "",
               o->arg_desc ? ">" : "");
        if (strlen(left) >= OPT_COL)
            fprintf(f, "%s\n%-*s", left, OPT_COL, "");
        else
            fprintf(f, "%-*s", OPT_COL, left);
        usage_wrapped(f, o->help, DESC_WIDTH, OPT_COL);
        fputc('\n', f);
    }
}

int cli_usage_error(const char *msg, const char *summary, const struct cli_opt *opts, size_t opts_n)
{
    if (msg && *msg) fprintf(stderr, "%s\n", msg);
    cli_usage(stderr, summary, opts, opts_n);
    return 1;
}

int cli_require(struct cli_opt *opts, size_t opts_n, const char *name, const char *summary)
{
    if (cli_has(opts, opts_n, name)) return 0;
    char msg[160];
    strfmt(msg, sizeof msg, "Missing required argument \"[%s]\"", name);
    return cli_usage_error(msg, summary, opts, opts_n);
}

int cli_split_kv(const char *s, char *key_buf, size_t key_len, const char **value)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= key_len) return GR_EINVAL;
    memcpy(key_buf, s, (size_t)(eq - s));
    key_buf[eq - s] = 0;
    *value = eq + 1;
    return 0;
}

int cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    if (parse_i64(s, &v) || v < lo || v > hi) return GR_EINVAL;
    *out = v;
    return 0;
}

/* ========================================================================================== */
/* librdkafka configuration                                                                   */

/* librdkafka logs only what is an error (syslog level <= 3), so tool output stays clean. */
static void cli_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level <= 3) fprintf(stderr, "ERROR [%s] %s\n", fac, buf);
}

int cli_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                 size_t err_len)
{
    char rerr[512];
    if (rd_kafka_conf_set(conf, key, value, rerr, sizeof rerr) == RD_KAFKA_CONF_OK) return 0;
    strfmt(err, err_len, "Invalid client property %s=%s: %s", key, value, rerr);
    return GR_EINVAL;
}

static int conf_set_props(rd_kafka_conf_t *conf, const struct props *p, char *err, size_t err_len)
{
    for (size_t i = 0; i < p->n; i++)
        if (cli_conf_set(conf, p->v[i].key, p->v[i].value, err, err_len)) return GR_EINVAL;
    return 0;
}

int cli_props_from_kvs(struct props *p, const char *const *kvs, size_t kvs_n, char *err,
                       size_t err_len)
{
    for (size_t i = 0; i < kvs_n; i++) {
        char key[256];
        const char *v;
        if (cli_split_kv(kvs[i], key, sizeof key, &v)) {
            strfmt(err, err_len, "Invalid command line properties: '%s' (expected key=value)",
                   kvs[i]);
            return GR_EINVAL;
        }
        if (props_set(p, key, v)) {
            strfmt(err, err_len, "out of memory");
            return GR_ENOMEM;
        }
    }
    return 0;
}

static int conf_set_kvs(rd_kafka_conf_t *conf, const char *const *kvs, size_t kvs_n, char *err,
                        size_t err_len)
{
    struct props kv;
    props_init(&kv);
    int rc = cli_props_from_kvs(&kv, kvs, kvs_n, err, err_len);
    if (!rc) rc = conf_set_props(conf, &kv, err, err_len);
    props_close(&kv);
    return rc;
}

rd_kafka_conf_t *cli_conf_new(const char *bootstrap, const char *const *defaults, size_t defaults_n,
                              const char *const *files, size_t files_n, const char *const *kvs,
                              size_t kvs_n, char *err, size_t err_len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, cli_log_cb);
    if (conf_set_kvs(conf, defaults, defaults_n, err, err_len)) goto err_conf;
    for (size_t i = 0; i < files_n; i++) {
        if (!files[i]) continue;
        struct props p;
        props_init(&p);
        int rc = props_load(&p, files[i], err, err_len);
        if (!rc) rc = conf_set_props(conf, &p, err, err_len);
        props_close(&p);
        if (rc) goto err_conf;
    }
    if (conf_set_kvs(conf, kvs, kvs_n, err, err_len)) goto err_conf;
    if (bootstrap && cli_conf_set(conf, "bootstrap.servers", bootstrap, err, err_len))
        goto err_conf;
    return conf;

err_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ========================================================================================== */
/* Signals                                                                                    */

/* The first signal asks for a clean stop; a second one lets loops that are draining give up. */
static void cli_on_signal(int sig)
{
    if (cli_stop < 100) cli_stop = cli_stop + 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
