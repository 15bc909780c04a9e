// SPDX-License-Identifier: GPL-2.0
/* The byte size of a field of a type the kernel does not have, on a path the
 * verifier reaches: libbpf refuses the object. (Type relocations on a missing
 * type resolve to 0; field relocations cannot.) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct no_such_type___missing {
	int a;
	long b;
} __attribute__((preserve_access_index));

__u64 out;

SEC("raw_tp/sched_switch")
int fail_byte_sz(void *ctx)
{
	out = bpf_core_field_size(struct no_such_type___missing, b);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
