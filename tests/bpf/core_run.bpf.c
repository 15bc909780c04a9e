// SPDX-License-Identifier: GPL-2.0
/* CO-RE relocations of every kind that a socket filter can compute and store,
 * for BPF_PROG_TEST_RUN: the program reads the calling task through local
 * views of kernel types that differ from the kernel's (fields reordered, other
 * signedness, a field and a type the kernel lacks, renamed enumerators) and
 * writes what the relocations resolved to, and what it read, into `.bss`.
 * tests/test_core.py checks those values against /sys/kernel/btf/vmlinux and
 * /proc, once for the object as libbpf loads it and once as bpfbind does.
 *
 * Local types carry a `___mine` flavour: libbpf (and bpfbind) match them
 * against the kernel type of the name before the `___`. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct mm_struct___mine {
	/* The kernel has these inside an anonymous struct, in the other order. */
	unsigned long end_code;
	unsigned long start_stack;
	unsigned long start_code;
} __attribute__((preserve_access_index));

struct sched_entity___mine {
	unsigned long long vruntime;
} __attribute__((preserve_access_index));

struct task_struct___mine {
	char comm[16];
	struct mm_struct___mine *mm;
	int tgid;
	int pid;
	struct task_struct___mine *real_parent;
	struct sched_entity___mine se;	/* embedded, as in the kernel */
	unsigned int prio;		/* kernel: int */
	int flags;			/* kernel: unsigned int */
	int in_execve: 1;		/* kernel: unsigned int in_execve:1, elsewhere */
	int no_such_field;		/* not in the kernel */
} __attribute__((preserve_access_index));

struct no_such_type___mine {
	int x;
} __attribute__((preserve_access_index));

/* The kernel's enum pid_type is PIDTYPE_PID = 0 ... PIDTYPE_SID = 3,
 * PIDTYPE_MAX = 4; here the order and the values differ. */
enum pid_type___mine {
	PIDTYPE_MAX___mine = 10,
	PIDTYPE_SID___mine = 11,
	PIDTYPE_PID___mine = 12,
	PIDTYPE_NO_SUCH___mine = 13,
};

/* An ENUM64 in the kernel (NET_IOV_MAX = ~0ULL), a 32-bit enum here. */
enum net_iov_type___mine {
	NET_IOV_MAX___mine = 1,
	NET_IOV_IOURING___mine = 2,
};

/* Field and type relocations; the layout is mirrored by RESULTS in
 * tests/test_core.py (every field 8 bytes, in this order). */
struct core_results {
	__u64 runs;
	/* what the program read through byte_off relocations */
	__u64 pid;
	__u64 tgid;
	__u64 parent_tgid;
	__u64 start_code;
	__u64 end_code;
	__u64 start_stack;
	__u64 comm1;			/* comm[1], one element of an array */
	char comm[16];
	/* field relocations */
	__u64 pid_off;
	__u64 start_stack_off;		/* inside an anonymous struct */
	__u64 vruntime_off;		/* task->se.vruntime: nested */
	__u64 comm_size;
	__u64 mm_size;			/* a pointer */
	__u64 prio_signed;
	__u64 flags_signed;
	__u64 pid_exists;
	__u64 no_such_field_exists;
	__u64 no_such_field_value;	/* read only when it exists: stays 0 */
	__u64 execve_off;
	__u64 execve_size;
	__u64 execve_lshift;
	__u64 execve_rshift;
	__u64 execve_signed;
	__u64 execve_value;
	/* type relocations */
	__u64 task_local_id;
	__u64 task_kernel_id;
	__u64 no_such_type_kernel_id;
	__u64 task_exists;
	__u64 no_such_type_exists;
	__u64 task_size;
	__u64 mm_struct_size;
	__u64 pid_type_size;
	/* enum relocations */
	__u64 sid_exists;
	__u64 no_such_enumerator_exists;
	__u64 sid_value;
	__u64 pid_value;
	__u64 max_value;
	__u64 no_such_enumerator_value;	/* only when it exists: stays 0 */
	__u64 iov_exists;
	__u64 iov_max_value;		/* 64-bit value */
	__u64 iov_iouring_value;
};

struct core_results results;

