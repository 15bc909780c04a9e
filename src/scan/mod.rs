//! scan (in progress).
