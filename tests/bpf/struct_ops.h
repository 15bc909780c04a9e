/* A TCP congestion control as a struct_ops map and the programs that implement its
 * members, declared with local types (no vmlinux.h): struct_ops.bpf.c and
 * struct_ops_link.bpf.c set OPS_SECTION, OPS_VAR and OPS_NAME, then include it. */
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

SEC("struct_ops/bpfbind_init")
void BPF_PROG(bpfbind_init, struct sock *sk)
{
	__sync_fetch_and_add(&inits, 1);
}

SEC("struct_ops/bpfbind_ssthresh")
__u32 BPF_PROG(bpfbind_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/bpfbind_cong_avoid")
void BPF_PROG(bpfbind_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/bpfbind_undo_cwnd")
__u32 BPF_PROG(bpfbind_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC(OPS_SECTION)
struct tcp_congestion_ops OPS_VAR = {
	.init = (void *)bpfbind_init,
	.ssthresh = (void *)bpfbind_ssthresh,
	.cong_avoid = (void *)bpfbind_cong_avoid,
	.undo_cwnd = (void *)bpfbind_undo_cwnd,
	.name = OPS_NAME,
};
