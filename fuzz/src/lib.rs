//! The input framings the fuzz targets share with the seed generator: several blobs in one
//! input, each but the last prefixed by its length (u32, little-endian).

/// Splits `n` length-prefixed parts off `data`; the rest is the last part. None when the
/// input is too short for its prefixes.
pub fn split<const N: usize>(mut data: &[u8]) -> Option<([&[u8]; N], &[u8])> {
    let mut parts = [&[][..]; N];
    for p in &mut parts {
        let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
        data = &data[4..];
        let take = len.min(data.len());
        *p = &data[..take];
        data = &data[take..];
    }
    Some((parts, data))
}

/// The inverse of `split`.
pub fn join(parts: &[&[u8]], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend((p.len() as u32).to_le_bytes());
        out.extend(*p);
    }
    out.extend(rest);
    out
}

/// A little-endian u32 at the start of `data` (missing bytes are 0), and what follows.
pub fn take_u32(data: &[u8]) -> (u32, &[u8]) {
    let mut b = [0u8; 4];
    let n = data.len().min(4);
    b[..n].copy_from_slice(&data[..n]);
    (u32::from_le_bytes(b), &data[n..])
}

/// A CO-RE record for `core_resolve`: type_id, kind, one more candidate id (0: none),
/// then the access string.
pub fn core_record(type_id: u32, kind: u32, extra_cand: u32, access: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [type_id, kind, extra_cand] {
        out.extend(v.to_le_bytes());
    }
    out.extend(access.as_bytes());
    out
}
