// SPDX-License-Identifier: GPL-2.0
/* A CO-RE field offset that cannot be resolved (the kernel's task_struct has
 * no such field) on a path the verifier reaches: libbpf refuses the object,
 * its verifier log naming the relocation. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___missing {
	int pid;
	long no_such_field;
} __attribute__((preserve_access_index));

__u64 out;

SEC("kprobe/do_nanosleep")
int fail_byte_off(void *ctx)
{
	struct task_struct___missing *task = (void *)bpf_get_current_task();

	out = BPF_CORE_READ(task, no_such_field);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
