/*
 * process.c - the process collector: CPU time, memory, file descriptors and
 * start time of the current process, read from Linux /proc at scrape time
 * (the same families every official Prometheus client exposes).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

enum {
    PROC_CPU,
    PROC_RESIDENT,
    PROC_VIRTUAL,
    PROC_START_TIME,
    PROC_OPEN_FDS,
    PROC_MAX_FDS,
    PROC_FAMILY_COUNT   /* emitted in this order (collectors go in declaration order) */
};

static const tally_desc process_descs[PROC_FAMILY_COUNT] = {
    [PROC_CPU] = { .type = TALLY_COUNTER, .name = "process_cpu_seconds",
                   .help = "Total user and system CPU time spent in seconds.",
                   .unit = "seconds" },
    [PROC_RESIDENT] = { .type = TALLY_GAUGE, .name = "process_resident_memory_bytes",
                        .help = "Resident memory size in bytes.", .unit = "bytes" },
    [PROC_VIRTUAL] = { .type = TALLY_GAUGE, .name = "process_virtual_memory_bytes",
                       .help = "Virtual memory size in bytes.", .unit = "bytes" },
    [PROC_OPEN_FDS] = { .type = TALLY_GAUGE, .name = "process_open_fds",
                        .help = "Number of open file descriptors." },
    [PROC_MAX_FDS] = { .type = TALLY_GAUGE, .name = "process_max_fds",
                       .help = "Maximum number of open file descriptors." },
    [PROC_START_TIME] = { .type = TALLY_GAUGE, .name = "process_start_time_seconds",
                          .help = "Start time of the process since unix epoch in seconds.",
                          .unit = "seconds" },
};

/* Constants of the machine, read once at registration. */
typedef struct process_info {
    double ticks_per_second;
    double page_size;
    double boot_time;        /* btime from /proc/stat; 0 if unknown */
} process_info;

static double read_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    double btime = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return btime;
}

/* The fields of /proc/self/stat we use (proc(5) numbering). */
typedef struct proc_stat {
    unsigned long long utime, stime;   /* 14, 15: clock ticks */
    unsigned long long starttime;      /* 22: ticks after boot */
    unsigned long long vsize;          /* 23: bytes */
    long long rss;                     /* 24: pages */
} proc_stat;

static bool read_proc_stat(proc_stat *st)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    /* The command name (field 2) may hold spaces and parentheses: the
     * fields we want follow its last ')'. */
    char *p = strrchr(line, ')');
    if (p == NULL)
        return false;
    /* Field 3 (state) onwards; skip 4..13 to reach utime. */
    int n = sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                   "%llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
                   &st->utime, &st->stime, &st->starttime, &st->vsize, &st->rss);
    return n == 5;
}

/* Entries of /proc/self/fd, minus the descriptor used to read it. */
static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1;
}

static void collect_process(tally_emit *e, void *user)
{
    const process_info *info = user;
    proc_stat st;
    if (read_proc_stat(&st)) {
        tally_emit_counter(e, PROC_CPU, NULL,
                           (double)(st.utime + st.stime) / info->ticks_per_second);
        tally_emit_gauge(e, PROC_RESIDENT, NULL, (double)st.rss * info->page_size);
        tally_emit_gauge(e, PROC_VIRTUAL, NULL, (double)st.vsize);
        if (info->boot_time > 0)
            tally_emit_gauge(e, PROC_START_TIME, NULL,
                             info->boot_time + (double)st.starttime / info->ticks_per_second);
    }
    int fds = count_open_fds();
    if (fds >= 0)
        tally_emit_gauge(e, PROC_OPEN_FDS, NULL, fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        tally_emit_gauge(e, PROC_MAX_FDS, NULL,
                         rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

tally_err tally_process_collector_register(tally_registry *reg, const char *category)
{
    if (reg == NULL)
        return TALLY_ERR_FORMAT;
    process_info *info = malloc(sizeof(*info));
    if (info == NULL)
        return TALLY_ERR_NOMEM;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    info->ticks_per_second = ticks > 0 ? (double)ticks : 100.0;
    info->page_size = page > 0 ? (double)page : 4096.0;
    info->boot_time = read_boot_time();
    tally_err rc = tally_collector_register(reg, category != NULL ? category : "system",
                                            process_descs, PROC_FAMILY_COUNT,
                                            collect_process, info, free);
    if (rc != TALLY_OK)
        free(info);
    return rc;
}
