// parity_legacy.bpf.c with BTF-defined maps (see there).
#define BTF_MAPS
#include "parity_legacy.bpf.c"
