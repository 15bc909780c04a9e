// A __hidden global subprogram (as libbpf's usdt.bpf.h declares bpf_usdt_arg): libbpf
// gives it static linkage in the BTF, so the verifier checks it in its caller's context,
// where `res` points to the stack; verified on its own, the store through it is refused.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__hidden __noinline int fill(long *res, long v)
{
	*res = v * 3;
	return 0;
}

SEC("socket")
int hidden_caller(struct __sk_buff *skb)
{
	long out = 0;

	fill(&out, skb->len);
	return out;
}

char LICENSE[] SEC("license") = "GPL";
