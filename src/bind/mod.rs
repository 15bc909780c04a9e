//! bind (in progress).
