// A struct_ops map and its program: bpfbind cannot load struct_ops yet and must say so
// (UnsupportedFeatureError), never load the program and drop the map.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct tcp_congestion_ops {
	void *init;
	char name[16];
};

SEC("struct_ops/init")
int my_init(void *ctx)
{
	return 0;
}

SEC(".struct_ops")
struct tcp_congestion_ops my_cc = {
	.init = (void *)my_init,
	.name = "bpfbind_cc",
};

char LICENSE[] SEC("license") = "GPL";
