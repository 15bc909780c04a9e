// The struct_ops map of struct_ops.bpf.c declared in `.struct_ops.link` (BPF_F_LINK):
// registering it takes a BPF link of type struct_ops, and closing the link unregisters
// it (libbpf 1.2+; Debian's libbpf 1.1 does not know the section).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";
volatile const char bpf_metadata_kind[] = "struct_ops";

struct sock;

struct tcp_congestion_ops {
	void (*init)(struct sock *sk);
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
} __attribute__((preserve_access_index));

/* Connections that took this congestion control: proof that registering it worked. */
__u64 inits;

SEC("struct_ops/bpfbind_l_init")
void BPF_PROG(bpfbind_init, struct sock *sk)
{
	__sync_fetch_and_add(&inits, 1);
}

SEC("struct_ops/bpfbind_l_ssthresh")
__u32 BPF_PROG(bpfbind_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/bpfbind_l_cong_avoid")
void BPF_PROG(bpfbind_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/bpfbind_l_undo_cwnd")
__u32 BPF_PROG(bpfbind_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops bpfbind_cc_link = {
	.init = (void *)bpfbind_init,
	.ssthresh = (void *)bpfbind_ssthresh,
	.cong_avoid = (void *)bpfbind_cong_avoid,
	.undo_cwnd = (void *)bpfbind_undo_cwnd,
	.name = "bpfbind_cc_link",
};
