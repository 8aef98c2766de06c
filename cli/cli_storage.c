/* cli_storage.c — `gregor storage` (kafka-storage.sh): random-uuid, format, info.
 *
 * meta.properties, as Kafka 3.x writes it in KRaft mode (java.util.Properties.store with an
 * empty comment, so a "#" line and a date line come first):
 *
 *     #
 *     #Thu Feb 29 10:50:21 UTC 2024
 *     node.id=1
 *     directory.id=<22-char base64 uuid, one per directory>
 *     version=1
 *     cluster.id=<22-char base64 uuid>
 *
 * The file is written to meta.properties.tmp, fsync'd, renamed over meta.properties and the
 * directory fsync'd, so a crash leaves either no file or the whole file.  A directory holding a
 * meta.properties counts as formatted; nothing else in it is looked at.
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORAGE_DIRS_MAX 64
#define STORAGE_DEFAULT_LOG_DIR "/tmp/kraft-combined-logs"
#define STORAGE_METADATA_VERSION "3.7-IV4"

static const char storage_summary[] =
    "usage: gregor storage {info,format,random-uuid} [options]\n\n"
    "The Gregor storage tool (kafka-storage.sh).\n\n"
    "  info          Get information about the log directories on this node.\n"
    "  format        Format the log directories on this node.\n"
    "  random-uuid   Print a random UUID.\n";

static struct cli_opt storage_opts[] = {
    CLI_OPT("config", "-c", CLI_OPT_VALUE, "String: file", "The server.properties file to use."),
    CLI_OPT("cluster-id", "-t", CLI_OPT_VALUE, "String: id", "(format) The cluster ID to use."),
    CLI_OPT("ignore-formatted", "-g", CLI_OPT_FLAG, NULL,
            "(format) Skip directories that are already formatted instead of failing."),
    CLI_OPT("release-version", "-r", CLI_OPT_VALUE, "String: version",
            "(format) The metadata.version to report (default " STORAGE_METADATA_VERSION ")."),
    CLI_OPT("help", "-h", CLI_OPT_FLAG, NULL, "Print usage information."),
};
#define STORAGE_OPTS_N GR_ARRAY_LEN(storage_opts)

struct storage_dirs {
    char *v[STORAGE_DIRS_MAX];
    size_t n;
};

static void storage_dirs_close(struct storage_dirs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i]);
    d->n = 0;
}

static int storage_dirs_add(struct storage_dirs *d, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (!len) return 0;
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->v[i]) == len && !strncmp(d->v[i], s, len)) return 0;
    if (d->n == STORAGE_DIRS_MAX) return GR_ERANGE;
    d->v[d->n] = strndup(s, len);
    if (!d->v[d->n]) return GR_ENOMEM;
    d->n++;
    return 0;
}

static int storage_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* log.dirs (comma-separated), else log.dir, else Kafka's default; plus metadata.log.dir. */
static int storage_dirs_from_props(const struct props *p, struct storage_dirs *d)
{
    const char *dirs = props_get(p, "log.dirs");
    if (!dirs) dirs = props_get(p, "log.dir");
    if (!dirs) dirs = STORAGE_DEFAULT_LOG_DIR;
    for (const char *s = dirs;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        int rc = storage_dirs_add(d, s, len);
        if (rc) return rc;
        if (!comma) break;
        s = comma + 1;
    }
    const char *meta = props_get(p, "metadata.log.dir");
    if (meta) {
        int rc = storage_dirs_add(d, meta, strlen(meta));
        if (rc) return rc;
    }
    qsort(d->v, d->n, sizeof d->v[0], storage_cmp_str);
    return d->n ? 0 : GR_EINVAL;
}

static bool storage_is_formatted(const char *dir)
{
    char path[4096];
    strfmt(path, sizeof path, "%s/meta.properties", dir);
    return access(path, F_OK) == 0;
}

/* mkdir -p. */
static int storage_mkdirs(const char *dir)
{
    char path[4096];
    strfmt(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) && errno != EEXIST) return GR_EIO;
        *p = '/';
    }
    if (mkdir(path, 0755) && errno != EEXIST) return GR_EIO;
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) return GR_EIO;
    return 0;
}

