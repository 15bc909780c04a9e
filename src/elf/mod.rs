//! A BPF ELF object -> an owned, kernel-free model: programs already linked with their
//! subprograms, maps (BTF-defined and internal data maps), and the relocations load/ must patch.

mod btfapi;
mod edits;
mod externs;
mod maps;
mod model;
mod parse;
pub mod probe;
mod reader;
pub mod sections;

pub use edits::{SpecEdits, MAP_FIELDS};
pub use externs::{KCONFIG_SEC, KSYMS_SEC};
pub use maps::internal_map_name;
pub use model::*;
pub use parse::object_name_from_path;

#[cfg(test)]
mod testelf;
#[cfg(test)]
mod tests;
