// SPDX-License-Identifier: GPL-2.0
/* The BTF kinds a newer clang emits and an older kernel may not know: FLOAT,
 * DECL_TAG, TYPE_TAG, ENUM64 (clang 15+), a signed ENUM, a global FUNC, VAR and
 * DATASEC; the object of tests/test_btf_kinds.py, which loads it as kernels without
 * them take it (libbpf's BTF rewrites). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum big { BIG_A = 1ULL << 40, BIG_B = 2 };
enum small { SMALL_NEG = -1, SMALL_POS = 1 };

struct sample {
	double ratio;
	enum big kind;
	enum small sign;
	int __attribute__((btf_type_tag("user"))) *where;
};

struct sample sample = { .ratio = 0.5, .kind = BIG_A, .sign = SMALL_NEG };
int tagged __attribute__((btf_decl_tag("tagged"))) = 3;
volatile const char bpf_metadata_build[] = "kinds-v1";

__attribute__((noinline)) int global_helper(int x)
{
	return x + tagged;
}

SEC("xdp")
int kinds_xdp(struct xdp_md *ctx)
{
	return global_helper(ctx->ingress_ifindex) > 0 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
