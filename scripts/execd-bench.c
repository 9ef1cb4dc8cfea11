/*
 * A small client of Pacemaker's executor (pacemaker-execd) through its own client library,
 * liblrmd, for the side-by-side lrmd benchmark (scripts/bench-lrmd.py, make bench).
 *
 *   execd-bench register N PREFIX PROVIDER TYPE   register N resources ocf:PROVIDER:TYPE
 *   execd-bench seq N RESOURCES PREFIX            N starts, one at a time, over RESOURCES
 *   execd-bench par N RESOURCES PREFIX            N starts over RESOURCES, 64 in flight
 *
 * (execd evicts a client that leaves ~500 results unread, so par keeps 64 requests in flight
 * and sends one more as each result arrives, rather than all N at once.)
 *
 * seq and par print the seconds they took. Build (pacemaker-dev installed):
 *   cc -O2 -o execd-bench execd-bench.c $(pkg-config --cflags --libs pacemaker-lrmd glib-2.0)
 */
#include <crm/crm.h>
#include <crm/services.h>
#include <crm/lrmd.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lrmd_t *executor;
static GMainLoop *loop;
static int total, issued, completed, resources, failures;
static const char *prefix;
static int sequential;
static const int window = 64;

static void issue(void)
{
    char id[128];
    snprintf(id, sizeof(id), "%s%d", prefix, issued % resources);
    issued++;
    int rc = executor->cmds->exec(executor, id, "start", NULL, 0, 20000, 0, 0, NULL);
    if (rc < 0) {
        fprintf(stderr, "execd-bench: exec of %s failed: %s\n", id, pcmk_strerror(rc));
        exit(1);
    }
}

static void on_event(lrmd_event_data_t *event)
{
    if (event->type != lrmd_event_exec_complete) {
        return;
    }
    if (event->rc != PCMK_OCF_OK || event->op_status != 0) {
        failures++;
    }
    completed++;
    if (completed == total) {
        g_main_loop_quit(loop);
    } else if (issued < total) {
        issue();
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: execd-bench register N PREFIX PROVIDER TYPE | seq|par N RESOURCES PREFIX\n");
        return 2;
    }
    executor = lrmd_api_new();
    loop = g_main_loop_new(NULL, FALSE);
    int rc = executor->cmds->connect(executor, "execd-bench", NULL);
    if (rc != pcmk_ok) {
        fprintf(stderr, "execd-bench: cannot connect to pacemaker-execd: %s\n", pcmk_strerror(rc));
        return 1;
    }
    executor->cmds->set_callback(executor, on_event);

    if (strcmp(argv[1], "register") == 0 && argc == 6) {
        int n = atoi(argv[2]);
        char id[128];
        for (int i = 0; i < n; i++) {
            snprintf(id, sizeof(id), "%s%d", argv[3], i);
            rc = executor->cmds->register_rsc(executor, id, "ocf", argv[4], argv[5], 0);
            if (rc != pcmk_ok) {
                fprintf(stderr, "execd-bench: cannot register %s: %s\n", id, pcmk_strerror(rc));
                return 1;
            }
        }
    } else if ((strcmp(argv[1], "seq") == 0 || strcmp(argv[1], "par") == 0) && argc == 5) {
        total = atoi(argv[2]);
        resources = atoi(argv[3]);
        prefix = argv[4];
        sequential = strcmp(argv[1], "seq") == 0;
        gint64 start = g_get_monotonic_time();
        int first = sequential ? 1 : (total < window ? total : window);
        while (issued < first) {
            issue();
        }
        g_main_loop_run(loop);
        printf("%.6f\n", (g_get_monotonic_time() - start) / 1e6);
        if (failures > 0) {
            fprintf(stderr, "execd-bench: %d operations failed\n", failures);
            return 1;
        }
    } else {
        fprintf(stderr, "execd-bench: unknown command %s\n", argv[1]);
        return 2;
    }
    executor->cmds->disconnect(executor);
    lrmd_api_delete(executor);
    return 0;
}
