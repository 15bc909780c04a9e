//! sys (in progress).
