// SPDX-License-Identifier: GPL-2.0
/* CO-RE field relocations in the instruction forms a loader must patch, in
 * program types that load without attaching: offsets in ALU immediates
 * (BPF_CORE_READ through bpf_probe_read_kernel), offsets of direct loads
 * (LDX off, on BTF pointers and on the context), and load sizes that libbpf
 * narrows when the kernel's field is smaller than the local one.
 *
 * Every type here is a local view, flavoured `___mine`, that differs from the
 * kernel's: fields reordered or missing, other sizes and signedness, and
 * members that the kernel keeps inside anonymous unions and structs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct sched_entity___mine {
	unsigned long long vruntime;
	unsigned long long sum_exec_runtime;
} __attribute__((preserve_access_index));

struct task_struct___mine {
	int tgid;
	int pid;
	char comm[16];
	struct task_struct___mine *real_parent;
	struct sched_entity___mine se;
	unsigned long long flags;	/* kernel: unsigned int: loads are narrowed */
	int prio;
	unsigned int in_execve: 1;
	unsigned int sched_migrated: 1;
	long no_such_field;		/* not in the kernel */
} __attribute__((preserve_access_index));

/* struct sk_buff keeps dev in an anonymous union inside an anonymous struct
 * inside an anonymous union, and pkt_type (a 3-bit __u8 bitfield) in an
 * anonymous struct inside an anonymous union. */
struct sk_buff___mine {
	unsigned char pkt_type: 3;
	int skb_iif;
	unsigned int len;
	void *dev;
	struct sk_buff___mine *next;
} __attribute__((preserve_access_index));

/* The kprobe context: the kernel's struct pt_regs, two of its fields. */
struct pt_regs___mine {
	unsigned long si;
	unsigned long di;
} __attribute__((preserve_access_index));

/* The tracepoint context, as the kernel's BTF describes it. */
struct trace_event_raw_sched_switch___mine {
	int next_pid;
	int prev_pid;
	long prev_state;
	char next_comm[16];
} __attribute__((preserve_access_index));

/* The task iterator's context: the kernel wraps each member in a union. */
struct bpf_iter__task___mine {
	struct task_struct___mine *task;
	void *meta;
} __attribute__((preserve_access_index));

__u64 seen_pid, seen_flags, seen_parent, seen_comm, seen_bits, seen_len;
__u64 seen_dev, seen_iif, seen_sizes, seen_arg, seen_tp, tasks;

SEC("kprobe/do_nanosleep")
int fields_kprobe(struct pt_regs___mine *regs)
{
	struct task_struct___mine *task = (void *)bpf_get_current_task();
	char comm[16];

	seen_arg = regs->di + regs->si;		/* LDX from the context */
	seen_pid = BPF_CORE_READ(task, pid) + BPF_CORE_READ(task, tgid);
	seen_parent = BPF_CORE_READ(task, real_parent, real_parent, pid);
	seen_comm = BPF_CORE_READ(task, comm[2]) + BPF_CORE_READ(task, se.vruntime);
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	seen_comm += comm[0];
	seen_bits = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve) +
		    BPF_CORE_READ_BITFIELD_PROBED(task, sched_migrated);
	seen_sizes = bpf_core_field_size(task->flags) + bpf_core_field_size(task->se) +
		     bpf_core_field_size(task->comm);
	if (bpf_core_field_exists(task->no_such_field))
		seen_sizes += BPF_CORE_READ(task, no_such_field);
	return 0;
}

SEC("kprobe/consume_skb")
int fields_skb(struct pt_regs___mine *regs)
{
	struct sk_buff___mine *skb = (void *)regs->di;

	seen_len = BPF_CORE_READ(skb, len);
	seen_dev = (unsigned long)BPF_CORE_READ(skb, dev) +
		   (unsigned long)BPF_CORE_READ(skb, next);
	seen_iif = BPF_CORE_READ(skb, skb_iif) + BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	seen_sizes = bpf_core_field_size(skb->pkt_type) +
		     __builtin_preserve_field_info(skb->skb_iif, BPF_FIELD_SIGNED) +
		     __builtin_preserve_field_info(skb->len, BPF_FIELD_SIGNED);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(fields_tp_btf, _Bool preempt, struct task_struct___mine *prev,
	     struct task_struct___mine *next)
{
	/* Direct loads through BTF pointers: the verifier checks each offset
	 * and size against the kernel's struct task_struct. */
	seen_pid = prev->pid + next->tgid;
	seen_flags = prev->flags;		/* an 8-byte load, narrowed to 4 */
	seen_parent = next->real_parent->pid;
	seen_comm = prev->comm[0] + next->se.sum_exec_runtime;
	seen_bits = BPF_CORE_READ_BITFIELD(prev, in_execve) + (unsigned)prev->prio;
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int fields_tracepoint(struct trace_event_raw_sched_switch___mine *ctx)
{
	seen_tp = ctx->prev_pid + ctx->next_pid + ctx->prev_state + ctx->next_comm[1];
	return 0;
}

SEC("iter/task")
int fields_iter(struct bpf_iter__task___mine *ctx)
{
	struct task_struct___mine *task = ctx->task;

	if (!task)
		return 0;
	tasks++;
	seen_pid = task->pid;
	seen_flags = task->flags;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
