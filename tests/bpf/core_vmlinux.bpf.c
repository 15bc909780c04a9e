// A CO-RE program as people write them: built against the build host's vmlinux.h and
// read through BPF_CORE_READ, so that on another kernel its field offsets move (the
// kernel matrix loads it on 6.1 and 6.12).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct seen {
	int pid, tgid, ppid;
	unsigned int flags;
	int prio;
	__u64 start;
	char comm[16];
	int has_state;
} seen;

SEC("tp_btf/sched_switch")
int task_fields(__u64 *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	seen.pid = BPF_CORE_READ(t, pid);
	seen.tgid = BPF_CORE_READ(t, tgid);
	seen.ppid = BPF_CORE_READ(t, real_parent, tgid);
	seen.flags = BPF_CORE_READ(t, flags);
	seen.prio = BPF_CORE_READ(t, prio);
	seen.start = BPF_CORE_READ(t, start_time);
	BPF_CORE_READ_STR_INTO(&seen.comm, t, comm);
	seen.has_state = bpf_core_field_exists(t->__state);
	return 0;
}

SEC("raw_tp/sys_enter")
int mm_fields(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);

	if (!mm)
		return 0;
	return BPF_CORE_READ(mm, total_vm) > 0;
}
