// Programs the kernel verifies against one of its own BTF types: a tp_btf program
// (attach_btf_id = typedef btf_trace_<tracepoint>) and a bpf_iter program.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";
volatile const char bpf_metadata_kind[] = "btf-attached";

SEC("tp_btf/sched_switch")
int on_switch(__u64 *ctx)
{
	return 0;
}

SEC("raw_tp/sched_switch")
int on_switch_raw(__u64 *ctx)
{
	return 0;
}
