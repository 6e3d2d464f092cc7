//! The HTTP client (being written).
