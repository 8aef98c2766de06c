/* cli_main.c — `gregor <tool> [flags]`: dispatches to one of Kafka's shell tools, spelled
 * without the kafka- prefix and .sh suffix (kafka-topics.sh → `gregor topics`). */
#include "cli/cli_int.h"

#include <string.h>

struct cli_tool {
    const char *name;
    const char *alias; /* the Kafka script name, also accepted */
    int (*main)(int argc, char **argv);
    const char *help;
};

static const struct cli_tool cli_tools[] = {
    {"storage", "kafka-storage", cli_storage_main,
     "Format log directories and generate cluster ids (kafka-storage.sh)"},
    {"topics", "kafka-topics", cli_topics_main,
     "Create, delete, describe or list topics (kafka-topics.sh)"},
    {"console-producer", "kafka-console-producer", cli_producer_main,
     "Produce records read from standard input (kafka-console-producer.sh)"},
    {"console-consumer", "kafka-console-consumer", cli_consumer_main,
     "Consume records and print them to standard output (kafka-console-consumer.sh)"},
    {"metadata-quorum", "kafka-metadata-quorum", cli_quorum_main,
     "Describe the KRaft metadata quorum (kafka-metadata-quorum.sh)"},
    {"configs", "kafka-configs", cli_configs_main,
     "Describe or alter topic and broker configs (kafka-configs.sh)"},
    {"leader-election", "kafka-leader-election", cli_leader_election_main,
     "Elect preferred or unclean partition leaders (kafka-leader-election.sh)"},
    {"consumer-groups", "kafka-consumer-groups", cli_groups_main,
     "List, describe, delete consumer groups or reset their offsets (kafka-consumer-groups.sh)"},
};

static void cli_main_usage(FILE *f)
{
    fprintf(f, "Usage: gregor <tool> [options]\n\n"
               "The Gregor command-line tools take the same options as Kafka's shell tools.\n"
               "Run `gregor <tool> --help` for a tool's options.\n\nTools:\n");
    for (size_t i = 0; i < GR_ARRAY_LEN(cli_tools); i++)
        fprintf(f, "  %-20s %s\n", cli_tools[i].name, cli_tools[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_main_usage(stderr);
        return 1;
    }
    const char *tool = argv[1];
    if (!strcmp(tool, "--help") || !strcmp(tool, "-h") || !strcmp(tool, "help")) {
        cli_main_usage(stdout);
        return 0;
    }
    size_t tool_len = strlen(tool);
    if (tool_len > 3 && !strcmp(tool + tool_len - 3, ".sh")) tool_len -= 3;
    for (size_t i = 0; i < GR_ARRAY_LEN(cli_tools); i++) {
        const struct cli_tool *t = &cli_tools[i];
        if ((strlen(t->name) == tool_len && !strncmp(tool, t->name, tool_len)) ||
            (strlen(t->alias) == tool_len && !strncmp(tool, t->alias, tool_len)))
            return t->main(argc - 1, argv + 1);
    }
    fprintf(stderr, "gregor: unknown tool '%s'\n\n", tool);
    cli_main_usage(stderr);
    return 1;
}
