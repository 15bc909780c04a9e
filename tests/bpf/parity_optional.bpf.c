// `SEC("?...")` marks a program libbpf does not load unless asked to.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("?raw_tp")
int not_autoloaded(void *ctx)
{
	return 1;
}

SEC("socket")
int autoloaded(void *ctx)
{
	return 2;
}

char LICENSE[] SEC("license") = "GPL";
