//! Placeholder: see lib.rs.
