// parity_sections.bpf.c with the names libbpf 1.x refuses (see there).
#define CILIUM_NAMES
#include "parity_sections.bpf.c"
