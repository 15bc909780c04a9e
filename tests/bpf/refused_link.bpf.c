// Calls a BPF function that another object defines: the objects must be linked first
// (bpftool gen object), and bpfbind must say so.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int defined_elsewhere(int x);

SEC("socket")
int calls_out(void *ctx)
{
	return defined_elsewhere(3);
}

char LICENSE[] SEC("license") = "GPL";
