//! Entry points for the fuzz targets (`fuzz/`, feature `fuzzing`): the few pure parsers
//! that are private to their modules, reached without changing what they do.

use crate::error::Result;
use crate::scan::census::{self, Census};

/// Parses census records from `buf` into `out` as one read of the iterator would.
pub fn census_records(out: &mut Census, buf: &[u8]) -> Result<usize> {
    census::parse_into(out, buf)
}

/// The census program for a kernel whose BTF is `kernel_btf`.
pub fn census_program(kernel_btf: &[u8]) -> Result<Vec<u64>> {
    census::layout_from(kernel_btf).map(|l| census::program(&l))
}
