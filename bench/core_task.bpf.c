// The CO-RE load benchmark's object: a tracepoint program reading several task_struct
// fields through CO-RE relocations (bench/load_core.py), built against the running
// kernel's vmlinux.h.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event { int pid, tgid, ppid; unsigned int flags; char comm[16]; long prio; u64 start; };
struct event ev;

SEC("tracepoint/sched/sched_switch")
int on_switch(void *ctx)
{
    struct task_struct *t = (void *)bpf_get_current_task();
    ev.pid = BPF_CORE_READ(t, pid);
    ev.tgid = BPF_CORE_READ(t, tgid);
    ev.ppid = BPF_CORE_READ(t, real_parent, tgid);
    ev.flags = BPF_CORE_READ(t, flags);
    ev.prio = BPF_CORE_READ(t, prio);
    ev.start = BPF_CORE_READ(t, start_time);
    BPF_CORE_READ_STR_INTO(&ev.comm, t, comm);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