static int storage_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return GR_EIO;
    int rc = fsync(fd) ? GR_EIO : 0;
    close(fd);
    return rc;
}

static int storage_write_meta(const char *dir, const char *node_id, const char *cluster_id)
{
    struct gr_uuid u;
    char dir_id[23], date[64], path[4096], tmp[4096];
    if (gr_uuid_random(&u)) return GR_EIO;
    gr_uuid_to_base64(&u, dir_id);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%a %b %d %H:%M:%S %Z %Y", &tm);
    strfmt(path, sizeof path, "%s/meta.properties", dir);
    strfmt(tmp, sizeof tmp, "%s/meta.properties.tmp", dir);
    FILE *f = fopen(tmp, "w");
    if (!f) return GR_EIO;
    fprintf(f, "#\n#%s\nnode.id=%s\ndirectory.id=%s\nversion=1\ncluster.id=%s\n", date, node_id,
            dir_id, cluster_id);
    if (fflush(f) || fsync(fileno(f))) {
        fclose(f);
        goto err_unlink;
    }
    if (fclose(f)) goto err_unlink;
    if (rename(tmp, path)) goto err_unlink;
    return storage_fsync_dir(dir);

err_unlink:
    unlink(tmp);
    return GR_EIO;
}

/* Kafka's Uuid.fromString checks that the base64 decodes to exactly 16 bytes. */
static int storage_check_cluster_id(const char *id)
{
    struct gr_uuid u;
    if (!gr_uuid_from_base64(id, &u)) return 0;
    size_t len = strlen(id);
    if (len == 22 ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len)
        fprintf(stderr,
                "Cluster ID string %s does not appear to be a valid UUID: Illegal "
                "base64 character\n",
                id);
    else
        fprintf(stderr,
                "Cluster ID string %s does not appear to be a valid UUID: Input string "
                "`%s` decoded as %zu bytes, which is not equal to the expected 16 bytes "
                "of a base64-encoded UUID\n",
                id, id, len * 3 / 4);
    return 1;
}

/* Loads the config file named by -c and the node id and directories it gives. */
static int storage_load(struct props *p, struct storage_dirs *d)
{
    char err[512];
    const char *cfg = cli_val(storage_opts, STORAGE_OPTS_N, "config");
    if (props_load(p, cfg, err, sizeof err)) {
        fprintf(stderr, "Error loading %s: %s\n", cfg, err);
        return 1;
    }
    int rc = storage_dirs_from_props(p, d);
    if (rc) {
        fprintf(stderr, "Invalid log directories in %s: %s\n", cfg, gr_strerror(rc));
        return 1;
    }
    return 0;
}

static int storage_node_id(const struct props *p, const char **out)
{
    const char *node_id = props_get(p, "node.id");
    int64_t v;
    if (!node_id) {
        fprintf(stderr, "Missing required configuration \"node.id\" which has no default "
                        "value.\n");
        return 1;
    }
    if (cli_parse_int(node_id, 0, INT32_MAX, &v)) {
        fprintf(stderr,
                "Invalid value %s for configuration node.id: Not a number of type "
                "INT\n",
                node_id);
        return 1;
    }
    *out = node_id;
    return 0;
}

/* Checks every directory first, then writes: nothing is formatted if any check fails. */
static int storage_format_dirs(const struct storage_dirs *d, const char *node_id,
                               const char *cluster_id, bool ignore_formatted)
{
    const char *mv = cli_val(storage_opts, STORAGE_OPTS_N, "release-version");
    size_t todo = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!storage_is_formatted(d->v[i])) {
            todo++;
        } else if (!ignore_formatted) {
            fprintf(stderr,
                    "Log directory %s is already formatted. Use --ignore-formatted to "
                    "ignore this directory and format the others.\n",
                    d->v[i]);
            return 1;
        }
    }
    if (!todo) {
        printf("All of the log directories are already formatted.\n");
        return 0;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (storage_is_formatted(d->v[i])) continue;
        printf("Formatting %s with metadata.version %s.\n", d->v[i],
               mv ? mv : STORAGE_METADATA_VERSION);
        fflush(stdout);
        if (storage_mkdirs(d->v[i]) || storage_write_meta(d->v[i], node_id, cluster_id)) {
            fprintf(stderr, "Error while writing meta.properties file %s/meta.properties: %s\n",
                    d->v[i], strerror(errno));
            return 1;
        }
    }
    return 0;
}

