#define _GNU_SOURCE
/* swiftcpgbench: the CPG client of scripts/bench-corosync.py for corosyncd, in C like
 * cpgbench.c (its twin for the real corosync's libcpg), so that both sides are measured with
 * clients of the same cost. It speaks corosyncd's local IPC directly: 4-byte big-endian length
 * frames, JSON for the join and the configuration changes, binary frames for the data path
 * (see Sources/Messaging/IPC/CorosyncAPI.swift):
 *   request  0, 1, id (8), 1 (cpgMulticast), group length (1), group, payload
 *   reply    0, 2, id (8), 1 (done) | 2 (tryAgain), queued (4)
 *   event    0, 4, 1 (cpgDeliver), group length (1), group, node (4), pid (4), payload
 * Not part of the Swift build.
 *
 *   swiftcpgbench SOCKET recv GROUP N
 *   swiftcpgbench SOCKET send GROUP N SIZE M
 *   swiftcpgbench SOCKET lat GROUP N SIZE M RATE
 * with the same meaning and output as cpgbench's.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd;
static unsigned char *in;
static size_t in_len, in_cap = 4 << 20;
static unsigned char *out;
static size_t out_len, out_cap = 8 << 20;
static uint64_t next_id = 1;
static const char *group;
static size_t group_len;

static long delivered, wanted, outstanding;
static size_t members;
static double first, last;
static double *sent_at, *latency;
static long latencies, answered;
#define WARMUP 100

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what) {
    fprintf(stderr, "swiftcpgbench: %s\n", what);
    exit(69);
}

static void flush_out(void) {
    size_t done = 0;
    while (done < out_len) {
        ssize_t n = write(fd, out + done, out_len - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("write to corosyncd failed");
        }
        done += (size_t)n;
    }
    out_len = 0;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void queue_json(const char *json) {
    size_t n = strlen(json);
    put32(out + out_len, (uint32_t)n);
    memcpy(out + out_len + 4, json, n);
    out_len += 4 + n;
}

static void queue_multicast(const unsigned char *payload, size_t size) {
    size_t body = 2 + 8 + 1 + 1 + group_len + size;
    if (out_len + 4 + body > out_cap) flush_out();
    unsigned char *p = out + out_len;
    put32(p, (uint32_t)body);
    p[4] = 0;
    p[5] = 1;
    uint64_t id = next_id++;
    for (int i = 0; i < 8; i++) p[6 + i] = id >> (56 - 8 * i);
    p[14] = 1;
    p[15] = (unsigned char)group_len;
    memcpy(p + 16, group, group_len);
    memcpy(p + 16 + group_len, payload, size);
    out_len += 4 + body;
    outstanding++;
}

/* One frame, binary or JSON. Returns 1 for a tryAgain reply. */
static int handle(const unsigned char *f, size_t n) {
    if (n >= 3 && f[0] == 0 && f[1] == 4 && f[2] == 1) {
        size_t g = n > 3 ? f[3] : 0;
        const unsigned char *payload = f + 4 + g + 8;
        size_t len = n - (4 + g + 8);
        if (sent_at && len >= sizeof(long)) {
            long seq;
            memcpy(&seq, payload, sizeof seq);
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
        return 0;
    }
    if (n >= 11 && f[0] == 0 && f[1] == 2) {
        outstanding--;
        return f[10] == 2;
    }
    if (n > 0 && f[0] == '{') {
        /* JSON: the configuration changes (their member count); a failure ends the run. */
        char *s = strndup((const char *)f, n);
        if (strstr(s, "\"kind\":\"failure\"")) {
            fprintf(stderr, "swiftcpgbench: corosyncd: %s\n", s);
            exit(69);
        }
        char *m = strstr(s, "\"members\":[");
        if (m && strstr(s, "cpgConfigurationChange")) {
            char *end = strchr(m, ']');
            size_t count = 0;
            for (char *p = strstr(m, "\"nodeID\""); p && p < end; p = strstr(p + 1, "\"nodeID\"")) count++;
            members = count;
        }
        free(s);
    }
    return 0;
}

/* Reads what is there (waiting up to timeout ms) and handles every whole frame. Returns the
 * number of tryAgain replies. */
static int pump(int timeout) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, timeout) <= 0) return 0;
    ssize_t n = read(fd, in + in_len, in_cap - in_len);
    if (n == 0) die("corosyncd closed the connection");
    if (n < 0) {
        if (errno == EINTR) return 0;
        die("read from corosyncd failed");
    }
    in_len += (size_t)n;
    size_t at = 0;
    int again = 0;
    while (in_len - at >= 4) {
        size_t len = get32(in + at);
        if (len + 4 > in_cap) die("a frame larger than the buffer");
        if (in_len - at < 4 + len) break;
        again += handle(in + at + 4, len);
        at += 4 + len;
    }
    memmove(in, in + at, in_len - at);
    in_len -= at;
    return again;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: swiftcpgbench SOCKET recv GROUP N | send GROUP N SIZE M | lat GROUP N SIZE M RATE\n");
        return 64;
    }
    in = malloc(in_cap);
    out = malloc(out_cap);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    for (int i = 0;; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) break;
        close(fd);
        if (i > 100) die("cannot connect (is corosyncd running here?)");
        usleep(100000);
    }
    /* The welcome. */
    while (in_len < 4 || in_len < 4 + get32(in)) {
        ssize_t n = read(fd, in + in_len, in_cap - in_len);
        if (n <= 0) die("no welcome from corosyncd");
        in_len += (size_t)n;
    }
    if (!memmem(in + 4, get32(in), "welcome", 7)) die("corosyncd refused the connection");
    size_t w = 4 + get32(in);
    memmove(in, in + w, in_len - w);
    in_len -= w;

    const char *mode = argv[2];
    group = argv[3];
    group_len = strlen(group);
    wanted = atol(argv[4]);
    char join[512];
    snprintf(join, sizeof join, "{\"kind\":\"request\",\"id\":%llu,\"request\":{\"cpgJoin\":{\"group\":\"%s\"}}}",
             (unsigned long long)next_id++, group);
    queue_json(join);
    flush_out();
    outstanding = 1;

    if (strcmp(mode, "recv") == 0) {
        printf("ready\n");
        fflush(stdout);
        while (delivered < wanted) pump(1000);
        printf("recv %ld %.6f %.6f\n", delivered, first, last);
        return 0;
    }
    size_t size = argc > 5 ? (size_t)atol(argv[5]) : 1024;
    size_t want = argc > 6 ? (size_t)atol(argv[6]) : 1;
    while (members < want) pump(100);
    size_t bufsize = size < sizeof(long) ? sizeof(long) : size;
    unsigned char *buf = calloc(1, bufsize);
    if (strcmp(mode, "lat") == 0) {
        double rate = argc > 7 ? atof(argv[7]) : 100;
        sent_at = calloc(wanted, sizeof *sent_at);
        latency = calloc(wanted, sizeof *latency);
        double t0 = mono();
        for (long i = 0; i < wanted; i++) {
            double due = t0 + i / rate;
            for (double t = mono(); t < due; t = mono()) pump((int)((due - t) * 1000));
            memcpy(buf, &i, sizeof i);
            sent_at[i] = mono();
            queue_multicast(buf, bufsize);
            flush_out();
        }
        while (answered < wanted) pump(1000);
        qsort(latency, latencies, sizeof *latency, by_value);
        long p99 = (long)(latencies * 0.99);
        if (p99 >= latencies) p99 = latencies - 1;
        printf("lat %ld %.3f %.3f\n", latencies, latency[latencies / 2] * 1000, latency[p99] * 1000);
        return 0;
    }
    /* send: up to 256 requests in flight; a tryAgain is sent again after 1 ms. */
    long sent = 0, retry = 0;
    double start = now();
    while (sent < wanted || outstanding > 0 || retry > 0) {
        while (retry > 0 && outstanding < 256) {
            queue_multicast(buf, bufsize);
            retry--;
        }
        while (sent < wanted && outstanding < 256) {
            memcpy(buf, &sent, sizeof sent);
            queue_multicast(buf, bufsize);
            sent++;
        }
        flush_out();
        int again = pump(1000);
        if (again) {
            retry += again;
            usleep(1000);
        }
    }
    double end = now();
    while (delivered < wanted) pump(1000);
    printf("sent %ld %.6f %.6f\n", wanted, start, end);
    return 0;
}
