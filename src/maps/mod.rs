//! Map contents as bytes: a map's shape and BTF types as the kernel reports them, element
//! reads and walks that survive concurrent deletion, batch commands with a fallback to one
//! element at a time where a map type has none. Typed values are py/'s business.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

pub mod format;

use crate::btf::Btf;
use crate::error::{Error, Result};
use crate::sys::{self, info, mapops, IdKind};

pub const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
pub const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
pub const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;
pub const BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: u32 = 21;
pub const BPF_MAP_TYPE_QUEUE: u32 = 22;
pub const BPF_MAP_TYPE_STACK: u32 = 23;

/// A map's shape and, where it has BTF, the types of its keys and values.
#[derive(Debug, Clone)]
pub struct MapView {
    pub map_type: u32,
    pub key_size: usize,
    pub value_size: usize,
    pub max_entries: u32,
    /// CPUs a per-CPU map holds a value for (the possible CPUs); 1 for other maps.
    pub ncpus: usize,
    pub btf: Option<Arc<Btf>>,
    pub key_type: u32,
    pub value_type: u32,
}

pub fn is_percpu(map_type: u32) -> bool {
    matches!(
        map_type,
        BPF_MAP_TYPE_PERCPU_HASH
            | BPF_MAP_TYPE_PERCPU_ARRAY
            | BPF_MAP_TYPE_LRU_PERCPU_HASH
            | BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE
    )
}

impl MapView {
    /// The map's info and BTF, read from the kernel (the map's BTF object by id). BTF the
    /// kernel accepted but this crate cannot parse leaves the map untyped.
    pub fn read(fd: BorrowedFd<'_>) -> Result<MapView> {
        let mi = info::map_info(fd)?;
        let ncpus = if is_percpu(mi.map_type) {
            sys::possible_cpus()? as usize
        } else {
            1
        };
        let mut btf = None;
        if mi.btf_id != 0 && mi.btf_vmlinux_value_type_id == 0 {
            if let Some(bfd) = sys::fd_by_id(IdKind::Btf, mi.btf_id)? {
                let data = info::btf_data(bfd.as_fd())?;
                btf = Btf::parse(&data).ok().map(Arc::new);
            }
        }
        Ok(MapView {
            map_type: mi.map_type,
            key_size: mi.key_size as usize,
            value_size: mi.value_size as usize,
            max_entries: mi.max_entries,
            ncpus,
            key_type: if btf.is_some() { mi.btf_key_type_id } else { 0 },
            value_type: if btf.is_some() {
                mi.btf_value_type_id
            } else {
                0
            },
            btf,
        })
    }

    /// Bytes between two CPUs' values: the kernel rounds a per-CPU value up to 8.
    pub fn stride(&self) -> usize {
        if self.ncpus > 1 || is_percpu(self.map_type) {
            self.value_size.div_ceil(8) * 8
        } else {
            self.value_size
        }
    }

    /// The bytes a lookup fills: one value, or one slot per possible CPU.
    pub fn value_len(&self) -> usize {
        if is_percpu(self.map_type) {
            self.stride() * self.ncpus
        } else {
            self.value_size
        }
    }

    pub fn is_queue(&self) -> bool {
        matches!(self.map_type, BPF_MAP_TYPE_QUEUE | BPF_MAP_TYPE_STACK)
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() != self.key_size {
            return Err(Error::Invalid(format!(
                "key must be {} bytes, got {}",
                self.key_size,
                key.len()
            )));
        }
        Ok(())
    }

    pub fn lookup(&self, fd: BorrowedFd<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let mut value = vec![0u8; self.value_len()];
        Ok(mapops::lookup(fd, key, &mut value, 0)?.then_some(value))
    }

    pub fn update(&self, fd: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.check_key(key)?;
        if value.len() != self.value_len() {
            return Err(Error::Invalid(format!(
                "value must be {} bytes, got {}",
                self.value_len(),
                value.len()
            )));
        }
        mapops::update(fd, key, value, flags)
    }

    pub fn delete(&self, fd: BorrowedFd<'_>, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        mapops::delete(fd, key)
    }

    /// Pushes onto a queue or stack; BPF_EXIST (2) drops the oldest when it is full.
    pub fn push(&self, fd: BorrowedFd<'_>, value: &[u8], flags: u64) -> Result<()> {
        self.need_queue("push")?;
        if value.len() != self.value_size {
            return Err(Error::Invalid(format!(
                "value must be {} bytes, got {}",
                self.value_size,
                value.len()
            )));
        }
        mapops::update(fd, &[], value, flags)
    }

