// SPDX-License-Identifier: GPL-2.0
/* The value of an enumerator the kernel's enum pid_type lacks, on a path the
 * verifier reaches: libbpf refuses the object. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum pid_type___missing {
	PIDTYPE_PID___missing = 3,
	PIDTYPE_NO_SUCH___missing = 9,
};

__u64 out;

SEC("socket")
int fail_enumval(struct __sk_buff *skb)
{
	out = bpf_core_enum_value(enum pid_type___missing, PIDTYPE_PID___missing) +
	      bpf_core_enum_value(enum pid_type___missing, PIDTYPE_NO_SUCH___missing);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
