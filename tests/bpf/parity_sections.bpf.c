// With -DCILIUM_NAMES the entry point is static and its section is `xdp_drop`, which
// libbpf 1.x refuses and cilium/ebpf (and bpfbind) read as xdp; parity_sections_twin
// builds the same code the way libbpf accepts it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifdef CILIUM_NAMES
#define XDP_SEC "xdp_drop"
#define LINKAGE static
#else
#define XDP_SEC "xdp"
#define LINKAGE
#endif

SEC(XDP_SEC)
LINKAGE int drop_short(struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data < 64 ? XDP_DROP : XDP_PASS;
}

SEC("socket")
int autoloaded(void *ctx)
{
	return 2;
}

char LICENSE[] SEC("license") = "GPL";
