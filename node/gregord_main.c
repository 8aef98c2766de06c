/* gregord_main.c — `gregord FILE [--override key=value ...]`, as kafka-server-start.sh. */
#include "node/node.h"

#include "controller/controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "USAGE: gregord server.properties [--override property=value]*\n"
               "\n"
               "Starts a Gregor node (broker and controller roles) with a Kafka-style\n"
               "server.properties.  Format its log directory first:\n"
               "  gregor storage format -t $(gregor storage random-uuid) -c server.properties\n");
}

static const char *type_name(enum cfg_type t)
{
    static const char *names[] = {"int", "long", "boolean", "string", "list", "double",
                                  "password"};
    return names[t];
}

/* `gregord --describe-configs`: the configuration keys as Markdown tables (docs/CONFIGURATION.md
 * is made from this, so the docs cannot drift from the code). */
static void print_config_tables(void)
{
    printf("## Broker keys (server.properties)\n\n| key | type | default | meaning |\n"
           "| --- | --- | --- | --- |\n");
    for (const struct cfg_def *d = cfg_broker_defs; d->name; d++)
        printf("| `%s` | %s | %s | %s%s |\n", d->name, type_name(d->type),
               d->default_value ? (d->default_value[0] ? d->default_value : "(empty)") : "-",
               d->scope == CFG_SCOPE_IGNORED ? "(accepted, no effect yet) " : "", d->doc);
    printf("\n## Topic keys (`--config` at creation)\n\n| key | type | default | broker key "
           "supplying the default | meaning |\n| --- | --- | --- | --- | --- |\n");
    for (const struct cfg_def *d = cfg_topic_defs; d->name; d++)
        printf("| `%s` | %s | %s | `%s` | %s |\n", d->name, type_name(d->type), d->default_value,
               d->broker_synonym, d->doc);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--describe-configs")) {
        print_config_tables();
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    char **overrides = calloc((size_t)argc, sizeof(char *));
    int n_over = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--override") && i + 1 < argc) {
            overrides[n_over++] = argv[++i];
        } else {
            fprintf(stderr, "Unknown argument: %s\n", argv[i]);
            usage(stderr);
            free(overrides);
            return 1;
        }
    }
    char err[1024] = "";
    struct node *n = NULL;
    int rc = node_start(argv[1], overrides, n_over, &n, err, sizeof err);
    free(overrides);
    if (rc) {
        fprintf(stderr, "gregord: %s\n", err[0] ? err : gr_strerror(rc));
        return 1;
    }
    rc = node_run(n);
    node_free(n);
    LOG_INFO("node", "shut down cleanly");
    return rc ? 1 : 0;
}
