//! Stage: the metadata binding. Which way metadata maps reach every program (fd_array at
//! BPF_PROG_LOAD where the kernel has fd_array_cnt, else BPF_PROG_BIND_MAP right after),
//! and the one owner of the fd_array that a program load passes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::error::Result;
use crate::sys;

use super::{with_context, Binding, Features, LoadOptions, LoadedMap};

/// The binding a load chose, over the object's metadata maps.
pub(super) struct MetadataBinding<'m> {
    pub kind: Binding,
    maps: Vec<&'m LoadedMap>,
    /// The fds BPF_PROG_LOAD binds (fd_array_cnt covers all of them); empty unless
    /// `kind` is FdArray.
    fd_array: Vec<RawFd>,
}

/// The binding for an object with or without metadata, on a kernel with `f`.
pub(super) fn decide(has_metadata: bool, f: Option<&Features>, opts: &LoadOptions) -> Binding {
    match f {
        _ if !has_metadata => Binding::NoMetadata,
        Some(f) if f.fd_array_cnt && !opts.no_fd_array && !opts.no_bind_map => Binding::FdArray,
        Some(f) if f.prog_bind_map && !opts.no_bind_map => Binding::BindMap,
        _ => Binding::Unbound,
    }
}

impl<'m> MetadataBinding<'m> {
    pub fn choose(
        maps: &'m [LoadedMap],
        opts: &LoadOptions,
        warnings: &mut Vec<String>,
    ) -> Result<Self> {
        let meta: Vec<&LoadedMap> = maps.iter().filter(|m| m.spec.is_metadata()).collect();
        let f = if meta.is_empty() {
            None
        } else {
            Some(super::features()?)
        };
        let kind = decide(!meta.is_empty(), f.as_ref(), opts);
        if kind == Binding::Unbound {
            warnings.push(if opts.no_bind_map {
                "binding was turned off: metadata maps are not bound to the programs".to_string()
            } else {
                "the kernel supports neither fd_array_cnt nor BPF_PROG_BIND_MAP: metadata maps \
                 are not bound to the programs"
                    .to_string()
            });
        }
        let fd_array = match kind {
            Binding::FdArray => meta.iter().map(|m| m.fd.as_raw_fd()).collect(),
            _ => Vec::new(),
        };
        Ok(MetadataBinding {
            kind,
            maps: meta,
            fd_array,
        })
    }

    /// What BPF_PROG_LOAD's fd_array holds.
    pub fn fd_array(&self) -> &[RawFd] {
        &self.fd_array
    }

    /// After a program loaded: BPF_PROG_BIND_MAP of each metadata map, where that is the
    /// chosen way.
    pub fn bind_loaded(&self, prog: BorrowedFd<'_>, prog_name: &str) -> Result<()> {
        if self.kind != Binding::BindMap {
            return Ok(());
        }
        for m in &self.maps {
            sys::prog_bind_map(prog, m.fd.as_fd(), 0).map_err(|e| {
                with_context(
                    e,
                    format!("binding map '{}' to program '{prog_name}'", m.spec.name),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(fd_array_cnt: bool, prog_bind_map: bool) -> Features {
        Features {
            fd_array_cnt,
            prog_bind_map,
            ..Features::default()
        }
    }

    #[test]
    fn the_binding_follows_the_kernel_and_the_options() {
        let opts = LoadOptions::default();
        let new = features(true, true);
        let old = features(false, true);
        let ancient = features(false, false);
        assert_eq!(decide(false, None, &opts), Binding::NoMetadata);
        assert_eq!(decide(true, Some(&new), &opts), Binding::FdArray);
        assert_eq!(decide(true, Some(&old), &opts), Binding::BindMap);
        assert_eq!(decide(true, Some(&ancient), &opts), Binding::Unbound);
        let no_fd_array = LoadOptions {
            no_fd_array: true,
            ..LoadOptions::default()
        };
        assert_eq!(decide(true, Some(&new), &no_fd_array), Binding::BindMap);
        let none = LoadOptions {
            no_bind_map: true,
            ..LoadOptions::default()
        };
        assert_eq!(decide(true, Some(&new), &none), Binding::Unbound);
    }
}
