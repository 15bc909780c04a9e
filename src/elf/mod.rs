//! A BPF ELF object -> an owned, kernel-free model: programs already linked with their
//! subprograms, maps (BTF-defined and internal data maps), and the relocations load/ must patch.

mod model;
pub use model::*;
