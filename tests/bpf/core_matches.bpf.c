// SPDX-License-Identifier: GPL-2.0
/* bpf_core_type_matches(): whether a local type matches the kernel's type of
 * the same (flavour-stripped) name, member by member, for local definitions
 * that match and for ones that do not. The socket filter stores each answer
 * in .bss for BPF_PROG_TEST_RUN. Needs clang 15 or later (the Makefile builds
 * this object with clang-19). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Members in another order than the kernel's, with the kernel's types. (No
 * char member: clang's char is signed for BPF, the kernel's BTF char is not.) */
struct task_struct___ok {
	unsigned int flags;
	int tgid;
	int pid;
	struct task_struct___ok *real_parent;
	int prio;
};

/* pid is a 4-byte int in the kernel, not an 8-byte one. */
struct task_struct___wrong_size {
	long long pid;
};

/* The kernel's task_struct has no such member. */
struct task_struct___no_member {
	int pid;
	int no_such_field;
};

/* A struct here, a struct in the kernel; a union is another kind. */
union task_struct___wrong_kind {
	int pid;
};

/* Enumerators of the kernel's enum, renamed with the flavour. */
enum pid_type___ok {
	PIDTYPE_SID___ok = 3,
	PIDTYPE_PID___ok = 0,
};

/* One enumerator the kernel's enum pid_type lacks. */
enum pid_type___no_enumerator {
	PIDTYPE_PID___no_enumerator,
	PIDTYPE_NO_SUCH___no_enumerator,
};

struct no_such_type___ok {
	int a;
};

struct match_results {
	__u64 runs;
	__u64 task_ok;
	__u64 task_wrong_size;
	__u64 task_no_member;
	__u64 task_wrong_kind;
	__u64 pid_type_ok;
	__u64 pid_type_no_enumerator;
	__u64 no_such_type;
	__u64 wrong_size_exists;	/* type_exists: only the name counts */
};

struct match_results matches;

SEC("socket")
int core_matches(struct __sk_buff *skb)
{
	struct match_results *m = &matches;

	m->runs++;
	m->task_ok = bpf_core_type_matches(struct task_struct___ok);
	m->task_wrong_size = bpf_core_type_matches(struct task_struct___wrong_size);
	m->task_no_member = bpf_core_type_matches(struct task_struct___no_member);
	m->task_wrong_kind = bpf_core_type_matches(union task_struct___wrong_kind);
	m->pid_type_ok = bpf_core_type_matches(enum pid_type___ok);
	m->pid_type_no_enumerator = bpf_core_type_matches(enum pid_type___no_enumerator);
	m->no_such_type = bpf_core_type_matches(struct no_such_type___ok);
	m->wrong_size_exists = bpf_core_type_exists(struct task_struct___wrong_size);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
