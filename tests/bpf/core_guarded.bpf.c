// SPDX-License-Identifier: GPL-2.0
/* CO-RE relocations that cannot be resolved on this kernel, each behind a
 * check that the verifier resolves as false, so it never reaches them: a
 * field the kernel's type lacks, a type the kernel lacks, an enumerator the
 * kernel's enum lacks. libbpf poisons each such instruction (a call to an
 * invalid helper) and the program still loads; a loader must do the same. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___guarded {
	int pid;
	long no_such_field;
	unsigned int no_such_bits: 3;
} __attribute__((preserve_access_index));

struct no_such_type___guarded {
	int a;
	int b: 4;
} __attribute__((preserve_access_index));

enum pid_type___guarded {
	PIDTYPE_TGID___guarded = 5,
	PIDTYPE_NO_SUCH___guarded = 6,
};

enum no_such_enum___guarded {
	NO_SUCH_ENUMERATOR___guarded = 7,
};

__u64 out[16];

SEC("kprobe/do_nanosleep")
int guarded_fields(void *ctx)
{
	struct task_struct___guarded *task = (void *)bpf_get_current_task();

	out[0] = BPF_CORE_READ(task, pid);
	if (bpf_core_field_exists(task->no_such_field)) {
		out[1] = BPF_CORE_READ(task, no_such_field);		/* byte_off */
		out[2] = bpf_core_field_size(task->no_such_field);	/* byte_sz */
		out[3] = __builtin_preserve_field_info(task->no_such_field, BPF_FIELD_SIGNED);
	}
	if (bpf_core_field_exists(task->no_such_bits)) {
		out[4] = __builtin_preserve_field_info(task->no_such_bits, BPF_FIELD_LSHIFT_U64);
		out[5] = __builtin_preserve_field_info(task->no_such_bits, BPF_FIELD_RSHIFT_U64);
		out[6] = BPF_CORE_READ_BITFIELD_PROBED(task, no_such_bits);
	}
	return 0;
}

SEC("kprobe/do_nanosleep")
int guarded_types(void *ctx)
{
	struct no_such_type___guarded *p = (void *)bpf_get_current_task();

	/* Type relocations on a missing type resolve to 0: reached, harmless. */
	out[7] = bpf_core_type_exists(struct no_such_type___guarded) +
		 bpf_core_type_size(struct no_such_type___guarded) +
		 bpf_core_type_id_kernel(struct no_such_type___guarded);
	if (bpf_core_type_exists(struct no_such_type___guarded)) {
		out[8] = BPF_CORE_READ(p, a);
		out[9] = BPF_CORE_READ_BITFIELD_PROBED(p, b);
	}
	return 0;
}

SEC("raw_tp/sched_switch")
int guarded_enums(void *ctx)
{
	out[10] = bpf_core_enum_value(enum pid_type___guarded, PIDTYPE_TGID___guarded);
	if (bpf_core_enum_value_exists(enum pid_type___guarded, PIDTYPE_NO_SUCH___guarded))
		out[11] = bpf_core_enum_value(enum pid_type___guarded, PIDTYPE_NO_SUCH___guarded);
	if (bpf_core_type_exists(enum no_such_enum___guarded))
		out[12] = bpf_core_enum_value(enum no_such_enum___guarded,
					      NO_SUCH_ENUMERATOR___guarded);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
