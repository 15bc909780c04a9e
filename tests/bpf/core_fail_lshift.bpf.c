// SPDX-License-Identifier: GPL-2.0
/* The left shift of a bitfield the kernel's task_struct lacks, on a path the
 * verifier reaches: libbpf refuses the object. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___missing {
	int pid;
	unsigned int no_such_bits: 3;
} __attribute__((preserve_access_index));

__u64 out;

SEC("kprobe/do_nanosleep")
int fail_lshift(void *ctx)
{
	struct task_struct___missing *task = (void *)bpf_get_current_task();

	out = __builtin_preserve_field_info(task->no_such_bits, BPF_FIELD_LSHIFT_U64);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