    /// The head of a queue or stack, removed (`pop`) or left in place (peek).
    pub fn pop(&self, fd: BorrowedFd<'_>, remove: bool) -> Result<Option<Vec<u8>>> {
        self.need_queue(if remove { "pop" } else { "peek" })?;
        let mut value = vec![0u8; self.value_size];
        let found = if remove {
            mapops::lookup_and_delete(fd, &mut value)?
        } else {
            mapops::lookup(fd, &[], &mut value, 0)?
        };
        Ok(found.then_some(value))
    }

    fn need_queue(&self, what: &str) -> Result<()> {
        if self.is_queue() {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{what} needs a queue or stack map, not map type {}",
                self.map_type
            )))
        }
    }

    /// Stores every (key, value) pair: BPF_MAP_UPDATE_BATCH, or one update per element
    /// where the map type has no batch commands. Returns how many were stored.
    pub fn update_many(
        &self,
        fd: BorrowedFd<'_>,
        pairs: &[(Vec<u8>, Vec<u8>)],
        flags: u64,
        batch: bool,
    ) -> Result<usize> {
        for (k, v) in pairs {
            self.check_key(k)?;
            if v.len() != self.value_len() {
                return Err(Error::Invalid(format!(
                    "value must be {} bytes, got {}",
                    self.value_len(),
                    v.len()
                )));
            }
        }
        if pairs.is_empty() {
            return Ok(0);
        }
        if batch {
            let keys: Vec<u8> = pairs.iter().flat_map(|(k, _)| k.iter().copied()).collect();
            let vals: Vec<u8> = pairs.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            match mapops::update_batch(fd, &keys, &vals, pairs.len(), flags) {
                Ok(()) => return Ok(pairs.len()),
                // Refused as a command (the kernel left the count as given, or zeroed it).
                Err((n, e)) if untouched(n, pairs.len()) && mapops::batch_unsupported(&e) => {}
                Err((_, e)) => return Err(e),
            }
        }
        for (k, v) in pairs {
            mapops::update(fd, k, v, flags)?;
        }
        Ok(pairs.len())
    }

    /// Deletes every key: BPF_MAP_DELETE_BATCH, or one by one. Returns how many existed
    /// (one by one) or were deleted (batch, which fails with ENOENT on a missing key).
    pub fn delete_many(&self, fd: BorrowedFd<'_>, keys: &[Vec<u8>], batch: bool) -> Result<usize> {
        for k in keys {
            self.check_key(k)?;
        }
        if keys.is_empty() {
            return Ok(0);
        }
        if batch {
            let flat: Vec<u8> = keys.iter().flat_map(|k| k.iter().copied()).collect();
            match mapops::delete_batch(fd, &flat, keys.len()) {
                Ok(()) => return Ok(keys.len()),
                Err((n, e)) if untouched(n, keys.len()) && mapops::batch_unsupported(&e) => {}
                Err((_, e)) => return Err(e),
            }
        }
        let mut n = 0;
        for k in keys {
            n += usize::from(mapops::delete(fd, k)?);
        }
        Ok(n)
    }
}

/// Whether a failed batch command's count says it stored or deleted nothing: a map type
/// without batch commands leaves the count as it was given (or the kernel zeroes it).
fn untouched(count: usize, given: usize) -> bool {
    count == 0 || count == given
}

/// Where a walk over a map's elements stands.
enum Walk {
    /// Batch lookups: the kernel's position token (None before the first batch).
    Batch {
        token: Option<Vec<u8>>,
    },
    /// GET_NEXT_KEY: the last key handed out, and every key handed out so far, so that
    /// a restart from the first key (the kernel's answer when the last key was deleted)
    /// yields no key twice.
    Keys {
        last: Option<Vec<u8>>,
        seen: HashSet<Vec<u8>>,
    },
    Done,
}

/// A walk over a map's (key, value) pairs, a chunk at a time.
pub struct Cursor {
    view: MapView,
    walk: Walk,
    /// Values too: false walks keys only.
    values: bool,
    /// Whether the elements come from batch lookups (false once the walk fell back).
    batched: bool,
}

/// Elements of a walk, keys and values each in one flat buffer (no allocation per
/// element): what the Python objects are made from.
#[derive(Debug, Default)]
pub struct Chunk {
    pub keys: Vec<u8>,
    pub values: Vec<u8>,
    pub key_size: usize,
    /// Bytes per value; 0 for a walk of keys.
    pub value_len: usize,
    pub len: usize,
}