SEC("socket")
int core_run(struct __sk_buff *skb)
{
	struct task_struct___mine *task = (void *)bpf_get_current_task();
	struct core_results *r = &results;
	struct mm_struct___mine *mm;

	r->runs++;

	r->pid = BPF_CORE_READ(task, pid);
	r->tgid = BPF_CORE_READ(task, tgid);
	r->parent_tgid = BPF_CORE_READ(task, real_parent, tgid);
	mm = BPF_CORE_READ(task, mm);
	r->start_code = BPF_CORE_READ(mm, start_code);
	r->end_code = BPF_CORE_READ(mm, end_code);
	r->start_stack = BPF_CORE_READ(mm, start_stack);
	r->comm1 = BPF_CORE_READ(task, comm[1]);
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);

	r->pid_off = bpf_core_field_offset(task->pid);
	r->start_stack_off = bpf_core_field_offset(mm->start_stack);
	r->vruntime_off = bpf_core_field_offset(task->se.vruntime);
	r->comm_size = bpf_core_field_size(task->comm);
	r->mm_size = bpf_core_field_size(task->mm);
	r->prio_signed = __builtin_preserve_field_info(task->prio, BPF_FIELD_SIGNED);
	r->flags_signed = __builtin_preserve_field_info(task->flags, BPF_FIELD_SIGNED);
	r->pid_exists = bpf_core_field_exists(task->pid);
	r->no_such_field_exists = bpf_core_field_exists(task->no_such_field);
	if (bpf_core_field_exists(task->no_such_field))
		r->no_such_field_value = BPF_CORE_READ(task, no_such_field);

	r->execve_off = bpf_core_field_offset(task->in_execve);
	r->execve_size = bpf_core_field_size(task->in_execve);
	r->execve_lshift = __builtin_preserve_field_info(task->in_execve, BPF_FIELD_LSHIFT_U64);
	r->execve_rshift = __builtin_preserve_field_info(task->in_execve, BPF_FIELD_RSHIFT_U64);
	r->execve_signed = __builtin_preserve_field_info(task->in_execve, BPF_FIELD_SIGNED);
	r->execve_value = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);

	r->task_local_id = bpf_core_type_id_local(struct task_struct___mine);
	r->task_kernel_id = bpf_core_type_id_kernel(struct task_struct___mine);
	r->no_such_type_kernel_id = bpf_core_type_id_kernel(struct no_such_type___mine);
	r->task_exists = bpf_core_type_exists(struct task_struct___mine);
	r->no_such_type_exists = bpf_core_type_exists(struct no_such_type___mine);
	r->task_size = bpf_core_type_size(struct task_struct___mine);
	r->mm_struct_size = bpf_core_type_size(struct mm_struct___mine);
	r->pid_type_size = bpf_core_type_size(enum pid_type___mine);

	r->sid_exists = bpf_core_enum_value_exists(enum pid_type___mine, PIDTYPE_SID___mine);
	r->no_such_enumerator_exists =
		bpf_core_enum_value_exists(enum pid_type___mine, PIDTYPE_NO_SUCH___mine);
	r->sid_value = bpf_core_enum_value(enum pid_type___mine, PIDTYPE_SID___mine);
	r->pid_value = bpf_core_enum_value(enum pid_type___mine, PIDTYPE_PID___mine);
	r->max_value = bpf_core_enum_value(enum pid_type___mine, PIDTYPE_MAX___mine);
	if (bpf_core_enum_value_exists(enum pid_type___mine, PIDTYPE_NO_SUCH___mine))
		r->no_such_enumerator_value =
			bpf_core_enum_value(enum pid_type___mine, PIDTYPE_NO_SUCH___mine);
	r->iov_exists = bpf_core_enum_value_exists(enum net_iov_type___mine, NET_IOV_MAX___mine);
	if (bpf_core_enum_value_exists(enum net_iov_type___mine, NET_IOV_MAX___mine)) {
		r->iov_max_value = bpf_core_enum_value(enum net_iov_type___mine, NET_IOV_MAX___mine);
		r->iov_iouring_value =
			bpf_core_enum_value(enum net_iov_type___mine, NET_IOV_IOURING___mine);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