static int storage_format(void)
{
    const char *cluster_id = cli_val(storage_opts, STORAGE_OPTS_N, "cluster-id");
    if (cli_require(storage_opts, STORAGE_OPTS_N, "config", storage_summary) ||
        cli_require(storage_opts, STORAGE_OPTS_N, "cluster-id", storage_summary))
        return 1;
    if (storage_check_cluster_id(cluster_id)) return 1;
    struct props p;
    struct storage_dirs d = {.n = 0};
    props_init(&p);
    const char *node_id = NULL;
    int rc = storage_load(&p, &d);
    if (!rc) rc = storage_node_id(&p, &node_id);
    if (!rc)
        rc = storage_format_dirs(&d, node_id, cluster_id,
                                 cli_has(storage_opts, STORAGE_OPTS_N, "ignore-formatted"));
    storage_dirs_close(&d);
    props_close(&p);
    return rc;
}

static int storage_info(void)
{
    if (cli_require(storage_opts, STORAGE_OPTS_N, "config", storage_summary)) return 1;
    struct props p;
    struct storage_dirs d = {.n = 0};
    props_init(&p);
    int rc = storage_load(&p, &d), problems = 0;
    for (size_t i = 0; !rc && i < d.n; i++) {
        char path[4096], err[512];
        strfmt(path, sizeof path, "%s/meta.properties", d.v[i]);
        struct props m;
        props_init(&m);
        if (access(d.v[i], F_OK)) {
            printf("Found problem:\n  %s does not exist\n\n", d.v[i]);
            problems++;
        } else if (access(path, F_OK)) {
            printf("Found problem:\n  %s is not formatted.\n\n", d.v[i]);
            problems++;
        } else if (props_load(&m, path, err, sizeof err)) {
            printf("Found problem:\n  %s\n\n", err);
            problems++;
        } else {
            printf("Found log directory:\n  %s\n\nFound metadata: {", d.v[i]);
            for (size_t k = 0; k < m.n; k++)
                printf("%s%s=%s", k ? ", " : "", m.v[k].key, m.v[k].value);
            printf("}\n\n");
        }
        props_close(&m);
    }
    storage_dirs_close(&d);
    props_close(&p);
    return rc ? rc : problems ? 1 : 0;
}

static int storage_random_uuid(void)
{
    struct gr_uuid u;
    char s[23];
    if (gr_uuid_random(&u)) {
        fprintf(stderr, "Cannot read random bytes: %s\n", strerror(errno));
        return 1;
    }
    gr_uuid_to_base64(&u, s);
    printf("%s\n", s);
    return 0;
}

int cli_storage_main(int argc, char **argv)
{
    const char *pos[2];
    size_t pos_n;
    char err[256];
    if (cli_parse(storage_opts, STORAGE_OPTS_N, argc, argv, 1, pos, 2, &pos_n, err, sizeof err))
        return cli_usage_error(err, storage_summary, storage_opts, STORAGE_OPTS_N);
    if (cli_has(storage_opts, STORAGE_OPTS_N, "help")) {
        cli_usage(stdout, storage_summary, storage_opts, STORAGE_OPTS_N);
        return 0;
    }
    if (pos_n != 1)
        return cli_usage_error(pos_n ? "Too many arguments."
                                     : "Missing command: one of info, "
                                       "format, random-uuid.",
                               storage_summary, storage_opts, STORAGE_OPTS_N);
    if (!strcmp(pos[0], "random-uuid")) return storage_random_uuid();
    if (!strcmp(pos[0], "format")) return storage_format();
    if (!strcmp(pos[0], "info")) return storage_info();
    char msg[300];
    strfmt(msg, sizeof msg, "invalid choice: '%s' (choose from 'info', 'format', 'random-uuid')",
           pos[0]);
    return cli_usage_error(msg, storage_summary, storage_opts, STORAGE_OPTS_N);
}
