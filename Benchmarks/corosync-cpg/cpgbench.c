/* cpgbench: a CPG client for the real corosync's libcpg (Debian's libcpg4), for
 * scripts/bench-corosync.py. Debian ships no corosync headers without corosync-dev, so the
 * few declarations it needs are written out here from corosync 3's public API (cpg.h,
 * corotypes.h); it links against libcpg.so.4 directly. Not part of the Swift build.
 *
 *   cpgbench recv GROUP N        join GROUP, print "ready", count N deliveries, print
 *                                "recv N FIRST LAST" (CLOCK_REALTIME seconds of the first
 *                                and last delivery)
 *   cpgbench send GROUP N SIZE M join GROUP, wait until it has M members, multicast N
 *                                messages of SIZE bytes (agreed order, TRY_AGAIN retried),
 *                                print "sent N START END"
 *   cpgbench lat GROUP N SIZE M RATE
 *                                as send, but RATE messages a second, and print
 *                                "lat N P50 P99": milliseconds from each send to its own
 *                                delivery at this sender (the first 100 not counted)
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t cpg_handle_t;
typedef int cs_error_t;
#define CS_OK 1
#define CS_ERR_TRY_AGAIN 6
#define CS_DISPATCH_ALL 2
#define CPG_TYPE_AGREED 2
struct cpg_name { uint32_t length; char value[128]; };
struct cpg_address { uint32_t nodeid; uint32_t pid; uint32_t reason; };
typedef void (*cpg_deliver_fn_t)(cpg_handle_t, const struct cpg_name *, uint32_t, uint32_t, void *, size_t);
typedef void (*cpg_confchg_fn_t)(cpg_handle_t, const struct cpg_name *, const struct cpg_address *, size_t,
                                 const struct cpg_address *, size_t, const struct cpg_address *, size_t);
typedef struct { cpg_deliver_fn_t cpg_deliver_fn; cpg_confchg_fn_t cpg_confchg_fn; } cpg_callbacks_t;
cs_error_t cpg_initialize(cpg_handle_t *, cpg_callbacks_t *);
cs_error_t cpg_fd_get(cpg_handle_t, int *);
cs_error_t cpg_dispatch(cpg_handle_t, int);
cs_error_t cpg_join(cpg_handle_t, const struct cpg_name *);
cs_error_t cpg_mcast_joined(cpg_handle_t, int, const struct iovec *, unsigned int);
cs_error_t cpg_finalize(cpg_handle_t);

static long delivered, wanted;
static size_t members;
static double first, last;
static double *sent_at, *latency;
static long latencies, answered;
#define WARMUP 100

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t node, uint32_t pid, void *msg, size_t len) {
    (void)h; (void)g; (void)node; (void)pid;
    if (sent_at && len >= sizeof(long)) {
        long seq;
        memcpy(&seq, msg, sizeof seq);
        if (seq >= 0 && seq < wanted && sent_at[seq] > 0) {
            /* The first second (warm-up: the group's joins settling) is not counted. */
            if (seq >= WARMUP) latency[latencies++] = mono() - sent_at[seq];
            sent_at[seq] = 0;
            answered++;
        }
    }
    double t = now();
    if (delivered == 0) first = t;
    last = t;
    delivered++;
}

static void confchg(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *m, size_t n,
                    const struct cpg_address *l, size_t ln, const struct cpg_address *j, size_t jn) {
    (void)h; (void)g; (void)m; (void)l; (void)ln; (void)j; (void)jn;
    members = n;
}

static void dispatch(cpg_handle_t h, int fd, int timeout) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, timeout) > 0) cpg_dispatch(h, CS_DISPATCH_ALL);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: cpgbench recv GROUP N | send GROUP N SIZE MEMBERS\n"); return 64; }
    cpg_callbacks_t cb = { deliver, confchg };
    cpg_handle_t h;
    cs_error_t e;
    for (int i = 0; (e = cpg_initialize(&h, &cb)) != CS_OK; i++) {
        if (i > 100) { fprintf(stderr, "cpg_initialize: error %d (is corosync running here?)\n", e); return 69; }
        usleep(100000);
    }
    int fd;
    cpg_fd_get(h, &fd);
    struct cpg_name group;
    group.length = strlen(argv[2]);
    memcpy(group.value, argv[2], group.length);
    while ((e = cpg_join(h, &group)) == CS_ERR_TRY_AGAIN) usleep(10000);
    if (e != CS_OK) { fprintf(stderr, "cpg_join: error %d\n", e); return 69; }
    wanted = atol(argv[3]);
    if (strcmp(argv[1], "recv") == 0) {
        printf("ready\n");
        fflush(stdout);
        while (delivered < wanted) dispatch(h, fd, 1000);
        printf("recv %ld %.6f %.6f\n", delivered, first, last);
    } else if (strcmp(argv[1], "lat") == 0) {
        size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
        size_t want = argc > 5 ? (size_t)atol(argv[5]) : 1;
        double rate = argc > 6 ? atof(argv[6]) : 100;
        while (members < want) dispatch(h, fd, 100);
        char *buf = calloc(1, size < sizeof(long) ? sizeof(long) : size);
        struct iovec iov = { .iov_base = buf, .iov_len = size < sizeof(long) ? sizeof(long) : size };
        sent_at = calloc(wanted, sizeof *sent_at);
        latency = calloc(wanted, sizeof *latency);
        double t0 = mono();
        for (long i = 0; i < wanted; i++) {
            double due = t0 + i / rate;
            for (double t = mono(); t < due; t = mono()) dispatch(h, fd, (int)((due - t) * 1000) + 1 > 0 ? (int)((due - t) * 1000) : 0);
            memcpy(buf, &i, sizeof i);
            sent_at[i] = mono();
            while ((e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN) dispatch(h, fd, 1);
            if (e != CS_OK) { fprintf(stderr, "cpg_mcast_joined: error %d\n", e); return 69; }
        }
        while (answered < wanted) dispatch(h, fd, 1000);
        qsort(latency, latencies, sizeof *latency, by_value);
        printf("lat %ld %.3f %.3f\n", latencies, latency[latencies / 2] * 1000, latency[(long)(latencies * 0.99) < latencies ? (long)(latencies * 0.99) : latencies - 1] * 1000);
    } else {
        size_t size = argc > 4 ? (size_t)atol(argv[4]) : 1024;
        size_t want = argc > 5 ? (size_t)atol(argv[5]) : 1;
        while (members < want) dispatch(h, fd, 100);
        char *buf = calloc(1, size);
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        double start = now();
        for (long i = 0; i < wanted; i++) {
            memcpy(buf, &i, sizeof i);
            while ((e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN) dispatch(h, fd, 1);
            if (e != CS_OK) { fprintf(stderr, "cpg_mcast_joined: error %d\n", e); return 69; }
            if ((i & 63) == 0) dispatch(h, fd, 0);
        }
        double end = now();
        while (delivered < wanted) dispatch(h, fd, 1000);
        printf("sent %ld %.6f %.6f\n", wanted, start, end);
    }
    cpg_finalize(h);
    return 0;
}