impl Chunk {
    fn new(key_size: usize, value_len: usize) -> Chunk {
        Chunk {
            key_size,
            value_len,
            ..Default::default()
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn key(&self, i: usize) -> &[u8] {
        &self.keys[i * self.key_size..(i + 1) * self.key_size]
    }
    pub fn value(&self, i: usize) -> &[u8] {
        &self.values[i * self.value_len..(i + 1) * self.value_len]
    }
    fn push(&mut self, key: &[u8], value: &[u8]) {
        self.keys.extend_from_slice(key);
        self.values.extend_from_slice(value);
        self.len += 1;
    }
}

/// The most elements one batch command asks for; the buffers are sized for this many.
const MAX_CHUNK: usize = 1 << 16;

impl Cursor {
    /// A walk with batch lookups where `batch` (falling back to keys when the map type
    /// has no batch commands), else with GET_NEXT_KEY and one lookup per key.
    pub fn new(view: MapView, batch: bool, values: bool) -> Result<Cursor> {
        if view.is_queue() {
            return Err(Error::Invalid(
                "a queue or stack has no keys: pop() or peek() its values".into(),
            ));
        }
        let walk = if batch && values {
            Walk::Batch { token: None }
        } else {
            Walk::Keys {
                last: None,
                seen: HashSet::new(),
            }
        };
        let batched = matches!(walk, Walk::Batch { .. });
        Ok(Cursor {
            view,
            walk,
            values,
            batched,
        })
    }

    pub fn view(&self) -> &MapView {
        &self.view
    }

    /// Whether the walk uses batch lookups (still, after its first chunk).
    pub fn batched(&self) -> bool {
        self.batched
    }

    /// Up to `n` more pairs (no values for a walk of keys); empty at the end.
    pub fn next_chunk(&mut self, fd: BorrowedFd<'_>, n: usize) -> Result<Chunk> {
        let n = n.clamp(1, MAX_CHUNK);
        loop {
            let token = match &self.walk {
                Walk::Done => return Ok(Chunk::new(self.view.key_size, 0)),
                Walk::Keys { .. } => return self.key_chunk(fd, n),
                Walk::Batch { token } => token.clone(),
            };
            let first = token.is_none();
            match self.batch_chunk(fd, token, n) {
                Ok(out) => return Ok(out),
                Err(e) if first && mapops::batch_unsupported(&e) => {
                    self.batched = false;
                    self.walk = Walk::Keys {
                        last: None,
                        seen: HashSet::new(),
                    };
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn batch_chunk(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Option<Vec<u8>>,
        n: usize,
    ) -> Result<Chunk> {
        let ks = self.view.key_size;
        let vs = self.view.value_len();
        let mut want = n;
        loop {
            let mut out_token = vec![0u8; ks.max(8)];
            let mut keys = vec![0u8; ks * want];
            let mut vals = vec![0u8; vs * want];
            let r = mapops::lookup_batch(
                fd,
                false,
                token.as_deref(),
                &mut out_token,
                &mut keys,
                &mut vals,
                want,
            );
            let b = match r {
                // A hash bucket holds more elements than asked for: ask for more.
                Err(e) if e.errno() == Some(libc::ENOSPC) && want < MAX_CHUNK => {
                    want = (want * 2).min(MAX_CHUNK);
                    continue;
                }
                r => r?,
            };
            let count = b.count.min(want);
            keys.truncate(count * ks);
            vals.truncate(count * vs);
            self.walk = if b.done {
                Walk::Done
            } else {
                Walk::Batch {
                    token: Some(out_token),
                }
            };
            return Ok(Chunk {
                keys,
                values: vals,
                key_size: ks,
                value_len: vs,
                len: count,
            });
        }
    }

    fn key_chunk(&mut self, fd: BorrowedFd<'_>, n: usize) -> Result<Chunk> {
        let view = &self.view;
        let values = self.values;
        let mut out = Chunk::new(view.key_size, if values { view.value_len() } else { 0 });
        let Walk::Keys { last, seen } = &mut self.walk else {
            return Ok(out);
        };
        let mut next = vec![0u8; view.key_size];
        // Bounds the steps over keys already handed out after restarts, so that a map
        // rewritten faster than it is walked still ends.
        let mut revisits = 0usize;
        let limit = (view.max_entries as usize).saturating_mul(4).max(1024);
        let mut done = false;
        while out.len < n {
            if !mapops::next_key(fd, last.as_deref(), &mut next)? {
                done = true;
                break;
            }
            *last = Some(next.clone());
            if seen.contains(&next) {
                revisits += 1;
                if revisits > limit {
                    done = true;
                    break;
                }
                continue;
            }
            seen.insert(next.clone());
            if !values {
                out.push(&next, &[]);
                continue;
            }
            // Deleted between GET_NEXT_KEY and the lookup: skip it; the next step from
            // it restarts at the first key, which `seen` turns into progress.
            if let Some(v) = view.lookup(fd, &next)? {
                out.push(&next, &v);
            }
        }
        if done {
            self.walk = Walk::Done;
        }
        Ok(out)
    }
}
